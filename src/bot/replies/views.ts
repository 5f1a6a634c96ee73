/**
 * Every message the bot shows, as plain data: content, embeds, buttons, files. Nothing here talks to Discord;
 * the posting code sends these views, always with `allowedMentions: { parse: [] }`.
 */
import {
  ActionRowBuilder,
  ButtonBuilder,
  ButtonStyle,
  type APIActionRowComponent,
  type APIComponentInMessageActionRow,
  type APIEmbed,
  type APIEmbedField,
  type MessageMentionOptions,
} from 'discord.js';
import type { JobKind, JobListing, JobOutcome, JobProgress, JobResult } from '../../jobs/index.ts';
import { boardContributors, type Board } from '../boards/BoardStore.ts';
import type { CustomIds } from '../customIds.ts';
import type { PendingReply } from '../PendingReplies.ts';
import { chainBoardView } from './chainViews.ts';
import { fitComponents, fitEmbed, fitText, LIMITS } from './fit.ts';
import { formatBytes, formatDuration, ordinal, progressBar, safePrompt, userMention } from './text.ts';

export interface FileView {
  name: string;
  data: Buffer;
  contentType: string;
}

export interface MessageView {
  content: string;
  embeds: APIEmbed[];
  components: APIActionRowComponent<APIComponentInMessageActionRow>[];
  /** An edit with files replaces the message's attachments with them. */
  files?: FileView[];
  /** An edit without files keeps the message's attachments (a progress edit keeps the last preview); otherwise it clears them. */
  keepFiles?: boolean;
  allowedMentions: MessageMentionOptions;
}

/** Every message parses no mentions: a prompt saying "@everyone" pings no one. */
export const NO_MENTIONS: MessageMentionOptions = { parse: [] };

const KIND_TITLE: Record<JobKind, string> = {
  morph: '🌀 Morph',
  grid: '🔲 Grid',
  loop: '🔁 Loop',
  walk: '🚶 Walk',
  chain: '⛓️ Chain',
};

export const SLOT_NAMES: Record<'grid' | 'morph', string[]> = {
  grid: ['top left', 'top right', 'bottom left', 'bottom right'],
  morph: ['from', 'to'],
};

/** Every view is built here, so every text in it is within Discord's limits (fit.ts), whatever went in. */
export function view(content: string, extra: Partial<MessageView> = {}): MessageView {
  const embeds = extra.embeds ?? [];
  return {
    ...extra,
    content: fitText(content, LIMITS.content),
    embeds: embeds.map((embed) => fitEmbed(embed, Math.floor(LIMITS.embedTotal / embeds.length))),
    components: fitComponents(extra.components ?? []),
    allowedMentions: extra.allowedMentions ?? NO_MENTIONS,
  };
}

/** A button whose label is cut before the builder sees it (the builder throws past 80 UTF-16 units). */
export function button(customId: string, label: string, style: ButtonStyle, emoji?: string): ButtonBuilder {
  const built = new ButtonBuilder().setCustomId(customId).setLabel(fitText(label, LIMITS.buttonLabel)).setStyle(style);
  return emoji ? built.setEmoji(emoji) : built;
}

export function row(...buttons: ButtonBuilder[]): APIActionRowComponent<APIComponentInMessageActionRow> {
  return new ActionRowBuilder<ButtonBuilder>().addComponents(buttons).toJSON();
}

function cancelButton(ids: CustomIds, jobId: string): ButtonBuilder {
  return button(ids.make('cancel', jobId), 'Cancel', ButtonStyle.Danger, '🛑');
}

export function afterButtons(ids: CustomIds, jobId: string): ButtonBuilder[] {
  return [
    button(ids.make('reroll', jobId), 'Reroll', ButtonStyle.Secondary, '🎲'),
    button(ids.make('delete', jobId), 'Delete', ButtonStyle.Secondary, '🗑️'),
  ];
}

/** A one-line description of what is being rendered: `morph from "a cat" to "a dog"`. */
export function describeJob(reply: Pick<PendingReply, 'kind' | 'prompts'>, max = 300): string {
  const per = Math.max(20, Math.floor(max / Math.max(1, reply.prompts.length)));
  const quoted = reply.prompts.map((p) => `“${safePrompt(p.text, per)}”`);
  switch (reply.kind) {
    case 'morph':
      return `morph from ${quoted[0] ?? '?'} to ${quoted[1] ?? '?'}`;
    case 'grid':
      return `grid of ${quoted.join(', ')}`;
    case 'loop':
      return `loop of ${quoted[0] ?? '?'}`;
    case 'walk':
      return `walk around ${quoted[0] ?? '?'}`;
    case 'chain':
      return `chain through ${quoted.join(' → ')} and back`;
  }
}

export function credits(contributors: readonly string[]): string {
  return contributors.map(userMention).join(', ');
}

export function queuedView(ids: CustomIds, reply: PendingReply, where: { position?: number; positionInGuild?: number }): MessageView {
  const place =
    where.positionInGuild !== undefined
      ? `${ordinal(where.positionInGuild)} in this server's queue${where.position !== undefined && where.position !== where.positionInGuild ? ` (${ordinal(where.position)} overall)` : ''}`
      : 'waiting for a renderer';
  return view(`⏳ Queued: ${describeJob(reply)} by ${credits(reply.contributors)}\nPosition: ${place}.`, {
    components: [row(cancelButton(ids, reply.jobId))],
  });
}

const STAGE_TEXT: Record<JobProgress['stage'], string> = {
  starting: 'starting',
  encode: 'reading the prompts',
  denoise: 'denoising',
  decode: 'decoding frames',
  output: 'encoding the file',
  storing: 'almost done',
};

/** `2/8 frames · step 3/12 · denoising · ETA 40 s`: what a render is doing, in the message and in /queue. */
export function describeProgress(kind: JobKind, progress: JobProgress): string {
  const unit = kind === 'grid' ? 'cells' : 'frames';
  const parts = [`${progress.framesDone}/${progress.framesTotal} ${unit}`];
  if (progress.step !== undefined && progress.steps !== undefined && progress.stage === 'denoise') parts.push(`step ${progress.step}/${progress.steps}`);
  parts.push(STAGE_TEXT[progress.stage] ?? progress.stage);
  if (progress.etaSeconds !== undefined) parts.push(`ETA ${formatDuration(progress.etaSeconds * 1000)}`);
  if (progress.attempt > 1) parts.push(`attempt ${progress.attempt}${progress.resumedFrames ? `, resumed ${progress.resumedFrames} ${unit}` : ''}`);
  return parts.join(' · ');
}

/** The file name of a live preview still (one per message: each replaces the one before). */
export const PREVIEW_FILE_NAME = 'preview.webp';

/**
 * The progress message. `preview`: a new live preview still, which replaces the one shown; without it the
 * message keeps the still it has.
 */
export function progressView(ids: CustomIds, reply: PendingReply, progress: JobProgress, preview?: FileView): MessageView {
  return view(
    `🎨 Rendering: ${describeJob(reply)} by ${credits(reply.contributors)}\n\`${progressBar(progress.framesDone, progress.framesTotal)}\` ${describeProgress(reply.kind, progress)}`,
    { components: [row(cancelButton(ids, reply.jobId))], ...(preview ? { files: [preview] } : { keepFiles: true }) },
  );
}

/** The file name never comes from a prompt. */
export function artifactFileName(reply: Pick<PendingReply, 'kind' | 'settings'>, extension: string): string {
  return `latentwalk-${reply.kind}-${reply.settings.seed}.${extension.replace(/[^a-z0-9]/gi, '') || 'bin'}`;
}

const PROMPT_LABELS: Record<JobKind, string[]> = {
  morph: ['From', 'To'],
  grid: ['Top left', 'Top right', 'Bottom left', 'Bottom right'],
  loop: ['Prompt'],
  walk: ['Prompt'],
  chain: Array.from({ length: 8 }, (_, i) => `Stop ${i + 1}`),
};

type DoneOutcome = Extract<JobOutcome, { status: 'done' }>;

/** A prompt and its author in one field value: the prompt is cut so that the mention always fits. */
function promptValue(text: string, contributorId: string, max: number): string {
  const suffix = ` · ${userMention(contributorId)}`;
  return `${safePrompt(text, Math.max(20, max - suffix.length))}${suffix}`;
}

/**
 * Bulleted lines sharing one field value: each user text is cut to its line's share (and to `cap`), so no
 * line is lost to another and no escape is cut in half by a cut of the whole value.
 */
function lines(items: readonly { lead: string; text: string; tail?: string }[], cap: number): string {
  const share = Math.floor((LIMITS.fieldValue - (items.length - 1)) / Math.max(1, items.length));
  return items
    .map(({ lead, text, tail = '' }) => `${lead}${safePrompt(text, Math.max(1, Math.min(cap, share - lead.length - tail.length)))}${tail}`)
    .join('\n');
}

/** Most unknown words named in a result; the rest are counted. */
const MAX_NAMED_WORDS = 12;

/**
 * Which words of the prompts the model that rendered them does not know (models that declare a vocabulary),
 * and what to do: pick a suggestion as you type.
 */
export function unknownWordsNote(model: string, words: readonly string[]): string {
  const named = words.slice(0, MAX_NAMED_WORDS).map((w) => safePrompt(w, 40));
  const more = words.length > MAX_NAMED_WORDS ? ` and ${words.length - MAX_NAMED_WORDS} more` : '';
  const it = words.length === 1 ? 'it' : 'them';
  return (
    `This server's model **${safePrompt(model, 100)}** does not know ${named.map((w) => `“${w}”`).join(', ')}${more}, so it drew ${it} as noise. ` +
    'Type a prompt in /morph, /loop, /walk or /chain and pick one of the suggestions to see what it knows.'
  );
}

export function resultEmbed(reply: PendingReply, outcome: DoneOutcome, jobId: string): APIEmbed {
  const { report, artifact } = outcome;
  const labels = PROMPT_LABELS[reply.kind];
  // The prompts share 3600 of the embed's 6000 so that the facts and the notes below always fit too.
  const perPrompt = Math.min(LIMITS.fieldValue, Math.floor(3600 / Math.max(1, reply.prompts.length)));
  const fields: APIEmbedField[] = reply.prompts.map((prompt, index) => ({
    name: labels[index] ?? `Prompt ${index + 1}`,
    value: promptValue(prompt.text, prompt.contributorId, perPrompt),
  }));
  fields.push({ name: 'Contributors', value: credits(reply.contributors) || '—' });
  const rendered = report.gridSize ? `${report.gridSize}×${report.gridSize} cells` : `${report.frames} rendered`;
  const inFile = artifact.frameCount > 1 ? `, ${artifact.frameCount} in the ${reply.kind === 'loop' || reply.kind === 'chain' ? 'loop' : 'ping-pong'}` : '';
  fields.push(
    { name: 'Seed', value: String(report.seed), inline: true },
    { name: 'Steps', value: String(report.steps), inline: true },
    { name: 'Guidance', value: String(report.guidance), inline: true },
    { name: 'Size', value: `${report.width}×${report.height}${artifact.width !== report.width ? ` (shown ${artifact.width}×${artifact.height})` : ''}`, inline: true },
    { name: reply.kind === 'grid' ? 'Grid' : 'Frames', value: `${rendered}${inFile}${artifact.fps ? ` @ ${Math.round(artifact.fps * 10) / 10} fps` : ''}`, inline: true },
    { name: 'Render time', value: formatDuration(outcome.renderMs), inline: true },
    { name: 'Model', value: safePrompt(report.model, 200), inline: true },
    { name: 'File', value: `${artifact.format.toUpperCase()}, ${formatBytes(artifact.bytes)} of ${formatBytes(reply.maxBytes)} allowed`, inline: true },
  );
  if (report.image) {
    const from = reply.settings.image?.name ? `“${safePrompt(reply.settings.image.name, 80)}”` : 'an image';
    fields.push({ name: 'Started from', value: `${from}, strength ${report.image.strength} (${report.image.startStep} of ${report.steps} steps skipped)`, inline: true });
  }
  if (artifact.reductions.length > 0) {
    fields.push({
      name: `Reduced to fit ${formatBytes(reply.maxBytes)}`,
      value: lines(artifact.reductions.map((r) => ({ lead: '• ', text: r })), 200),
    });
  }
  if (report.truncations.length > 0) {
    const items = report.truncations.map((t) => {
      const index = reply.prompts.findIndex((p) => p.text === t.prompt);
      const which = index >= 0 ? (labels[index] ?? `prompt ${index + 1}`) : 'a prompt';
      const n = t.droppedWords.length;
      return { lead: `• ${which}: ${n} word${n === 1 ? '' : 's'} past the limit ${n === 1 ? 'was' : 'were'} not read: “`, text: t.droppedWords.join(' '), tail: '”' };
    });
    fields.push({ name: '⚠️ Cut at 77 tokens', value: lines(items, 150) });
  }
  const unknown = report.unknownWords ?? [];
  if (unknown.length > 0) {
    fields.push({ name: '⚠️ Words this model does not know', value: unknownWordsNote(report.model, unknown) });
  }
  if (outcome.attempts > 1 || report.resumedFrames > 0) {
    fields.push({
      name: 'Recovered',
      value: `took ${outcome.attempts} attempts${report.resumedFrames ? `, reused ${report.resumedFrames} checkpointed frames` : ''}`,
    });
  }
  return fitEmbed({ title: KIND_TITLE[reply.kind], color: 0x5865f2, fields, footer: { text: `job ${jobId}` } });
}

export function resultView(ids: CustomIds, reply: PendingReply, result: JobResult, outcome: DoneOutcome, bytes: Buffer, late: boolean): MessageView {
  const name = artifactFileName(reply, outcome.artifact.extension);
  const lead = late
    ? `✅ ${userMention(reply.requesterId)}, your ${reply.kind} is ready (it finished after the original reply could no longer be edited).`
    : `✅ ${describeJob(reply)}`;
  const embed = resultEmbed(reply, outcome, result.jobId);
  // An embed shows images only: a video stays a plain attachment, which Discord plays inline above the embed.
  if (outcome.artifact.format !== 'mp4') embed.image = { url: `attachment://${name}` };
  return view(lead, {
    embeds: [embed],
    components: [row(...afterButtons(ids, reply.jobId))],
    files: [{ name, data: bytes, contentType: outcome.artifact.mimeType }],
  });
}

export function failedView(ids: CustomIds, reply: PendingReply, reason: string, late: boolean): MessageView {
  const who = late ? `${userMention(reply.requesterId)}, your` : 'The';
  return view(`❌ ${who} ${describeJob(reply)} failed: ${safePrompt(reason, 500)}\nPress Reroll to try again with a new seed.`, {
    components: [row(...afterButtons(ids, reply.jobId))],
  });
}

export function cancelledView(reply: PendingReply, reason: string): MessageView {
  const by = reply.cancelledBy ? ` by ${userMention(reply.cancelledBy)}` : '';
  const why = reply.cancelledBy ? '' : ` (${safePrompt(reason, 200)})`;
  return view(`🛑 Cancelled${by}: ${describeJob(reply)}${why}.`);
}

export function expiredArtifactView(ids: CustomIds, reply: PendingReply): MessageView {
  return view(`⌛ The ${describeJob(reply)} finished, but its file expired before it could be posted. Press Reroll to render it again.`, {
    components: [row(...afterButtons(ids, reply.jobId))],
  });
}

/** The note left on the original message when the result had to be posted as a new message. */
export function movedView(reply: PendingReply): MessageView {
  return view(`➡️ ${describeJob(reply)}: the result was posted as a new message below.`);
}

// ---------------------------------------------------------------------------------------------------------
// Boards.

export function boardView(ids: CustomIds, board: Board): MessageView {
  if (board.kind === 'chain') return chainBoardView(ids, board);
  const names = SLOT_NAMES[board.kind];
  const lines: string[] = [];
  if (board.kind === 'morph') {
    const from = board.slots[0];
    lines.push(`🌀 ${userMention(board.starterId)} wants to morph from “${safePrompt(from?.text ?? '', 300)}”. Who sets where it goes?`);
    const to = board.slots[1];
    if (to) lines.push(`➡️ to “${safePrompt(to.text, 300)}” (${userMention(to.userId)})`);
  } else {
    lines.push(`🔲 ${userMention(board.starterId)} started a grid: four corners, filled by anyone here.`);
    board.slots.forEach((slot, index) => {
      const name = names[index] ?? `slot ${index + 1}`;
      lines.push(slot ? `• **${name}**: “${safePrompt(slot.text, 300)}” (${userMention(slot.userId)})` : `• **${name}**: *open*`);
    });
    lines.push(board.allowMultiple ? 'Members may add more than one corner.' : 'One corner per member.');
  }
  const open = board.slots.filter((s) => s === undefined).length;
  if (board.status === 'open') {
    lines.push(`Closes <t:${Math.floor(board.expiresAt / 1000)}:R>.`);
    const add = button(ids.make('add', board.id), board.kind === 'morph' ? 'Set where it goes' : `Add a corner (${open} open)`, ButtonStyle.Primary, '✏️');
    const cancel = button(ids.make('bcancel', board.id), 'Cancel board', ButtonStyle.Secondary);
    return view(lines.join('\n'), { components: [row(add, cancel)] });
  }
  if (board.status === 'complete') lines.push(`✅ Complete, credits to ${credits(boardContributors(board))}.`);
  if (board.status === 'cancelled') lines.push(`🛑 Cancelled${board.closedBy ? ` by ${userMention(board.closedBy)}` : ''}.`);
  if (board.status === 'expired') lines.push(`⌛ This board expired before ${board.kind === 'morph' ? 'anyone set where it goes' : 'all four corners were filled'}; start a new one with /${board.kind}.`);
  return view(lines.join('\n'));
}

/** A complete board whose job could not be queued: the reason and a button to try again. */
export function boardRetryView(ids: CustomIds, board: Board, reason: string): MessageView {
  const base = boardView(ids, { ...board, status: 'complete' });
  const retry = button(ids.make('bretry', board.id), 'Queue it', ButtonStyle.Primary);
  return view(`${base.content}\n⚠️ It could not be queued: ${reason}`, { components: [row(retry)] });
}

// ---------------------------------------------------------------------------------------------------------
// Queue listing.

export function queueListView(guildName: string, jobs: readonly JobListing[]): MessageView {
  if (jobs.length === 0) return view(`📭 Nothing is queued in ${safePrompt(guildName, 100)}. Start something with /morph, /grid, /loop, /walk or /chain.`);
  const lines = jobs.slice(0, 20).map((job, index) => {
    const who = userMention(job.userId);
    if (job.state === 'active') {
      const p = job.progress;
      const bar = p ? ` \`${progressBar(p.framesDone, p.framesTotal, 8)}\` ${describeProgress(job.kind, p)}` : '';
      return `${index + 1}. 🎨 **${job.kind}** by ${who}: rendering${bar} · \`${job.jobId}\``;
    }
    const place = job.positionInGuild !== undefined ? `${ordinal(job.positionInGuild)} in line${job.position !== undefined ? ` (${ordinal(job.position)} overall)` : ''}` : job.state;
    return `${index + 1}. ⏳ **${job.kind}** by ${who}: ${place} · \`${job.jobId}\``;
  });
  if (jobs.length > 20) lines.push(`…and ${jobs.length - 20} more.`);
  return view(`**Queue in ${safePrompt(guildName, 100)}**\n${lines.join('\n')}`);
}

export function ephemeralText(content: string): MessageView {
  return view(content);
}
