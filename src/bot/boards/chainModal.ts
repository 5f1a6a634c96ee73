/**
 * The modal a chain's "add or change your stop" button opens: one text input, filled in with the member's
 * stop when they have one, and not required: an empty stop takes theirs out of the chain. Every text in it is
 * cut by fit.ts before a builder sees it.
 */
import { LabelBuilder, ModalBuilder, TextInputBuilder, TextInputStyle, type APIModalInteractionResponseCallbackData } from 'discord.js';
import type { CustomIds } from '../customIds.ts';
import { fitText, LIMITS } from '../replies/fit.ts';
import { PROMPT_INPUT_ID } from './boardModal.ts';
import type { Board } from './BoardStore.ts';

/**
 * `maxChars`: the longest prompt the bot accepts (Discord's own cap on a text input is 4000). `example`: a
 * prompt the running model knows, as the placeholder (modals have no autocomplete).
 */
export function chainModal(ids: CustomIds, board: Board, userId: string, maxChars: number, example?: string): APIModalInteractionResponseCallbackData {
  const stops = board.slots.filter((slot) => slot !== undefined);
  const mine = stops.findIndex((slot) => slot.userId === userId);
  const input = new TextInputBuilder()
    .setCustomId(PROMPT_INPUT_ID)
    .setStyle(TextInputStyle.Paragraph)
    .setRequired(false)
    .setMaxLength(Math.min(LIMITS.textInputValue, maxChars))
    .setPlaceholder(fitText(`e.g. ${example ?? 'a lighthouse at dusk'}`, LIMITS.textInputPlaceholder));
  if (mine >= 0) input.setValue(fitText(stops[mine]!.text, LIMITS.textInputValue));
  const max = board.maxStops ?? stops.length;
  const description =
    mine >= 0 ? `Yours is stop ${mine + 1} of ${stops.length}. Change it, or empty it to take it out.` : `${stops.length} of ${max} stops so far; yours goes after the last.`;
  const label = new LabelBuilder()
    .setLabel(fitText(mine >= 0 ? 'Your stop (empty: take it out)' : 'Your stop', LIMITS.labelText))
    .setDescription(fitText(description, LIMITS.labelDescription))
    .setTextInputComponent(input);
  return new ModalBuilder()
    .setCustomId(ids.make('cfill', board.id))
    .setTitle(fitText('Your stop on the chain', LIMITS.modalTitle))
    .addLabelComponents(label)
    .toJSON();
}
