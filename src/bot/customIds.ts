/**
 * Button and modal custom ids. They carry everything a click needs (action + job or board id), so buttons
 * keep working after a restart without any in-memory registry; the state they point at is in Redis.
 *
 * Format: `lw:<action>:<id>:<sig>` (at most 100 characters, Discord's limit). `sig` is a truncated
 * HMAC-SHA256 of the rest, so an id that was edited by a modified client (another job's id, another action)
 * is recognised and answered with an ephemeral error instead of being acted on. The id itself is still
 * checked against Redis (and permissions) afterwards.
 *
 * The signing secret is the operator's LATENTWALK_BUTTON_SECRET, or else a random one made once and kept in
 * Redis (`<prefix>:bot:button-secret`): never the bot token, so resetting the token (what to do after a leak)
 * leaves every posted button working. Ids signed by earlier versions with the token itself still answer while
 * that token is in use.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Redis } from 'ioredis';

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
  /** Chain: open the modal to add, change or take out one's stop. */
  'cadd',
  /** Chain: the modal itself. */
  'cfill',
  /** Chain: the starter moves a stop up (target `<board id>.<stop index>`). */
  'cmove',
  /** Chain: the starter closes it and it renders. */
  'cclose',
  /** "Morph from this image": the modal asking for the prompts (id: `<messageId>.<attachmentId>`). */
  'imgmorph',
] as const;
export type CustomIdAction = (typeof CUSTOM_ID_ACTIONS)[number];

export interface ParsedCustomId {
  action: CustomIdAction;
  id: string;
}

const ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
const FORMAT = /^lw:([a-z]{2,10}):([A-Za-z0-9_.-]{1,64}):([A-Za-z0-9_-]{16})$/;

export class CustomIds {
  private readonly keys: Buffer[];

  /**
   * `secret` signs new ids; ids signed with any of `alsoAccept` still parse (older secrets). Only hashes of
   * the secrets are kept.
   */
  constructor(secret: string, alsoAccept: readonly string[] = []) {
    this.keys = [secret, ...alsoAccept].map((s) => createHash('sha256').update('latentwalk custom ids\0').update(s).digest());
  }

  /**
   * The deployment's ids: signed with `configured` (LATENTWALK_BUTTON_SECRET) or the secret kept in Redis
   * (made on first use, shared by every bot process), accepting ids the bot token signed before.
   */
  static async forDeployment(redis: Redis, prefix: string, options: { configured: string | undefined; token: string }): Promise<CustomIds> {
    let secret = options.configured;
    if (secret === undefined) {
      const key = `${prefix}:bot:button-secret`;
      await redis.set(key, randomBytes(32).toString('base64url'), 'NX');
      secret = (await redis.get(key)) ?? undefined;
      if (!secret) throw new Error(`the button secret could not be read back from Redis (${key})`);
    }
    return new CustomIds(secret, [options.token]);
  }

  make(action: CustomIdAction, id: string): string {
    if (!ID_PATTERN.test(id)) throw new Error(`custom id target must match ${ID_PATTERN}, got ${JSON.stringify(id)}`);
    const body = `lw:${action}:${id}`;
    return `${body}:${this.sign(body, this.keys[0]!)}`;
  }

  /** Undefined for anything this bot did not make: unknown shape, unknown action, or a bad signature. */
  parse(customId: string): ParsedCustomId | undefined {
    const match = FORMAT.exec(customId);
    if (!match) return undefined;
    const [, action, id, sig] = match as unknown as [string, string, string, string];
    if (!(CUSTOM_ID_ACTIONS as readonly string[]).includes(action)) return undefined;
    const given = Buffer.from(sig);
    const signedByUs = this.keys.some((key) => {
      const expected = Buffer.from(this.sign(`lw:${action}:${id}`, key));
      return expected.length === given.length && timingSafeEqual(expected, given);
    });
    return signedByUs ? { action: action as CustomIdAction, id } : undefined;
  }

  private sign(body: string, key: Buffer): string {
    return createHmac('sha256', key).update(body).digest('base64url').slice(0, 16);
  }
}
