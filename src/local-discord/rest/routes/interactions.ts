/**
 * Interaction routes: the initial callback, then the interaction webhook (edit/fetch/delete the original
 * response or a follow-up, send follow-ups). These carry no Authorization header; the token is the key.
 */
import type { Json } from '../../validate.ts';
import type { RestContext } from '../context.ts';
import { noContent, ok, type Route, type RouteRequest } from '../router.ts';

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

export function interactionRoutes(ctx: RestContext): Route[] {
  const { responder } = ctx;
  const input = (req: RouteRequest) => ({ body: isObject(req.body.json) ? req.body.json : {}, files: req.body.files });
  const p = (req: RouteRequest, key: string) => req.params[key] ?? '';
  const webhookMessage = '/webhooks/:applicationId/:token/messages/:messageId';
  return [
    {
      method: 'POST',
      pattern: '/interactions/:interactionId/:token/callback',
      auth: false,
      handle: (req) => {
        const response = responder.callback(p(req, 'interactionId'), p(req, 'token'), input(req));
        return req.query.get('with_response') === 'true' ? ok(response) : noContent();
      },
    },
    {
      method: 'GET',
      pattern: webhookMessage,
      auth: false,
      handle: (req) => ok(responder.fetch(p(req, 'applicationId'), p(req, 'token'), p(req, 'messageId')).data),
    },
    {
      method: 'PATCH',
      pattern: webhookMessage,
      auth: false,
      handle: (req) => ok(responder.edit(p(req, 'applicationId'), p(req, 'token'), p(req, 'messageId'), input(req)).data),
    },
    {
      method: 'DELETE',
      pattern: webhookMessage,
      auth: false,
      handle: (req) => {
        responder.delete(p(req, 'applicationId'), p(req, 'token'), p(req, 'messageId'));
        return noContent();
      },
    },
    {
      method: 'POST',
      pattern: '/webhooks/:applicationId/:token',
      auth: false,
      handle: (req) => {
        const message = responder.followUp(p(req, 'applicationId'), p(req, 'token'), input(req));
        // Without wait=true Discord answers 204 and the caller never learns the message.
        return req.query.get('wait') === 'true' ? ok(message.data) : noContent();
      },
    },
  ];
}
