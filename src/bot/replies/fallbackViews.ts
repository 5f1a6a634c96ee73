/**
 * The views a result falls back to when Discord refuses the one it should have (JobMessages.postFinal walks
 * down them): the same result without the embed's long fields, then text without the file saying how to get
 * it, and the note left on the request message when the result cannot be posted at all. Short and built only
 * from ids, numbers and fixed words, so they pass where a prompt-bearing message was refused.
 */
import type { JobResult } from '../../jobs/index.ts';
import type { CustomIds } from '../customIds.ts';
import type { PendingReply } from '../PendingReplies.ts';
import { fitText, LIMITS } from './fit.ts';
import { formatBytes, userMention } from './text.ts';
import { afterButtons, artifactFileName, NO_MENTIONS, row, type MessageView } from './views.ts';

/** The opening line of a fallback: who it is for (when posted as a new message) and what it is. */
function lead(reply: PendingReply, late: boolean, what: string): string {
  return late ? `${userMention(reply.requesterId)}, your ${reply.kind} ${what}` : `Your ${reply.kind} ${what}`;
}

/**
 * `full` without what can make a message too long or otherwise refused: the prompts, the credits and the
 * notes on cut prompts and reductions (every non-inline embed field), and a content line without prompts.
 */
export function compactView(full: MessageView, reply: PendingReply, late: boolean): MessageView {
  return {
    ...full,
    content: `✅ ${lead(reply, late, 'is ready')} (job \`${reply.jobId}\`).`,
    embeds: full.embeds.map(({ description: _d, fields, ...embed }) => ({ ...embed, fields: (fields ?? []).filter((f) => f.inline) })),
  };
}

/**
 * The result without its file (Discord refused it, or the bot may not attach files here): what it is and how
 * an operator can save it while it is kept (`latentwalk jobs show <id> --out FILE`).
 */
export function fileRefusedView(ids: CustomIds, reply: PendingReply, result: JobResult, late: boolean, code: number | undefined): MessageView {
  const outcome = result.outcome;
  const lines: string[] = [];
  if (outcome.status === 'done') {
    const name = artifactFileName(reply, outcome.artifact.extension);
    const why =
      code === 50013
        ? 'I am not allowed to attach files in this channel'
        : code === undefined
          ? 'Discord refused every message carrying it'
          : `Discord refused the file here (error ${code})`;
    lines.push(`⚠️ ${lead(reply, late, 'is ready')}, but ${why}: ${name}, ${formatBytes(outcome.artifact.bytes)}, seed ${reply.settings.seed}.`);
    lines.push(
      `A bot operator can save it until <t:${Math.floor(outcome.artifact.expiresAt / 1000)}:f> with \`latentwalk jobs show ${result.jobId} --out ${name}\`; or press Reroll to render it again.`,
    );
  } else {
    lines.push(`⚠️ ${lead(reply, late, outcome.status === 'failed' ? 'failed' : 'was cancelled')} (job \`${result.jobId}\`).`);
  }
  return {
    content: fitText(lines.join('\n'), LIMITS.content),
    embeds: [],
    components: outcome.status === 'cancelled' ? [] : [row(...afterButtons(ids, reply.jobId))],
    allowedMentions: NO_MENTIONS,
  };
}

/** Left on the request message when the result could not be posted anywhere in the channel. */
export function undeliveredView(reply: PendingReply, reason: string): MessageView {
  return {
    content: fitText(
      `⚠️ ${lead(reply, false, 'finished')}, but I could not post it here: ${reason}. Ask a server admin to check my access to this channel, then run the command again (job \`${reply.jobId}\`).`,
      LIMITS.content,
    ),
    embeds: [],
    components: [],
    allowedMentions: NO_MENTIONS,
  };
}
