/**
 * Puts a job's views on Discord: status edits (queued, progress) and the one final post.
 *
 * - Edits of one job's message are serialised (one chain per job), and once the final post has started, status
 *   edits still waiting are dropped: a slow progress edit can never land on top of the result.
 * - Status edits only ever use the interaction token, only while it is valid, and never fail anything: a
 *   deleted message or a dead token just ends the status updates for that job.
 * - The final post edits the original response while the token is valid; when it is expired (15 minutes),
 *   rejected (401 / 50027 / 10015) or the message is gone (10008), the result is posted as a new channel
 *   message with the bot token, replying to the original message, and the original is marked as moved.
 *   Errors worth retrying (5xx, network) propagate, so the result stream hands the entry out again.
 */
import { AttachmentBuilder, DiscordAPIError, InteractionWebhook, type Client, type Message, type MessageCreateOptions, type MessageEditOptions } from 'discord.js';
import type { PendingReply } from '../PendingReplies.ts';
import { describeError, type Logger } from '../log.ts';
import type { PendingReplies } from '../PendingReplies.ts';
import { movedView, NO_MENTIONS, type MessageView } from './views.ts';

export interface Delivered {
  via: 'interaction' | 'channel' | 'undeliverable';
  channelId: string;
  messageId: string;
}

/** Discord errors meaning the interaction token can no longer be used. */
const TOKEN_GONE = new Set<number | string>([50027, 10015, 10062]);
const MESSAGE_GONE = new Set<number | string>([10008]);
/** Too old to edit (over an hour), or rate-limited for old messages. */
const EDIT_REFUSED = new Set<number | string>([30046]);
const TOO_LARGE = 40005;

export function isTokenGone(error: unknown): boolean {
  return error instanceof DiscordAPIError && (TOKEN_GONE.has(error.code) || error.status === 401);
}
function isMessageGone(error: unknown): boolean {
  return error instanceof DiscordAPIError && MESSAGE_GONE.has(error.code);
}
function isTooLarge(error: unknown): boolean {
  return error instanceof DiscordAPIError && (error.code === TOO_LARGE || error.status === 413);
}
/** 4xx other than rate limits: retrying the same request cannot help. */
function isPermanent(error: unknown): boolean {
  return error instanceof DiscordAPIError && error.status >= 400 && error.status < 500 && error.status !== 429;
}

export function toDiscordOptions(view: MessageView): MessageEditOptions & { allowedMentions: NonNullable<MessageEditOptions['allowedMentions']> } {
  return {
    content: view.content,
    embeds: view.embeds,
    components: view.components,
    allowedMentions: view.allowedMentions ?? NO_MENTIONS,
    ...(view.files ? { files: view.files.map((f) => new AttachmentBuilder(f.data, { name: f.name })) } : {}),
  };
}

export interface JobMessagesOptions {
  client: Client<true>;
  pending: PendingReplies;
  log: Logger;
  now: () => number;
}

export class JobMessages {
  private readonly chains = new Map<string, Promise<unknown>>();
  /** Jobs whose final post has started (status edits are dropped from then on). */
  private readonly finalised = new Set<string>();
  /** Jobs whose status message cannot be edited any more. */
  private readonly deadStatus = new Set<string>();
  /** The rank of the last status shown per job (queued 0, progress 1): an older kind never replaces a newer one. */
  private readonly shownRank = new Map<string, number>();

  constructor(private readonly options: JobMessagesOptions) {}

  canUseToken(reply: PendingReply): boolean {
    return !!reply.interactionToken && this.options.now() < reply.tokenExpiresAt;
  }

  private chain<T>(jobId: string, task: () => Promise<T>): Promise<T> {
    const previous = this.chains.get(jobId) ?? Promise.resolve();
    const next = previous.then(task, task);
    const settled = next.catch(() => undefined);
    this.chains.set(jobId, settled);
    void settled.then(() => {
      if (this.chains.get(jobId) === settled) this.chains.delete(jobId);
    });
    return next;
  }

  /**
   * Edits the job's status message through its interaction token. Never throws; returns the message id when
   * the edit went through. `view` is built at edit time, so a coalesced edit shows the latest state.
   */
  editStatus(reply: PendingReply, build: () => MessageView | undefined, rank = 0): Promise<string | undefined> {
    const jobId = reply.jobId;
    return this.chain(jobId, async () => {
      if (this.finalised.has(jobId) || this.deadStatus.has(jobId)) return undefined;
      if ((this.shownRank.get(jobId) ?? -1) > rank) return undefined;
      if (!this.canUseToken(reply)) return undefined;
      const view = build();
      if (!view) return undefined;
      try {
        const webhook = new InteractionWebhook(this.options.client, reply.applicationId, reply.interactionToken!);
        const message = await webhook.editMessage('@original', toDiscordOptions(view));
        this.shownRank.set(jobId, rank);
        if (this.shownRank.size > 10_000) this.shownRank.delete(this.shownRank.keys().next().value!);
        return message.id;
      } catch (error) {
        if (isTokenGone(error) || isMessageGone(error) || isPermanent(error)) {
          this.deadStatus.add(jobId);
          if (isTokenGone(error)) await this.options.pending.dropToken(jobId).catch(() => undefined);
        }
        this.options.log.debug('status edit failed (ignored)', { jobId, guildId: reply.guildId, error: describeError(error) });
        return undefined;
      }
    });
  }

  /**
   * Posts the final view: an edit of the original response, or a new channel message when that is no longer
   * possible. `build(late)` makes the view; `late` is true for the channel message (it names the requester).
   */
  postFinal(reply: PendingReply, build: (late: boolean) => MessageView, tooLarge: () => MessageView): Promise<Delivered> {
    const jobId = reply.jobId;
    this.finalised.add(jobId);
    this.shownRank.delete(jobId);
    if (this.finalised.size > 10_000) this.finalised.delete(this.finalised.values().next().value!);
    return this.chain(jobId, async () => {
      let messageGone = false;
      if (this.canUseToken(reply)) {
        const webhook = new InteractionWebhook(this.options.client, reply.applicationId, reply.interactionToken!);
        try {
          const message = await this.withSizeFallback(build(false), tooLarge, (options) => webhook.editMessage('@original', options));
          return { via: 'interaction', channelId: message.channelId, messageId: message.id };
        } catch (error) {
          if (isTokenGone(error)) await this.options.pending.dropToken(jobId).catch(() => undefined);
          else if (isMessageGone(error)) messageGone = true;
          else if (!(error instanceof DiscordAPIError && EDIT_REFUSED.has(error.code))) throw error;
          this.options.log.info('original reply cannot be edited; posting the result in the channel', { jobId, guildId: reply.guildId, error: describeError(error) });
        }
      }
      return this.postInChannel(reply, build(true), tooLarge, messageGone);
    });
  }

  private async postInChannel(reply: PendingReply, view: MessageView, tooLarge: () => MessageView, messageGone: boolean): Promise<Delivered> {
    const { client, log } = this.options;
    const undeliverable: Delivered = { via: 'undeliverable', channelId: reply.channelId, messageId: '' };
    let channel;
    try {
      channel = await client.channels.fetch(reply.channelId);
    } catch (error) {
      if (isPermanent(error)) {
        log.warn('result cannot be posted: channel not reachable', { jobId: reply.jobId, guildId: reply.guildId, error: describeError(error) });
        return undeliverable;
      }
      throw error;
    }
    if (!channel || !channel.isSendable()) {
      log.warn('result cannot be posted: channel is not a text channel', { jobId: reply.jobId, guildId: reply.guildId });
      return undeliverable;
    }
    const reference = reply.messageId && !messageGone ? { reply: { messageReference: reply.messageId, failIfNotExists: false } } : {};
    try {
      const message = await this.withSizeFallback<Message>(view, tooLarge, (options) => {
        const { content, embeds, components, files, attachments } = options;
        return (channel.send as (options: MessageCreateOptions) => Promise<Message>)({
          ...(content !== undefined && content !== null ? { content } : {}),
          ...(embeds ? { embeds } : {}),
          ...(components ? { components } : {}),
          ...(files ? { files } : {}),
          ...(attachments ? { attachments } : {}),
          ...reference,
          // The requester is named so that they notice; nobody else can be pinged.
          allowedMentions: { parse: [], users: [reply.requesterId], repliedUser: false },
        });
      });
      // The original still shows the last progress: point it at the new message (bot token; best effort).
      if (reply.messageId && !messageGone) {
        const moved = toDiscordOptions(movedView(reply));
        await channel.messages.edit(reply.messageId, moved).catch(() => undefined);
      }
      return { via: 'channel', channelId: message.channelId, messageId: message.id };
    } catch (error) {
      if (isPermanent(error)) {
        log.warn('result cannot be posted in the channel', { jobId: reply.jobId, guildId: reply.guildId, error: describeError(error) });
        return undeliverable;
      }
      throw error;
    }
  }

  /** Sends; if Discord says the file is too large, sends the too-large view instead. */
  private async withSizeFallback<T>(view: MessageView, tooLarge: () => MessageView, send: (options: MessageEditOptions) => Promise<T>): Promise<T> {
    try {
      return await send(toDiscordOptions(view));
    } catch (error) {
      if (!isTooLarge(error) || !view.files) throw error;
      return send({ ...toDiscordOptions(tooLarge()), attachments: [] });
    }
  }

  /** Deletes the status message through the token (best effort), e.g. when the submit was refused. */
  forget(jobId: string): void {
    this.finalised.add(jobId);
  }
}
