/**
 * Puts a job's views on Discord: status edits (queued, progress) and the one final post.
 *
 * - Edits of one job's message are serialised (one chain per job), and once the final post has started, status
 *   edits still waiting are dropped: a slow progress edit can never land on top of the result.
 * - Status edits only ever use the interaction token, only while it is valid, and never fail anything: a
 *   deleted message or a dead token just ends the status updates for that job.
 * - The final post edits the original response while the token is valid. When that is no longer possible
 *   (token expired or refused, message gone or too old to edit, thread archived), it is posted as a new channel
 *   message with the bot token: a reply to the request when the bot may read the channel's history, otherwise
 *   a plain message naming the requester; the request then points at it.
 * - Whatever Discord refuses, the post walks down, in order: the full result, the same without the embed's long
 *   fields (a refused body), then text saying how to get the file (a refused file). Each Discord error has one
 *   meaning (postErrors.ts): passing problems and unknown codes are thrown, so the result stream tries the
 *   entry again later (a bounded number of times); a channel that cannot take the message at all throws
 *   UndeliverableError, and the result is given up at once.
 */
import { AttachmentBuilder, InteractionWebhook, PermissionFlagsBits, type Client, type Message, type MessageCreateOptions, type MessageEditOptions } from 'discord.js';
import type { PendingReply } from '../PendingReplies.ts';
import { describeError, type Logger } from '../log.ts';
import type { PendingReplies } from '../PendingReplies.ts';
import { classifyPostError, type PostErrorAction } from './postErrors.ts';
import { movedView, NO_MENTIONS, type MessageView } from './views.ts';

export interface Delivered {
  via: 'interaction' | 'channel' | 'undeliverable';
  channelId: string;
  messageId: string;
  /** The file was left out (refused, or not allowed here); it stays in Redis until it expires. */
  withoutFile?: boolean;
}

/** The result cannot be posted in its channel at all; `code` is Discord's (undefined: not a Discord error). */
export class UndeliverableError extends Error {
  constructor(
    readonly code: number | undefined,
    message: string,
  ) {
    super(message);
    this.name = 'UndeliverableError';
  }
}

/** The views of one result, from the one it should be to the ones it falls back to. */
export interface FinalViews {
  /** The result as it should look; `late`: posted as a new message, naming the requester. */
  full(late: boolean): MessageView;
  /** The same without the embed's long fields (after a refused body). */
  compact(late: boolean): MessageView;
  /** Text without the file, saying how to get it (after a refused file). */
  withoutFile(late: boolean, code: number | undefined): MessageView;
}

/** How far down the views a post has gone: 0 full, 1 compact, 2 without the file. */
type Level = 0 | 1 | 2;

interface PostState {
  level: Level;
  /** The code that made the file go (for the text that explains it). */
  fileCode: number | undefined;
}

export function isTokenGone(error: unknown): boolean {
  return classifyPostError(error).action === 'token-gone';
}

/** Status edits stop for good on these (a retry cannot help a progress bar). */
const STATUS_DEAD: readonly PostErrorAction[] = ['token-gone', 'message-gone', 'give-up', 'forbidden', 'compact', 'no-file', 'unknown'];

export function toDiscordOptions(view: MessageView): MessageEditOptions & { allowedMentions: NonNullable<MessageEditOptions['allowedMentions']> } {
  return {
    content: view.content,
    embeds: view.embeds,
    components: view.components,
    allowedMentions: view.allowedMentions ?? NO_MENTIONS,
    ...(view.files ? { files: view.files.map((f) => new AttachmentBuilder(f.data, { name: f.name })) } : {}),
  };
}

/**
 * Options for an edit of a job's message: files replace the attachments, a view that keeps them leaves them
 * alone (no `attachments`), anything else clears them (`attachments: []`): a failure or a cancel never leaves
 * the last live preview behind.
 */
export function toEditOptions(view: MessageView): ReturnType<typeof toDiscordOptions> {
  const options = toDiscordOptions(view);
  return view.files?.length || view.keepFiles ? options : { ...options, attachments: [] };
}

export interface StatusEditOptions {
  /** Discord refused the view's file (the edit is then made without it, keeping what the message has). */
  onFileRefused?: () => void;
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
  editStatus(reply: PendingReply, build: () => MessageView | undefined, rank = 0, options: StatusEditOptions = {}): Promise<string | undefined> {
    const jobId = reply.jobId;
    return this.chain(jobId, async () => {
      if (this.finalised.has(jobId) || this.deadStatus.has(jobId)) return undefined;
      if ((this.shownRank.get(jobId) ?? -1) > rank) return undefined;
      if (!this.canUseToken(reply)) return undefined;
      let view = build();
      if (!view) return undefined;
      try {
        const webhook = new InteractionWebhook(this.options.client, reply.applicationId, reply.interactionToken!);
        let message;
        try {
          message = await webhook.editMessage('@original', toEditOptions(view));
        } catch (error) {
          // A refused preview must not end the progress: the same edit without it.
          const { action } = classifyPostError(error);
          if (!view.files?.length || (action !== 'no-file' && action !== 'forbidden')) throw error;
          options.onFileRefused?.();
          view = { ...view, files: undefined, keepFiles: true };
          message = await webhook.editMessage('@original', toEditOptions(view));
        }
        this.shownRank.set(jobId, rank);
        if (this.shownRank.size > 10_000) this.shownRank.delete(this.shownRank.keys().next().value!);
        return message.id;
      } catch (error) {
        const { action } = classifyPostError(error);
        if (STATUS_DEAD.includes(action)) {
          this.deadStatus.add(jobId);
          if (action === 'token-gone') await this.options.pending.dropToken(jobId).catch(() => undefined);
        }
        this.options.log.debug('status edit failed (ignored)', { jobId, guildId: reply.guildId, error: describeError(error) });
        return undefined;
      }
    });
  }

  /**
   * Posts the final result: an edit of the original response, or a new channel message when that is no longer
   * possible. Throws UndeliverableError when the channel cannot take it; rethrows errors worth another try.
   */
  postFinal(reply: PendingReply, views: FinalViews): Promise<Delivered> {
    const jobId = reply.jobId;
    this.finalised.add(jobId);
    this.shownRank.delete(jobId);
    if (this.finalised.size > 10_000) this.finalised.delete(this.finalised.values().next().value!);
    return this.chain(jobId, async () => {
      const state: PostState = { level: 0, fileCode: undefined };
      let messageGone = false;
      if (this.canUseToken(reply)) {
        const webhook = new InteractionWebhook(this.options.client, reply.applicationId, reply.interactionToken!);
        const outcome = await this.walk(reply, views, state, false, (view) => webhook.editMessage('@original', toEditOptions(view)), (action) =>
          action === 'token-gone' || action === 'message-gone' || action === 'give-up' || action === 'forbidden' ? 'leave' : undefined,
        );
        if ('message' in outcome) return delivered('interaction', outcome.message, state);
        if (outcome.action === 'token-gone') await this.options.pending.dropToken(jobId).catch(() => undefined);
        if (outcome.action === 'message-gone') messageGone = true;
        this.options.log.info('the request cannot show the result; posting it in the channel', {
          jobId,
          guildId: reply.guildId,
          code: outcome.code,
        });
      }
      return this.postInChannel(reply, views, state, messageGone);
    });
  }

  /**
   * Sends `views` at the current level through `send`, walking down on refused bodies and files. Returns the
   * message, or the action that makes the caller leave this route (`leave` decides which do); throws for
   * retries and UndeliverableError when nothing is left to try.
   */
  private async walk(
    reply: PendingReply,
    views: FinalViews,
    state: PostState,
    late: boolean,
    send: (view: MessageView) => Promise<Message>,
    leave: (action: PostErrorAction, state: PostState) => 'leave' | 'handled' | undefined,
  ): Promise<{ message: Message } | { action: PostErrorAction; code: number | undefined }> {
    for (;;) {
      let view: MessageView;
      try {
        view = state.level === 0 ? views.full(late) : state.level === 1 ? views.compact(late) : views.withoutFile(late, state.fileCode);
      } catch (error) {
        // A view that cannot even be built is a refused body that never left.
        this.options.log.warn('a result view could not be built; trying a simpler one', { jobId: reply.jobId, level: state.level, error: describeError(error) });
        if (state.level === 2) throw new UndeliverableError(undefined, `no view of the result could be built: ${describeError(error)}`);
        state.level = (state.level + 1) as Level;
        continue;
      }
      try {
        return { message: await send(view) };
      } catch (error) {
        const { action, code } = classifyPostError(error);
        const decided = leave(action, state);
        if (decided === 'leave') return { action, code };
        if (decided === 'handled') continue;
        const hasFile = (view.files?.length ?? 0) > 0;
        if (action === 'compact' && state.level < 2) {
          state.level = (state.level + 1) as Level;
        } else if ((action === 'no-file' || (action === 'forbidden' && hasFile)) && state.level < 2) {
          state.level = 2;
          state.fileCode = code;
        } else if (action === 'retry' || action === 'unknown' || action === 'token-gone') {
          throw error;
        } else {
          throw new UndeliverableError(code, `Discord refused the result: ${describeError(error)}`);
        }
        this.options.log.info('Discord refused the result; trying a simpler one', { jobId: reply.jobId, guildId: reply.guildId, code, level: state.level });
      }
    }
  }

  private async postInChannel(reply: PendingReply, views: FinalViews, state: PostState, messageGone: boolean): Promise<Delivered> {
    const { client } = this.options;
    let channel;
    try {
      channel = await client.channels.fetch(reply.channelId);
    } catch (error) {
      const { action, code } = classifyPostError(error);
      if (action === 'retry' || action === 'unknown') throw error;
      throw new UndeliverableError(code, `the channel cannot be reached: ${describeError(error)}`);
    }
    if (!channel || !channel.isSendable()) throw new UndeliverableError(50008, 'the channel does not take messages');
    // Ask the cache first, so that Discord is not sent a request it will refuse.
    const mine = 'guild' in channel && channel.guild ? channel.permissionsFor(client.user) : null;
    let asReply = !!reply.messageId && !messageGone && (mine?.has(PermissionFlagsBits.ReadMessageHistory) ?? true);
    if (mine && !mine.has(PermissionFlagsBits.AttachFiles) && state.level < 2) {
      state.level = 2;
      state.fileCode = 50013;
    }
    const outcome = await this.walk(
      reply,
      views,
      state,
      true,
      (view) => {
        const { content, embeds, components, files } = toDiscordOptions(view);
        return (channel.send as (options: MessageCreateOptions) => Promise<Message>)({
          ...(content !== undefined && content !== null ? { content } : {}),
          ...(embeds ? { embeds } : {}),
          ...(components ? { components } : {}),
          ...(files ? { files } : {}),
          ...(asReply ? { reply: { messageReference: reply.messageId!, failIfNotExists: false } } : {}),
          // The requester is named so that they notice; nobody else can be pinged.
          allowedMentions: { parse: [], users: [reply.requesterId], repliedUser: false },
        });
      },
      (action) => {
        // A refused reply (no Read Message History, or the request is gone): the same message, not as a reply.
        if (asReply && (action === 'no-reply' || action === 'forbidden' || action === 'message-gone')) {
          asReply = false;
          return 'handled';
        }
        return undefined;
      },
    );
    if (!('message' in outcome)) throw new UndeliverableError(outcome.code, 'the channel refused the result');
    // The request still shows the last progress: point it at the new message (bot token; best effort).
    if (reply.messageId && !messageGone) {
      await channel.messages.edit(reply.messageId, toEditOptions(movedView(reply))).catch(() => undefined);
    }
    return delivered('channel', outcome.message, state);
  }

  /**
   * Shows `view` on the request message instead of the result that could not be posted: through the token
   * while it is valid, else with the bot token. Returns false when that failed too.
   */
  async noteOnRequest(reply: PendingReply, view: MessageView): Promise<boolean> {
    return this.chain(reply.jobId, async () => {
      const options = { ...toDiscordOptions(view), attachments: [] };
      if (this.canUseToken(reply)) {
        try {
          await new InteractionWebhook(this.options.client, reply.applicationId, reply.interactionToken!).editMessage('@original', options);
          return true;
        } catch {
          // try the bot token
        }
      }
      if (!reply.messageId) return false;
      try {
        const channel = await this.options.client.channels.fetch(reply.channelId);
        if (!channel?.isSendable()) return false;
        await channel.messages.edit(reply.messageId, options);
        return true;
      } catch {
        return false;
      }
    });
  }

  /** Deletes the status message through the token (best effort), e.g. when the submit was refused. */
  forget(jobId: string): void {
    this.finalised.add(jobId);
  }
}

function delivered(via: 'interaction' | 'channel', message: Message, state: PostState): Delivered {
  return { via, channelId: message.channelId, messageId: message.id, ...(state.level === 2 ? { withoutFile: true } : {}) };
}
