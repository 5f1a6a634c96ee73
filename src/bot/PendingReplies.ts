/**
 * The job → Discord map, in Redis: for every job the bot queued, where its status message is (guild, channel,
 * message id), who asked and who contributed, the interaction token that may still edit it and until when,
 * and what was delivered. Written *before* the job is submitted, so even a job that finishes in milliseconds
 * finds its entry; read by progress edits, result delivery and the buttons, from any bot process.
 *
 * Key: `<prefix>:bot:job:<jobId>` (a hash). Interaction tokens are kept here and nowhere else: they never go
 * into the job itself (the worker and `jobs list` never see them).
 */
import type { Redis } from 'ioredis';
import type { JobKind, JobPrompt, JobRenderSettings } from '../jobs/index.ts';

export interface PendingReply {
  jobId: string;
  kind: JobKind;
  guildId: string;
  channelId: string;
  requesterId: string;
  /** Everyone who wrote a prompt, requester first when they did; unique. */
  contributors: string[];
  prompts: JobPrompt[];
  /** The settings as submitted (seed included), for the embed and for Reroll. */
  settings: Partial<JobRenderSettings> & { seed: number };
  maxBytes: number;
  applicationId: string;
  /** The interaction whose response shows this job; absent once nothing can edit it that way. */
  interactionToken?: string;
  /** Epoch ms after which the token must not be used. */
  tokenExpiresAt: number;
  /** The status message (the interaction's original response), once known. */
  messageId?: string;
  /** Board the job came from. */
  boardId?: string;
  createdAt: number;
  /** Set when the result has been posted (or given up: `via: 'undeliverable'`, with Discord's error code). */
  delivered?: { channelId: string; messageId: string; at: number; via: 'interaction' | 'channel' | 'undeliverable'; withoutFile?: boolean; code?: number };
  /** Who pressed Cancel / ran /cancel. */
  cancelledBy?: string;
}

const PENDING_TTL_S = 8 * 24 * 3600;
/** Results stay manageable (Delete) this long. */
const DELIVERED_TTL_S = 30 * 24 * 3600;

export class PendingReplies {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  key(jobId: string): string {
    return `${this.prefix}:bot:job:${jobId}`;
  }

  async put(reply: PendingReply): Promise<void> {
    const key = this.key(reply.jobId);
    await this.redis.multi().del(key).hset(key, encode(reply)).expire(key, PENDING_TTL_S).exec();
  }

  async get(jobId: string): Promise<PendingReply | undefined> {
    const fields = await this.redis.hgetall(this.key(jobId));
    return decode(fields);
  }

  async setMessageId(jobId: string, messageId: string): Promise<void> {
    // HSET on a missing key would resurrect a dropped entry without its data; only touch existing ones.
    const key = this.key(jobId);
    if ((await this.redis.exists(key)) === 1) await this.redis.hset(key, 'messageId', messageId);
  }

  async setCancelledBy(jobId: string, userId: string): Promise<void> {
    const key = this.key(jobId);
    if ((await this.redis.exists(key)) === 1) await this.redis.hset(key, 'cancelledBy', userId);
  }

  /** Forgets the token (it expired or was rejected), so nothing tries it again. */
  async dropToken(jobId: string): Promise<void> {
    await this.redis.hdel(this.key(jobId), 'interactionToken');
  }

  async markDelivered(jobId: string, delivered: NonNullable<PendingReply['delivered']>): Promise<void> {
    const key = this.key(jobId);
    await this.redis.multi().hset(key, 'delivered', JSON.stringify(delivered)).expire(key, DELIVERED_TTL_S).exec();
  }

  async remove(jobId: string): Promise<void> {
    await this.redis.del(this.key(jobId));
  }

  /** Whether the bot queued this job (operator jobs from the CLI have no entry). */
  async isOurs(jobId: string): Promise<boolean> {
    return (await this.redis.exists(this.key(jobId))) === 1;
  }
}

function encode(reply: PendingReply): Record<string, string> {
  const fields: Record<string, string> = {
    jobId: reply.jobId,
    kind: reply.kind,
    guildId: reply.guildId,
    channelId: reply.channelId,
    requesterId: reply.requesterId,
    contributors: JSON.stringify(reply.contributors),
    prompts: JSON.stringify(reply.prompts),
    settings: JSON.stringify(reply.settings),
    maxBytes: String(reply.maxBytes),
    applicationId: reply.applicationId,
    tokenExpiresAt: String(reply.tokenExpiresAt),
    createdAt: String(reply.createdAt),
  };
  if (reply.interactionToken) fields['interactionToken'] = reply.interactionToken;
  if (reply.messageId) fields['messageId'] = reply.messageId;
  if (reply.boardId) fields['boardId'] = reply.boardId;
  if (reply.delivered) fields['delivered'] = JSON.stringify(reply.delivered);
  if (reply.cancelledBy) fields['cancelledBy'] = reply.cancelledBy;
  return fields;
}

function decode(fields: Record<string, string>): PendingReply | undefined {
  if (!fields['jobId'] || !fields['kind']) return undefined;
  try {
    const reply: PendingReply = {
      jobId: fields['jobId'],
      kind: fields['kind'] as JobKind,
      guildId: fields['guildId'] ?? '',
      channelId: fields['channelId'] ?? '',
      requesterId: fields['requesterId'] ?? '',
      contributors: JSON.parse(fields['contributors'] ?? '[]') as string[],
      prompts: JSON.parse(fields['prompts'] ?? '[]') as JobPrompt[],
      settings: JSON.parse(fields['settings'] ?? '{"seed":0}') as PendingReply['settings'],
      maxBytes: Number(fields['maxBytes'] ?? 0),
      applicationId: fields['applicationId'] ?? '',
      tokenExpiresAt: Number(fields['tokenExpiresAt'] ?? 0),
      createdAt: Number(fields['createdAt'] ?? 0),
    };
    if (fields['interactionToken']) reply.interactionToken = fields['interactionToken'];
    if (fields['messageId']) reply.messageId = fields['messageId'];
    if (fields['boardId']) reply.boardId = fields['boardId'];
    if (fields['delivered']) reply.delivered = JSON.parse(fields['delivered']) as PendingReply['delivered'];
    if (fields['cancelledBy']) reply.cancelledBy = fields['cancelledBy'];
    return reply;
  } catch {
    return undefined;
  }
}
