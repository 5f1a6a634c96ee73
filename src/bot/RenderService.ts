/**
 * RenderService: the one path from an interaction to a queued job, shared by the slash commands, Reroll and
 * completed boards, plus cancelling.
 *
 * Queueing: checks that need no reply happen first (server, channel, permissions, input), so bad input is
 * answered ephemerally; then a place is held under every cap (the member's in this server, the server's, the
 * user's and the bot's) in one atomic step in Redis, so that no burst of commands or clicks gets more places
 * than the caps leave, and a refusal is still private. Then the interaction is deferred (well inside
 * Discord's 3 s), the job → message entry is written to Redis *before* the submit (a job that finishes in
 * milliseconds still finds it), the job is submitted with an idempotent id (`render-<interaction id>`), which
 * fills the held place, and the reply is edited to "queued, position N". A submit the queue still refuses
 * (limits, Redis down) deletes the public placeholder and tells the requester why, ephemerally; a place that
 * is never filled (the bot died in between) expires after HOLD_TTL_MS.
 */
import { randomInt } from 'node:crypto';
import {
  MessageFlags,
  PermissionFlagsBits,
  PermissionsBitField,
  type ButtonInteraction,
  type ChatInputCommandInteraction,
  type Guild,
  type MessageContextMenuCommandInteraction,
  type ModalSubmitInteraction,
  type RepliableInteraction,
} from 'discord.js';
import { DEFAULT_MAX_BYTES, SubmitRefusedError, sizeUnavailable, type JobKind, type JobPrompt, type JobRenderSettings } from '../jobs/index.ts';
import { INTERACTION_TOKEN_TTL_MS } from './config.ts';
import { MiB, type GuildSettings } from './GuildSettings.ts';
import { describeError } from './log.ts';
import type { PendingReply } from './PendingReplies.ts';
import { fitText, LIMITS } from './replies/fit.ts';
import { userMention } from './replies/text.ts';
import { NO_MENTIONS, queuedView } from './replies/views.ts';
import type { BotServices } from './types.ts';
import { InputError, MAX_SEED, type RenderOptions } from './validation.ts';

export interface JobDraft {
  kind: JobKind;
  prompts: JobPrompt[];
  settings: JobSettings;
  requesterId: string;
  contributors: string[];
  maxBytes: number;
  boardId?: string;
  /**
   * Work that may take seconds (downloading an input image), run after the interaction is deferred; its
   * settings are added to the job's. An InputError is the requester's private answer, nothing is queued.
   */
  prepare?: () => Promise<Partial<JobSettings>>;
}

export type JobSettings = Partial<JobRenderSettings> & { seed: number };

/**
 * Permissions the bot needs in a channel to post results there, also as a new message after the 15 minutes
 * of the interaction token (in a thread, Send Messages in Threads instead of Send Messages). Read Message
 * History is not needed: with it a late result replies to the request, without it the result is a plain
 * message naming the requester.
 */
const NEEDED_PERMISSIONS: [bigint, string][] = [
  [PermissionFlagsBits.ViewChannel, 'View Channel'],
  [PermissionFlagsBits.SendMessages, 'Send Messages'],
  [PermissionFlagsBits.EmbedLinks, 'Embed Links'],
  [PermissionFlagsBits.AttachFiles, 'Attach Files'],
];
const NEEDED_IN_THREADS: [bigint, string][] = NEEDED_PERMISSIONS.map(([flag, name]) =>
  flag === PermissionFlagsBits.SendMessages ? [PermissionFlagsBits.SendMessagesInThreads, 'Send Messages in Threads'] : [flag, name],
);

type GuildInteraction = ChatInputCommandInteraction | ButtonInteraction | ModalSubmitInteraction | MessageContextMenuCommandInteraction;

/** How long a place held for a request lasts if its submit never comes (defer + submit take well under 3 s). */
export const HOLD_TTL_MS = 30_000;

/** A submit the queue refused: why, and what the requester is told. */
export interface Refusal {
  reason: SubmitRefusedError['reason'] | 'ERROR';
  text: string;
}

export class RenderService {
  constructor(private readonly bot: BotServices) {}

  /** Ephemeral answer to an interaction that has not been acknowledged yet (or a follow-up if it has). */
  async tell(interaction: RepliableInteraction, content: string): Promise<void> {
    const payload = { content: fitText(content, LIMITS.content), flags: MessageFlags.Ephemeral as const, allowedMentions: NO_MENTIONS };
    if (interaction.deferred || interaction.replied) await interaction.followUp(payload);
    else await interaction.reply(payload);
  }

  /**
   * Checks that apply to anything that queues a render in this channel. Returns the guild's settings, or throws
   * InputError with what to do.
   */
  async preflight(interaction: GuildInteraction): Promise<GuildSettings> {
    if (!interaction.inGuild() || !interaction.guildId) {
      throw new InputError('I only render inside a server: use this command in a server channel where I am a member.');
    }
    const guild = await this.bot.guildSettings.get(interaction.guildId);
    if (guild.allowedChannels.length > 0 && !guild.allowedChannels.includes(interaction.channelId ?? '')) {
      const where = guild.allowedChannels.slice(0, 10).map((id) => `<#${id}>`).join(', ');
      throw new InputError(`This server uses me only in ${where}; try there.`);
    }
    const permissions = interaction.appPermissions ?? new PermissionsBitField();
    const needed = interaction.channel?.isThread() ? NEEDED_IN_THREADS : NEEDED_PERMISSIONS;
    const missing = needed.filter(([flag]) => !permissions.has(flag)).map(([, name]) => name);
    if (missing.length > 0) {
      throw new InputError(
        `I cannot post results in this channel: I am missing ${missing.join(', ')}. Ask an admin to grant ${missing.length === 1 ? 'it' : 'them'} to me here, or use another channel.`,
      );
    }
    return guild;
  }

  /**
   * An early look at the member's own cap in this guild, before a board is opened (its job is queued later).
   * Only advisory: the caps are enforced when a place is held or a job submitted, atomically.
   */
  async checkMemberCap(guildId: string, userId: string, guild: GuildSettings): Promise<void> {
    const outstanding = await this.bot.jobs.list({ guildId, limit: 500 });
    const mine = outstanding.filter((job) => job.userId === userId).length;
    if (mine >= guild.maxQueuedPerMember) throw new InputError(memberCapText(mine, guild.maxQueuedPerMember));
  }

  /**
   * Holds a place for the job `jobId` under every cap, or throws InputError saying which cap is full. Call it
   * before acknowledging the interaction, so that the refusal is private.
   */
  private async holdPlace(jobId: string, guildId: string, userId: string, guild: GuildSettings): Promise<void> {
    try {
      await this.bot.jobs.hold({ holdId: jobId, guildId, userId, memberCap: guild.maxQueuedPerMember }, HOLD_TTL_MS);
    } catch (error) {
      if (!(error instanceof SubmitRefusedError)) throw error;
      this.bot.metrics?.jobRefused('any', error.reason);
      this.bot.log.info('no place under the caps', { jobId, guildId, reason: error.reason });
      throw new InputError(refusalText(error));
    }
  }

  /** A size no live worker's model can render is refused now, not after the job waited in the queue. */
  async checkRenderable(options: RenderOptions): Promise<void> {
    if (options.size === undefined) return;
    const why = sizeUnavailable(await this.bot.jobs.workers.live(), options.size);
    if (why) throw new InputError(why);
  }

  /** Render settings from the command's options and the guild's defaults. */
  settingsFor(kind: JobKind, options: RenderOptions, guild: GuildSettings): JobSettings {
    const settings: JobSettings = { seed: options.seed ?? randomInt(0, MAX_SEED) };
    // A chain's frames follow its stops when it closes (ChainFlow's chainJobSettings) unless asked for.
    if (kind === 'chain') {
      if (options.frames !== undefined) settings.frames = options.frames;
    } else if (kind !== 'grid') settings.frames = options.frames ?? Math.min(8, guild.maxFrames, this.bot.jobs.config.limits.maxFrames);
    if (options.steps !== undefined) settings.steps = options.steps;
    if (options.guidance !== undefined) settings.guidance = options.guidance;
    if (options.size !== undefined) {
      settings.width = options.size;
      settings.height = options.size;
    }
    if (kind !== 'grid') settings.fps = options.fps ?? guild.defaultFps;
    if (kind !== 'grid') settings.format = options.format ?? guild.defaultFormat;
    if (kind === 'grid' && options.gridSize !== undefined) settings.gridSize = options.gridSize;
    if (kind === 'grid' && options.varyLatents !== undefined) settings.varyLatents = options.varyLatents;
    if (kind === 'walk' && options.stepSize !== undefined) settings.stepSize = options.stepSize;
    if (guild.negativePrompt) settings.negative = guild.negativePrompt;
    return settings;
  }

  /**
   * The artifact's byte budget: the upload limit Discord states for this interaction (10 MiB when absent),
   * the guild's boost-tier limit (10, 10, 50, 100 MiB: what a bot-token post after 15 minutes gets), the
   * guild's own output budget, and the operator's ceiling (LATENTWALK_MAX_ARTIFACT_BYTES), whichever is
   * smallest. A file Discord refuses anyway (413/40005) is posted as text saying how to get it.
   */
  maxBytesFor(interaction: GuildInteraction, guild: GuildSettings): number {
    const stated = interaction.attachmentSizeLimit;
    const interactionLimit = typeof stated === 'number' && stated > 0 ? stated : DEFAULT_MAX_BYTES;
    const tier = tierLimit(interaction.guild);
    return Math.min(interactionLimit, tier, guild.outputBudgetBytes, this.bot.jobs.config.limits.maxArtifactBytes);
  }

  /**
   * Queues a job for an interaction that has not been acknowledged yet: hold a place under the caps (a full
   * cap throws InputError, answered privately), defer (public), submit, show the queue position.
   */
  async queueFresh(interaction: ChatInputCommandInteraction | ButtonInteraction | ModalSubmitInteraction, draft: JobDraft): Promise<void> {
    const jobId = `render-${interaction.id}`;
    const guildId = interaction.guildId!;
    const guild = await this.bot.guildSettings.get(guildId);
    await this.holdPlace(jobId, guildId, draft.requesterId, guild);
    let refused: Refusal | undefined;
    try {
      await interaction.deferReply();
      const { prepare, ...rest } = draft;
      let ready: JobDraft | undefined = rest;
      if (prepare) {
        try {
          ready = { ...rest, settings: { ...rest.settings, ...(await prepare()) } };
        } catch (error) {
          if (!(error instanceof InputError)) throw error;
          refused = { reason: 'INVALID', text: error.message };
          ready = undefined;
        }
      }
      if (ready) {
        const reply = this.pendingFor(interaction, jobId, ready);
        await this.bot.pending.put(reply);
        refused = await this.submit(reply, ready, guild);
      }
    } catch (error) {
      this.bot.log.error('queueing failed', { jobId, guildId, error: describeError(error) });
      refused = { reason: 'ERROR', text: 'Something went wrong on my side and nothing was queued; please try again in a moment.' };
    }
    if (refused) {
      await this.bot.jobs.releaseHold(jobId, guildId, draft.requesterId).catch(() => undefined);
      // The public "thinking…" placeholder goes away; the reason is for the requester only.
      await this.bot.pending.remove(jobId).catch(() => undefined);
      this.bot.messages.forget(jobId);
      if (!interaction.deferred) return;
      await interaction.deleteReply().catch(() => undefined);
      await interaction.followUp({ content: fitText(`⚠️ ${refused.text}`, LIMITS.content), flags: MessageFlags.Ephemeral, allowedMentions: NO_MENTIONS });
    }
  }

  /**
   * Queues a job whose interaction was already answered by updating a message (a completed board): the job's
   * status is shown in that message. Returns the refusal reason, if the queue refused it.
   */
  async queueAfterUpdate(
    interaction: ButtonInteraction | ModalSubmitInteraction,
    draft: JobDraft,
    jobId: string,
    messageId: string | undefined,
    guild: GuildSettings,
  ): Promise<Refusal | undefined> {
    const reply = this.pendingFor(interaction, jobId, draft);
    if (messageId) reply.messageId = messageId;
    await this.bot.pending.put(reply);
    const refused = await this.submit(reply, draft, guild);
    if (refused) {
      await this.bot.pending.remove(jobId).catch(() => undefined);
      this.bot.messages.forget(jobId);
    }
    return refused;
  }

  private pendingFor(interaction: GuildInteraction, jobId: string, draft: JobDraft): PendingReply {
    const reply: PendingReply = {
      jobId,
      kind: draft.kind,
      guildId: interaction.guildId!,
      channelId: interaction.channelId ?? '',
      requesterId: draft.requesterId,
      contributors: draft.contributors,
      prompts: draft.prompts,
      settings: draft.settings,
      maxBytes: draft.maxBytes,
      applicationId: interaction.applicationId,
      interactionToken: interaction.token,
      tokenExpiresAt: this.bot.now() + INTERACTION_TOKEN_TTL_MS - this.bot.config.tokenMarginMs,
      createdAt: this.bot.now(),
    };
    if (draft.boardId) reply.boardId = draft.boardId;
    return reply;
  }

  /**
   * Submits (the caps, the member's in this guild included, checked in the same step) and shows "queued";
   * returns the refusal instead of throwing for refusals.
   */
  private async submit(reply: PendingReply, draft: JobDraft, guild: GuildSettings): Promise<Refusal | undefined> {
    let ticket;
    try {
      ticket = await this.bot.jobs.submit({
        kind: draft.kind,
        prompts: draft.prompts,
        settings: draft.settings,
        guildId: reply.guildId,
        channelId: reply.channelId,
        requesterId: draft.requesterId,
        reply: { via: 'discord', applicationId: reply.applicationId, channelId: reply.channelId },
        maxBytes: draft.maxBytes,
        jobId: reply.jobId,
      }, { memberCap: guild.maxQueuedPerMember });
    } catch (error) {
      if (error instanceof SubmitRefusedError) {
        this.bot.metrics?.jobRefused(draft.kind, error.reason);
        this.bot.log.info('submit refused', { jobId: reply.jobId, kind: draft.kind, guildId: reply.guildId, reason: error.reason });
        return { reason: error.reason, text: refusalText(error) };
      }
      this.bot.metrics?.jobRefused(draft.kind, 'ERROR');
      this.bot.log.error('submit failed', { jobId: reply.jobId, kind: draft.kind, guildId: reply.guildId, error: describeError(error) });
      return { reason: 'ERROR', text: 'The render queue is not reachable right now; nothing was queued, try again in a minute.' };
    }
    const messageId = await this.bot.messages.editStatus(reply, () => queuedView(this.bot.ids, reply, ticket));
    if (messageId && messageId !== reply.messageId) {
      reply.messageId = messageId;
      await this.bot.pending.setMessageId(reply.jobId, messageId);
    }
    this.bot.metrics?.jobSubmitted(draft.kind);
    this.bot.log.info('job queued', { jobId: reply.jobId, kind: draft.kind, guildId: reply.guildId, position: ticket.position });
    return undefined;
  }

  /**
   * Cancels a job for a member: its requester, a contributor, or anyone with Manage Messages. Returns the
   * ephemeral answer.
   */
  async cancel(interaction: GuildInteraction, jobId: string): Promise<string> {
    const listing = await this.bot.jobs.get(jobId);
    if (!listing || listing.guildId !== interaction.guildId) {
      return `There is no job \`${jobId.replace(/`/g, '')}\` in this server. /queue lists the jobs and their ids.`;
    }
    const reply = await this.bot.pending.get(jobId);
    if (!this.mayManage(interaction, listing.userId, reply)) {
      return `That job is not yours: only ${userMention(listing.userId)}, its contributors and members with Manage Messages can cancel it.`;
    }
    if (listing.outcome || ['done', 'failed', 'cancelled'].includes(listing.state)) return 'That job has already finished.';
    await this.bot.pending.setCancelledBy(jobId, interaction.user.id);
    const result = await this.bot.jobs.cancel(jobId, `cancelled by ${interaction.user.username}`);
    switch (result.state) {
      case 'cancelled':
        return `Cancelled \`${jobId}\`; it had not started yet.`;
      case 'cancelling':
        return `Stopping \`${jobId}\`: the render ends within one batch.`;
      case 'finished':
        return `Too late: \`${jobId}\` had already ${result.finalState === 'done' ? 'finished' : result.finalState}.`;
    }
  }

  /** Requester, contributors, or Manage Messages. */
  mayManage(interaction: GuildInteraction, requesterId: string | undefined, reply: PendingReply | undefined): boolean {
    const userId = interaction.user.id;
    if (userId === requesterId || userId === reply?.requesterId) return true;
    if (reply?.contributors.includes(userId)) return true;
    return interaction.memberPermissions?.has(PermissionFlagsBits.ManageMessages) ?? false;
  }
}

function tierLimit(guild: Guild | null): number {
  switch (guild?.premiumTier) {
    case 2:
      return 50 * MiB;
    case 3:
      return 100 * MiB;
    default:
      return 10 * MiB;
  }
}

function memberCapText(count: number, limit: number): string {
  return `You already have ${count} job${count === 1 ? '' : 's'} queued or rendering here (this server allows ${limit}); wait for one to finish or /cancel one.`;
}

/** The job layer's refusals are already sentences a requester can act on; the member's cap gets the bot's words. */
function refusalText(error: SubmitRefusedError): string {
  if (error.reason === 'MEMBER_CAP' && error.count !== undefined && error.limit !== undefined) return memberCapText(error.count, error.limit);
  const text = error.message.trim();
  const sentence = text.charAt(0).toUpperCase() + text.slice(1);
  return /[.!?]$/.test(sentence) ? sentence : `${sentence}.`;
}
