/**
 * Button and modal custom ids. They carry everything a click needs (action + job or board id), so buttons
 * keep working after a restart without any in-memory registry; the state they point at is in Redis.
 *
 * Format: `lw:<action>:<id>:<sig>` (at most 100 characters, Discord's limit). `sig` is a truncated
 * HMAC-SHA256 of the rest, keyed by a secret derived from the bot token, so an id that was edited by a
 * modified client (another job's id, another action) is recognised and answered with an ephemeral error
 * instead of being acted on. The id itself is still checked against Redis (and permissions) afterwards.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export const CUSTOM_ID_ACTIONS = [
  /** Cancel a queued or rendering job (requester, contributors, Manage Messages). */
  'cancel',
  /** Delete a posted result. */
  'delete',
  /** Render the same prompts again with a new seed. */
  'reroll',
  /** Board: open the modal to add a prompt. */
  'add',
  /** Board: the modal itself. */
  'fill',
  /** Board: the starter cancels it. */
  'bcancel',
  /** Board: queue a complete board whose first submit was refused. */
  'bretry',
] as const;
export type CustomIdAction = (typeof CUSTOM_ID_ACTIONS)[number];

export interface ParsedCustomId {
  action: CustomIdAction;
  id: string;
}

const ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
const FORMAT = /^lw:([a-z]{2,10}):([A-Za-z0-9_.-]{1,64}):([A-Za-z0-9_-]{16})$/;

export class CustomIds {
  private readonly key: Buffer;

  /** `secret`: the bot token (only a hash of it is kept). */
  constructor(secret: string) {
    this.key = createHash('sha256').update('latentwalk custom ids\0').update(secret).digest();
  }

  make(action: CustomIdAction, id: string): string {
    if (!ID_PATTERN.test(id)) throw new Error(`custom id target must match ${ID_PATTERN}, got ${JSON.stringify(id)}`);
    const body = `lw:${action}:${id}`;
    return `${body}:${this.sign(body)}`;
  }

  /** Undefined for anything this bot did not make: unknown shape, unknown action, or a bad signature. */
  parse(customId: string): ParsedCustomId | undefined {
    const match = FORMAT.exec(customId);
    if (!match) return undefined;
    const [, action, id, sig] = match as unknown as [string, string, string, string];
    if (!(CUSTOM_ID_ACTIONS as readonly string[]).includes(action)) return undefined;
    const expected = Buffer.from(this.sign(`lw:${action}:${id}`));
    const given = Buffer.from(sig);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) return undefined;
    return { action: action as CustomIdAction, id };
  }

  private sign(body: string): string {
    return createHmac('sha256', this.key).update(body).digest('base64url').slice(0, 16);
  }
}
