/**
 * ChainFlow: a `/chain` board's own buttons. Opening it, Cancel board, expiry and queueing its job are every
 * board's (BoardFlow); the changes themselves are atomic in Redis (ChainStore).
 *
 * - cadd (button): a modal with the member's stop filled in (or an empty one), or an ephemeral reason why not.
 * - cfill (modal submit): adds the member's stop at the end, changes it, or takes it out when left empty, and
 *   updates the board in the same response; the stop that fills the chain queues its job. A stop with a picture
 *   (the modal's file upload) is checked from what Discord says about it, then the submit is deferred while the
 *   picture downloads (size-checked first, as /morph's image) and is parked with InputImageStore.
 * - cmove (button): the starter moves a stop up one place.
 * - cclose (button): the starter closes it with the stops it has (two at least) and its job is queued.
 *
 * The job is one chain render (kind `chain`, the stops in board order, each credited to its member), queued as
 * `board-<id>` like any board's, so it shows in the board's message: queued, progress, then the result.
 */
import { MessageFlags, type ButtonInteraction, type ModalSubmitInteraction } from 'discord.js';
import { hasVisibleCharacter, normalizePrompt } from '../../jobs/index.ts';
import type { GuildSettings } from '../GuildSettings.ts';
import type { JobSettings, RenderService } from '../RenderService.ts';
import { toDiscordOptions } from '../replies/JobMessages.ts';
import { parseMoveTarget } from '../replies/chainViews.ts';
import { safePrompt, userMention } from '../replies/text.ts';
import { boardView } from '../replies/views.ts';
import type { BotServices } from '../types.ts';
import { checkAttachment, downloadAttachmentImage, type AttachmentInfo } from '../imageInput.ts';
import { checkPrompt, InputError } from '../validation.ts';
import type { BoardFlow } from './BoardFlow.ts';
import { PROMPT_INPUT_ID } from './boardModal.ts';
import type { Board, StopPicture } from './BoardStore.ts';
import { chainModal, PICTURE_INPUT_ID, STOP_STRENGTH, STRENGTH_INPUT_ID } from './chainModal.ts';
import { exampleSuggestion } from '../PromptSuggestions.ts';
import { CHAIN_MIN_STOPS, type ChainClosed, type ChainStore } from './ChainStore.ts';

/** Frames per stop when the starter did not ask for a frame count (a morph's default, for each leg). */
export const CHAIN_FRAMES_PER_STOP = 8;

/** A chain job's settings: its frames split between its legs, at least one per stop and at most `maxFrames`. */
export function chainJobSettings(settings: JobSettings, stops: number, maxFrames: number): JobSettings {
  const wanted = settings.frames ?? stops * CHAIN_FRAMES_PER_STOP;
  return { ...settings, frames: Math.max(stops, Math.min(wanted, maxFrames)) };
}

/** Reordering and closing are the starter's; a manager can still cancel the board (Cancel board) or its job. */
export class ChainFlow {
  constructor(
    private readonly bot: BotServices,
    private readonly render: RenderService,
    private readonly boardFlow: BoardFlow,
    private readonly chains: ChainStore,
  ) {}

  /** "Add or change your stop": a modal, or an ephemeral reason why not. */
  async onAdd(interaction: ButtonInteraction, boardId: string): Promise<void> {
    const board = await this.chainOf(interaction, boardId);
    if (!board) return;
    const problem = this.closedReason(board);
    if (problem) return this.render.tell(interaction, problem);
    // Within 3 s: the lexicon lookup gives up after 1 s (then the generic example).
    const example = exampleSuggestion(await this.bot.lexicons.current(1_000).catch(() => undefined), board.slots.flatMap((s) => (s ? [s.text] : [])));
    await interaction.showModal(chainModal(this.bot.ids, board, interaction.user.id, this.bot.jobs.config.limits.maxPromptChars, example));
  }

  /** The modal's submit: the member's stop in, changed, or out; the stop that fills the chain queues it. */
  async onFill(interaction: ModalSubmitInteraction, boardId: string): Promise<void> {
    const board = await this.chainOf(interaction, boardId);
    if (!board) return;
    let guild: GuildSettings;
    let text: string | undefined;
    let attachment: AttachmentInfo | undefined;
    let strength: number | undefined;
    try {
      guild = await this.bot.guildSettings.get(board.guildId);
      const raw = readStop(interaction);
      // An empty stop (nothing visible in it) takes the member's stop out; anything else is checked as a prompt.
      text = hasVisibleCharacter(normalizePrompt(raw)) ? checkPrompt(raw, 'stop', this.bot.jobs.config.limits, guild) : undefined;
      attachment = readPicture(interaction);
      strength = readStrength(interaction);
      if (attachment) {
        if (text === undefined) throw new InputError('A stop with a picture needs words saying what it shows; write them in "Your stop" and attach the picture again.');
        checkAttachment(attachment);
      } else if (strength !== undefined) {
        throw new InputError('How much to redraw only applies with a picture; attach one, or leave that field empty.');
      }
    } catch (error) {
      if (error instanceof InputError) return this.render.tell(interaction, error.message);
      throw error;
    }
    let picture: { image: StopPicture; strength?: number } | undefined;
    if (attachment) {
      // The download may take longer than Discord's 3 seconds: the board is edited once the picture is in.
      if (interaction.isFromMessage()) await interaction.deferUpdate();
      else await interaction.deferReply({ flags: MessageFlags.Ephemeral });
      try {
        const bytes = await downloadAttachmentImage(attachment);
        const key = await this.bot.jobs.inputImages.put(bytes);
        picture = { image: { key, bytes: bytes.length, name: attachment.name.slice(0, 200) }, ...(strength !== undefined ? { strength } : {}) };
      } catch (error) {
        if (error instanceof InputError) return this.render.tell(interaction, `${error.message} Your stop was not changed.`);
        throw error;
      }
    }
    const result = await this.chains.setStop(boardId, interaction.user.id, text, this.bot.now(), picture);
    switch (result.kind) {
      case 'added':
      case 'changed':
      case 'removed':
        this.bot.log.info('chain stop', { boardId, change: result.kind, stops: result.board.slots.length });
        return this.update(interaction, result.board);
      case 'complete':
        this.bot.log.info('chain full', { boardId, stops: result.board.slots.length });
        return this.boardFlow.complete(interaction, result.board, guild);
      case 'none':
        return this.render.tell(interaction, 'You left your stop empty, so nothing was added; press the button again and write one to join the chain.');
      default:
        return this.render.tell(interaction, this.closedText(result, board, text));
    }
  }

  /** "Move N up": the starter swaps a stop with the one before it. */
  async onMove(interaction: ButtonInteraction, target: string): Promise<void> {
    const parsed = parseMoveTarget(target);
    if (!parsed) return this.render.tell(interaction, 'That button is not one I recognise; use /chain again.');
    const board = await this.chainOf(interaction, parsed.boardId);
    if (!board) return;
    if (board.starterId !== interaction.user.id) {
      return this.render.tell(interaction, `Only ${userMention(board.starterId)}, who started this chain, can change the order of its stops.`);
    }
    const moved = await this.chains.moveUp(board.id, parsed.index, this.bot.now());
    if (moved.kind === 'ok') return this.update(interaction, moved.board);
    if (moved.kind === 'no-stop') return this.render.tell(interaction, `The chain has ${moved.stops} stops now; that one moved or was taken out. Try again on the board as it is.`);
    return this.render.tell(interaction, this.closedText(moved, board));
  }

  /** "Close and render": the starter closes it with the stops it has. */
  async onClose(interaction: ButtonInteraction, boardId: string): Promise<void> {
    const board = await this.chainOf(interaction, boardId);
    if (!board) return;
    if (board.starterId !== interaction.user.id) {
      return this.render.tell(interaction, `Only ${userMention(board.starterId)}, who started this chain, can close it; it also renders by itself once it has ${board.maxStops ?? 'all its'} stops.`);
    }
    let guild: GuildSettings;
    try {
      guild = await this.render.preflight(interaction);
    } catch (error) {
      if (error instanceof InputError) return this.render.tell(interaction, error.message);
      throw error;
    }
    const closed = await this.chains.close(board.id, interaction.user.id, this.bot.now());
    if (closed.kind === 'ok') {
      this.bot.log.info('chain closed', { boardId, stops: closed.board.slots.length });
      return this.boardFlow.complete(interaction, closed.board, guild);
    }
    if (closed.kind === 'too-few') {
      return this.render.tell(interaction, `A chain needs at least ${CHAIN_MIN_STOPS} stops to render; it has ${closed.stops}. Wait for another member to add one, or add your own.`);
    }
    return this.render.tell(interaction, this.closedText(closed, board));
  }

  /** The chain board behind a button or modal in this server; an ephemeral answer and undefined if there is none. */
  private async chainOf(interaction: ButtonInteraction | ModalSubmitInteraction, boardId: string): Promise<Board | undefined> {
    const board = await this.bot.boards.get(boardId);
    if (!board || board.kind !== 'chain' || board.guildId !== interaction.guildId) {
      await this.render.tell(interaction, 'This chain no longer exists; start a new one with /chain.');
      return undefined;
    }
    return board;
  }

  private async update(interaction: ButtonInteraction | ModalSubmitInteraction, board: Board): Promise<void> {
    const options = toDiscordOptions(boardView(this.bot.ids, board));
    if (interaction.deferred && (interaction.isButton() || interaction.isFromMessage())) await interaction.editReply(options);
    else if (interaction.isButton() || interaction.isFromMessage()) await interaction.update(options);
    else await this.render.tell(interaction, 'Done.');
  }

  /** Why a chain cannot take a stop right now, if it cannot. */
  private closedReason(board: Board): string | undefined {
    if (board.status === 'cancelled') return 'This chain was cancelled; start a new one with /chain.';
    if (board.status === 'expired' || (board.status === 'open' && this.bot.now() >= board.expiresAt)) return 'This chain expired; start a new one with /chain.';
    if (board.status === 'complete') return `This chain is closed: it renders with its ${board.slots.length} stops. Start your own with /chain.`;
    return undefined;
  }

  private closedText(result: ChainClosed, board: Board, text?: string): string {
    if (result.kind === 'gone') return 'This chain no longer exists; start a new one with /chain.';
    const yours = text ? ` Your stop was “${safePrompt(text, 300)}”.` : '';
    switch (result.status) {
      case 'complete':
        return `This chain is full: its ${board.maxStops ?? board.slots.length} stops were in before yours arrived, or its starter closed it.${yours} Start your own with /chain.`;
      case 'cancelled':
        return `This chain was cancelled by its starter.${yours} Start a new one with /chain.`;
      case 'expired':
        return `This chain expired before your change arrived.${yours} Start a new one with /chain.`;
    }
  }
}

/** The modal's picture: the first uploaded file, if any (a client that knows no file uploads sends none). */
function readPicture(interaction: ModalSubmitInteraction): AttachmentInfo | undefined {
  try {
    return interaction.fields.getUploadedFiles(PICTURE_INPUT_ID, false)?.first() ?? undefined;
  } catch {
    return undefined;
  }
}

function readStrength(interaction: ModalSubmitInteraction): number | undefined {
  let text = '';
  try {
    text = interaction.fields.getTextInputValue(STRENGTH_INPUT_ID).trim();
  } catch {
    return undefined;
  }
  if (text === '') return undefined;
  const value = Number(text.replace(',', '.'));
  if (!Number.isFinite(value) || value < STOP_STRENGTH.min || value > STOP_STRENGTH.max) {
    throw new InputError(`How much to redraw must be a number from ${STOP_STRENGTH.min} to ${STOP_STRENGTH.max} (you wrote “${safePrompt(text, 10)}”); press the button again.`);
  }
  return value;
}

function readStop(interaction: ModalSubmitInteraction): string {
  try {
    return interaction.fields.getTextInputValue(PROMPT_INPUT_ID);
  } catch {
    // An empty optional input may come back without a value: an empty stop.
    return '';
  }
}
