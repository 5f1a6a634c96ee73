/**
 * BoardFlow: the collaboration boards' interactions.
 *
 * - start: `/grid` with missing corners or `/morph` without `to` posts a board (the command's reply) and
 *   stores it in Redis; the board id is the command's interaction id.
 * - add (button): answers at once with a modal, or ephemerally when the board cannot take the member.
 * - fill (modal submit): claims the first free slot atomically (BoardStore.claim) and updates the board
 *   message in the same response; the submit that fills the last slot queues the job, with its own
 *   interaction token for the status and result edits of that same message.
 * - bcancel (button): the starter (or Manage Messages) closes the board.
 * - the sweeper closes boards whose time is up and edits their message to say so: with the starter's token
 *   while it is valid, with the bot token afterwards.
 *
 * A `/chain` is opened, cancelled, expired and queued here too; its own buttons are ChainFlow's.
 */
import {
  InteractionWebhook,
  PermissionFlagsBits,
  type ButtonInteraction,
  type ChatInputCommandInteraction,
  type ModalSubmitInteraction,
} from 'discord.js';
import { INTERACTION_TOKEN_TTL_MS } from '../config.ts';
import type { GuildSettings } from '../GuildSettings.ts';
import { describeError } from '../log.ts';
import type { JobDraft, JobSettings, RenderService } from '../RenderService.ts';
import { toDiscordOptions } from '../replies/JobMessages.ts';
import { fitText, LIMITS } from '../replies/fit.ts';
import { safePrompt, userMention } from '../replies/text.ts';
import { boardRetryView, boardView, type MessageView } from '../replies/views.ts';
import type { BotServices } from '../types.ts';
import { checkPrompt, InputError } from '../validation.ts';
import { boardModal, PROMPT_INPUT_ID } from './boardModal.ts';
import { exampleSuggestion } from '../PromptSuggestions.ts';
import { boardContributors, type Board, type BoardKind } from './BoardStore.ts';
import { chainJobSettings } from './ChainFlow.ts';

export interface StartBoard {
  kind: BoardKind;
  /** Slot texts given in the command (already checked); undefined = open. */
  slots: (string | undefined)[];
  allowMultiple: boolean;
  /** Chains: the stops that close it by itself. */
  maxStops?: number;
  settings: JobSettings;
  maxBytes: number;
}

export class BoardFlow {
  private sweeper: NodeJS.Timeout | undefined;
  private sweeping = false;

  constructor(
    private readonly bot: BotServices,
    private readonly render: RenderService,
  ) {}

  /**
   * Posts a new board as the reply to `interaction`, unless its starter already has the most open boards a
   * member may have here (LATENTWALK_MAX_OPEN_BOARDS): that is an InputError, answered privately.
   */
  async start(interaction: ChatInputCommandInteraction, input: StartBoard): Promise<void> {
    const now = this.bot.now();
    const created = await this.bot.boards.create(
      {
        id: interaction.id,
        kind: input.kind,
        guildId: interaction.guildId!,
        channelId: interaction.channelId,
        starterId: interaction.user.id,
        slots: input.slots,
        allowMultiple: input.allowMultiple,
        ...(input.maxStops !== undefined ? { maxStops: input.maxStops } : {}),
        ttlMs: this.bot.config.boardTtlMs,
        settings: input.settings,
        maxBytes: input.maxBytes,
        applicationId: interaction.applicationId,
        interactionToken: interaction.token,
        tokenExpiresAt: now + INTERACTION_TOKEN_TTL_MS - this.bot.config.tokenMarginMs,
      },
      this.bot.config.maxOpenBoards,
      now,
    );
    if (created.kind === 'too-many') {
      const open = created.open;
      throw new InputError(
        `You already have ${open} board${open === 1 ? '' : 's'} open here (the limit is ${this.bot.config.maxOpenBoards}); wait for ${open === 1 ? 'it' : 'one'} to fill or press Cancel board on it, then start a new one.`,
      );
    }
    const board = created.board;
    try {
      await interaction.deferReply();
    } catch (error) {
      // Nobody will see this board: it must not count against its starter.
      await this.bot.boards.close(board.id, 'cancelled', 'bot', now).catch(() => undefined);
      throw error;
    }
    const message = await interaction.editReply(toDiscordOptions(boardView(this.bot.ids, board)));
    await this.bot.boards.setMessageId(board.id, message.id);
    this.bot.log.info('board opened', { boardId: board.id, kind: board.kind, guildId: board.guildId });
  }

  /** The "add a prompt" button: a modal, or an ephemeral reason why not. */
  async onAdd(interaction: ButtonInteraction, boardId: string): Promise<void> {
    const board = await this.bot.boards.get(boardId);
    const problem = this.closedReason(board);
    if (problem) return this.render.tell(interaction, problem);
    const b = board!;
    if (!b.allowMultiple && b.slots.some((slot) => slot?.viaModal && slot.userId === interaction.user.id)) {
      return this.render.tell(interaction, 'You already added a prompt to this board (one per member); let someone else fill the next one.');
    }
    // The modal must open within 3 s: the lexicon lookup gives up after 1 s (then the generic example).
    const example = exampleSuggestion(await this.bot.lexicons.current(1_000).catch(() => undefined), b.slots.flatMap((s) => (s ? [s.text] : [])));
    const modal = boardModal(this.bot.ids, b, this.bot.jobs.config.limits.maxPromptChars, example);
    await interaction.showModal(modal);
  }

  /** The modal's submit: claim a slot; the last one queues the job. */
  async onFill(interaction: ModalSubmitInteraction, boardId: string): Promise<void> {
    const board = await this.bot.boards.get(boardId);
    if (!board || board.guildId !== interaction.guildId) {
      return this.render.tell(interaction, 'This board no longer exists; start a new one with /grid or /morph.');
    }
    let guild: GuildSettings;
    let text: string;
    try {
      guild = await this.bot.guildSettings.get(board.guildId);
      const label = board.kind === 'morph' ? '"to" prompt' : 'corner prompt';
      text = checkPrompt(readPrompt(interaction), label, this.bot.jobs.config.limits, guild);
    } catch (error) {
      if (error instanceof InputError) return this.render.tell(interaction, error.message);
      throw error;
    }
    const claim = await this.bot.boards.claim(boardId, interaction.user.id, text, this.bot.now());
    switch (claim.kind) {
      case 'ok':
        return this.updateBoard(interaction, boardView(this.bot.ids, claim.board));
      case 'complete':
        return this.complete(interaction, claim.board, guild);
      case 'full':
        return this.render.tell(
          interaction,
          `This board is full: every slot was taken before your prompt arrived. Your prompt was “${safePrompt(text, 300)}”; start your own board with /${board.kind}.`,
        );
      case 'already':
        return this.render.tell(interaction, 'You already added a prompt to this board (one per member); let someone else fill the next one.');
      case 'expired':
        return this.render.tell(interaction, `This board expired before your prompt arrived; start a new one with /${board.kind}.`);
      case 'cancelled':
        return this.render.tell(interaction, `This board was cancelled by its starter; start a new one with /${board.kind}.`);
      case 'gone':
        return this.render.tell(interaction, 'This board no longer exists; start a new one with /grid or /morph.');
    }
  }

  private async updateBoard(interaction: ModalSubmitInteraction | ButtonInteraction, view: MessageView): Promise<void> {
    if (interaction.deferred) {
      // A chain stop with a picture: the submit was deferred while the picture downloaded.
      await interaction.editReply(toDiscordOptions(view));
    } else if (interaction.isButton() || interaction.isFromMessage()) {
      await interaction.update(toDiscordOptions(view));
    } else {
      await this.render.tell(interaction, 'Added.');
    }
  }

  /** The claim that filled the last slot (or the close of a chain): show the board complete, then queue its job. */
  async complete(interaction: ModalSubmitInteraction | ButtonInteraction, board: Board, guild: GuildSettings): Promise<void> {
    const completeView = boardView(this.bot.ids, board);
    await this.updateBoard(interaction, { ...completeView, content: fitText(`${completeView.content}\nQueuing…`, LIMITS.content) });
    const draft: JobDraft = {
      kind: board.kind,
      prompts: board.slots.map((slot) => ({
        text: slot!.text,
        contributorId: slot!.userId,
        ...(slot!.image ? { image: slot!.image, ...(slot!.strength !== undefined ? { strength: slot!.strength } : {}) } : {}),
      })),
      settings: board.kind === 'chain' ? chainJobSettings(board.settings, board.slots.length, Math.min(guild.maxFrames, this.bot.jobs.config.limits.maxFrames)) : board.settings,
      requesterId: board.starterId,
      contributors: boardContributors(board),
      maxBytes: Math.min(board.maxBytes, this.render.maxBytesFor(interaction, guild)),
      boardId: board.id,
    };
    const jobId = `board-${board.id}`;
    // The starter's cap in this server is checked in the same atomic step as the submit.
    const refused = await this.render.queueAfterUpdate(interaction, draft, jobId, interaction.message?.id ?? board.messageId, guild);
    if (refused) {
      const why =
        refused.reason === 'MEMBER_CAP'
          ? `${userMention(board.starterId)}, who started the board, already has as many jobs queued here as this server allows; press Queue it once one has finished.`
          : refused.text;
      await interaction.editReply(toDiscordOptions(boardRetryView(this.bot.ids, board, why))).catch(() => undefined);
      return;
    }
    await this.bot.boards.setJobId(board.id, jobId);
  }

  /** "Queue it" on a complete board whose first submit was refused. */
  async onRetry(interaction: ButtonInteraction, boardId: string): Promise<void> {
    const board = await this.bot.boards.get(boardId);
    if (!board || board.guildId !== interaction.guildId) return this.render.tell(interaction, 'This board no longer exists.');
    if (board.status !== 'complete') return this.render.tell(interaction, 'This board is not complete yet.');
    if (board.jobId) return this.render.tell(interaction, 'This board has already been queued.');
    const allowed = boardContributors(board).includes(interaction.user.id) || this.hasManageMessages(interaction);
    if (!allowed) return this.render.tell(interaction, 'This board is not yours: only its contributors can queue it.');
    let guild: GuildSettings;
    try {
      guild = await this.render.preflight(interaction);
    } catch (error) {
      if (error instanceof InputError) return this.render.tell(interaction, error.message);
      throw error;
    }
    await this.complete(interaction, board, guild);
  }

  /** The starter's Cancel. */
  async onCancel(interaction: ButtonInteraction, boardId: string): Promise<void> {
    const board = await this.bot.boards.get(boardId);
    if (!board || board.guildId !== interaction.guildId) return this.render.tell(interaction, 'This board no longer exists.');
    if (board.starterId !== interaction.user.id && !this.hasManageMessages(interaction)) {
      return this.render.tell(interaction, `This board is not yours: only ${userMention(board.starterId)} (or a member with Manage Messages) can cancel it.`);
    }
    const closed = await this.bot.boards.close(boardId, 'cancelled', interaction.user.id, this.bot.now());
    if (closed.kind === 'ok') return this.updateBoard(interaction, boardView(this.bot.ids, closed.board));
    if (closed.kind === 'closed') {
      const why = { complete: 'it is already complete', cancelled: 'it was already cancelled', expired: 'it already expired', open: '' }[closed.status];
      return this.render.tell(interaction, `Nothing to cancel: ${why}.`);
    }
    return this.render.tell(interaction, 'This board no longer exists.');
  }

  private hasManageMessages(interaction: ButtonInteraction | ModalSubmitInteraction): boolean {
    return interaction.memberPermissions?.has(PermissionFlagsBits.ManageMessages) ?? false;
  }

  /** Why a board cannot take a prompt from this member right now, if it cannot. */
  private closedReason(board: Board | undefined): string | undefined {
    if (!board) return 'This board no longer exists; start a new one with /grid or /morph.';
    if (board.status === 'cancelled') return `This board was cancelled; start a new one with /${board.kind}.`;
    if (board.status === 'expired' || (board.status === 'open' && this.bot.now() >= board.expiresAt)) {
      return `This board expired; start a new one with /${board.kind}.`;
    }
    if (board.status === 'complete') return `This board is full: all ${board.slots.length} slots are taken. Start your own with /${board.kind}.`;
    return undefined;
  }

  // -------------------------------------------------------------------------------------------------------
  // Expiry.

  startSweeper(): void {
    if (this.sweeper) return;
    this.sweeper = setInterval(() => void this.sweep(), this.bot.config.boardSweepMs);
    this.sweeper.unref?.();
  }

  stopSweeper(): void {
    clearInterval(this.sweeper);
    this.sweeper = undefined;
  }

  /** Closes and announces every board whose time is up. Returns how many it closed. */
  async sweep(): Promise<number> {
    if (this.sweeping) return 0;
    this.sweeping = true;
    let closed = 0;
    try {
      const now = this.bot.now();
      for (const id of await this.bot.boards.dueForExpiry(now)) {
        const result = await this.bot.boards.close(id, 'expired', 'timer', now);
        if (result.kind !== 'ok') continue;
        closed++;
        await this.announce(result.board).catch((error) =>
          this.bot.log.warn('could not edit an expired board', { boardId: id, error: describeError(error) }),
        );
      }
    } catch (error) {
      this.bot.log.warn('board sweep failed', { error: describeError(error) });
    } finally {
      this.sweeping = false;
    }
    return closed;
  }

  private async announce(board: Board): Promise<void> {
    const options = toDiscordOptions(boardView(this.bot.ids, board));
    if (board.interactionToken && this.bot.now() < board.tokenExpiresAt) {
      try {
        await new InteractionWebhook(this.bot.client, board.applicationId, board.interactionToken).editMessage('@original', options);
        return;
      } catch (error) {
        this.bot.log.debug('board token edit failed; trying the bot token', { boardId: board.id, error: describeError(error) });
      }
    }
    if (!board.messageId) return;
    const channel = await this.bot.client.channels.fetch(board.channelId);
    if (channel?.isSendable()) await channel.messages.edit(board.messageId, options);
  }
}

function readPrompt(interaction: ModalSubmitInteraction): string {
  try {
    return interaction.fields.getTextInputValue(PROMPT_INPUT_ID);
  } catch {
    throw new InputError('The form came back without a prompt; press the button again and write one.');
  }
}

