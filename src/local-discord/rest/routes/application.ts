/**
 * Gateway discovery, the bot's own user and application, and application commands (global and per guild),
 * stored so the playground can offer the registered commands with their option hints.
 */
import { Errors, invalidFormBody } from '../../errors.ts';
import { wireApplication, wireUser } from '../../payloads.ts';
import type { RegisteredCommand } from '../../types.ts';
import { commandProblems, type Json } from '../../validate.ts';
import type { RestContext } from '../context.ts';
import { noContent, ok, type Route, type RouteRequest } from '../router.ts';

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

export function applicationRoutes(ctx: RestContext): Route[] {
  const { store } = ctx;

  const scopeOf = (req: RouteRequest): string | null => {
    if (req.params.applicationId !== ctx.applicationId) throw Errors.unknownApplication();
    const guildId = req.params.guildId ?? null;
    if (guildId !== null && !store.guilds.has(guildId)) throw Errors.missingAccess();
    return guildId;
  };

  const toCommand = (body: Json, guildId: string | null, previous?: RegisteredCommand): RegisteredCommand => {
    const { id: _id, application_id: _app, version: _version, guild_id: _guild, ...fields } = body;
    return {
      ...fields,
      id: previous?.id ?? ctx.ids.next(),
      application_id: ctx.applicationId,
      version: ctx.ids.next(),
      type: typeof body.type === 'number' ? body.type : 1,
      name: String(body.name),
      description: typeof body.description === 'string' ? body.description : '',
      ...(Array.isArray(body.options) ? { options: body.options } : {}),
      default_member_permissions: typeof body.default_member_permissions === 'string' ? body.default_member_permissions : null,
      nsfw: body.nsfw === true,
      contexts: Array.isArray(body.contexts) ? (body.contexts as number[]) : null,
      integration_types: Array.isArray(body.integration_types) ? (body.integration_types as number[]) : [0],
      ...(guildId ? { guild_id: guildId } : {}),
    };
  };

  const list = (req: RouteRequest) => ok([...store.commandScope(scopeOf(req)).values()]);

  const overwrite = (req: RouteRequest) => {
    const guildId = scopeOf(req);
    const body = req.body.json;
    if (!Array.isArray(body)) throw invalidFormBody([{ path: '_', code: 'BASE_TYPE_LIST', message: 'Must be a list.' }]);
    if (body.length > 100) throw invalidFormBody([{ path: '_', code: 'BASE_TYPE_MAX_LENGTH', message: 'Must be 100 or fewer in length.' }]);
    const problems = body.flatMap((c, i) => commandProblems(c, String(i)));
    const keys = body.map((c: Json) => `${String(c.type ?? 1)}:${String(c.name)}`);
    keys.forEach((k, i) => {
      if (keys.indexOf(k) !== i) problems.push({ path: `${i}.name`, code: 'APPLICATION_COMMANDS_DUPLICATE_NAME', message: 'Application command names must be unique' });
    });
    if (problems.length) throw invalidFormBody(problems);
    const scope = store.commandScope(guildId);
    const previous = [...scope.values()];
    // Bulk overwrite keeps the id of a command that keeps its name and type; the rest are new or gone.
    const next = (body as Json[]).map((c) =>
      toCommand(c, guildId, previous.find((p) => p.name === c.name && p.type === (c.type ?? 1))),
    );
    scope.clear();
    for (const c of next) scope.set(c.id, c);
    ctx.commandsChanged(guildId);
    return ok(next);
  };

  const create = (req: RouteRequest) => {
    const guildId = scopeOf(req);
    const body = req.body.json;
    const problems = commandProblems(body, '_');
    if (problems.length || !isObject(body)) throw invalidFormBody(problems);
    const scope = store.commandScope(guildId);
    const previous = [...scope.values()].find((p) => p.name === body.name && p.type === (body.type ?? 1));
    const command = toCommand(body, guildId, previous);
    scope.set(command.id, command);
    ctx.commandsChanged(guildId);
    return { status: previous ? 200 : 201, json: command };
  };

  const one = (req: RouteRequest) => {
    const command = store.commandScope(scopeOf(req)).get(req.params.commandId ?? '');
    if (!command) throw Errors.unknownCommand();
    return command;
  };

  const edit = (req: RouteRequest) => {
    const guildId = scopeOf(req);
    const current = one(req);
    const body = isObject(req.body.json) ? req.body.json : {};
    const merged = { ...current, ...body };
    const problems = commandProblems(merged, '_');
    if (problems.length) throw invalidFormBody(problems);
    const command = toCommand(merged, guildId, current);
    store.commandScope(guildId).set(command.id, command);
    ctx.commandsChanged(guildId);
    return ok(command);
  };

  const remove = (req: RouteRequest) => {
    const guildId = scopeOf(req);
    store.commandScope(guildId).delete(one(req).id);
    ctx.commandsChanged(guildId);
    return noContent();
  };

  const commandRoutes = (base: string): Route[] => [
    { method: 'GET', pattern: base, auth: true, handle: list },
    { method: 'PUT', pattern: base, auth: true, handle: overwrite },
    { method: 'POST', pattern: base, auth: true, handle: create },
    { method: 'GET', pattern: `${base}/:commandId`, auth: true, handle: (req) => ok(one(req)) },
    { method: 'PATCH', pattern: `${base}/:commandId`, auth: true, handle: edit },
    { method: 'DELETE', pattern: `${base}/:commandId`, auth: true, handle: remove },
  ];

  const application = () => ok(wireApplication(store, ctx.applicationId));
  return [
    { method: 'GET', pattern: '/gateway', auth: false, handle: () => ok({ url: ctx.gatewayUrl() }) },
    {
      method: 'GET',
      pattern: '/gateway/bot',
      auth: true,
      handle: () => {
        const { shards, maxConcurrency } = ctx.gatewayBot();
        return ok({
          url: ctx.gatewayUrl(),
          shards,
          session_start_limit: { total: 1000, remaining: 999, reset_after: 14_400_000, max_concurrency: maxConcurrency },
        });
      },
    },
    { method: 'GET', pattern: '/users/@me', auth: true, handle: () => ok(wireUser(store.users.get(store.botUserId)!)) },
    {
      method: 'GET',
      pattern: '/users/:userId',
      auth: true,
      handle: (req) => {
        const user = store.users.get(req.params.userId ?? '');
        if (!user) throw Errors.unknownUser();
        return ok(wireUser(user));
      },
    },
    { method: 'GET', pattern: '/applications/@me', auth: true, handle: application },
    { method: 'GET', pattern: '/oauth2/applications/@me', auth: true, handle: application },
    ...commandRoutes('/applications/:applicationId/commands'),
    ...commandRoutes('/applications/:applicationId/guilds/:guildId/commands'),
  ];
}
