/**
 * A `/chain` board as a message: its stops in order with their authors, and while it is open the buttons to
 * add (or change, or take out) one's stop, to move a stop up, to close it and to cancel it. Everything else a
 * chain shows (queued, progress, the result) is every job's view.
 */
import { ButtonStyle } from 'discord.js';
import { boardContributors, type Board } from '../boards/BoardStore.ts';
import { CHAIN_MIN_STOPS } from '../boards/ChainStore.ts';
import type { CustomIds } from '../customIds.ts';
import { safePrompt, userMention } from './text.ts';
import { button, credits, row, view, type MessageView } from './views.ts';

/** The board's stops share this much of the message, so the lines after them always fit. */
const STOPS_SHARE = 1300;

/** The custom id target of "move stop `index` up": the board id and the stop's index. */
export function moveTarget(boardId: string, index: number): string {
  return `${boardId}.${index}`;
}

export function parseMoveTarget(target: string): { boardId: string; index: number } | undefined {
  const match = /^(.+)\.(\d)$/.exec(target);
  return match ? { boardId: match[1]!, index: Number(match[2]) } : undefined;
}

export function chainBoardView(ids: CustomIds, board: Board): MessageView {
  const stops = board.slots.flatMap((slot) => (slot ? [slot] : []));
  const max = board.maxStops ?? stops.length;
  const lines = [`⛓️ ${userMention(board.starterId)} started a chain: every member adds a stop, and one loop is rendered through all of them and back to the first.`];
  // A picture's name (24 code points at most, and its marker) comes out of the stops' share.
  const pictures = stops.filter((stop) => stop.image).length;
  const per = Math.max(40, Math.floor((STOPS_SHARE - 30 * pictures) / Math.max(1, stops.length)));
  stops.forEach((stop, i) => lines.push(`${i + 1}. “${safePrompt(stop.text, per)}”${stop.image ? ` 🖼️ ${safePrompt(stop.image.name, 24)}` : ''} (${userMention(stop.userId)})`));
  if (board.status === 'open') {
    lines.push(`**${stops.length} of ${max} stops.** One stop per member: press the button again to change yours, or leave it empty to take it out.`);
    lines.push(`${userMention(board.starterId)} can move stops up and close the chain (${CHAIN_MIN_STOPS} stops at least); it renders by itself at ${max} stops.`);
    lines.push(`Closes <t:${Math.floor(board.expiresAt / 1000)}:R>.`);
    const actions = row(
      button(ids.make('cadd', board.id), 'Add or change your stop', ButtonStyle.Primary, '✏️'),
      button(ids.make('cclose', board.id), 'Close and render', ButtonStyle.Success, '▶️').setDisabled(stops.length < CHAIN_MIN_STOPS),
      button(ids.make('bcancel', board.id), 'Cancel board', ButtonStyle.Secondary),
    );
    // Stop 2 up to the last: "move up" swaps it with the one before it (the starter's; any order in a few presses).
    const moves = stops.slice(1).map((_, k) => button(ids.make('cmove', moveTarget(board.id, k + 1)), `Move ${k + 2} up`, ButtonStyle.Secondary, '⬆️'));
    const moveRows = [];
    for (let i = 0; i < moves.length; i += 5) moveRows.push(row(...moves.slice(i, i + 5)));
    return view(lines.join('\n'), { components: [actions, ...moveRows] });
  }
  if (board.status === 'complete') lines.push(`✅ Closed with ${stops.length} stops${board.closedBy ? ` by ${userMention(board.closedBy)}` : ''}; credits to ${credits(boardContributors(board))}.`);
  if (board.status === 'cancelled') lines.push(`🛑 Cancelled${board.closedBy ? ` by ${userMention(board.closedBy)}` : ''}.`);
  if (board.status === 'expired') lines.push(`⌛ This chain expired before it was closed (${stops.length} of ${max} stops); start a new one with /chain.`);
  return view(lines.join('\n'));
}
