/**
 * The modal a board's "add" button opens: one text input for the member's prompt. Every text in it is cut by
 * fit.ts before a builder sees it (the builders throw past their limits, counted in UTF-16 units), so a
 * `from` prompt full of emoji still opens the modal.
 */
import { LabelBuilder, ModalBuilder, TextInputBuilder, TextInputStyle, type APIModalInteractionResponseCallbackData } from 'discord.js';
import type { CustomIds } from '../customIds.ts';
import { fitText, LIMITS } from '../replies/fit.ts';
import { SLOT_NAMES } from '../replies/views.ts';
import type { Board } from './BoardStore.ts';

export const PROMPT_INPUT_ID = 'prompt';

/**
 * `maxChars`: the longest prompt the bot accepts (Discord's own cap on a text input is 4000). `example`: a
 * prompt the running model knows (its suggestions), shown as the placeholder: Discord modals have no
 * autocomplete, so this is where a board suggests a prompt. Without one, a generic example.
 */
export function boardModal(ids: CustomIds, board: Board, maxChars: number, example?: string): APIModalInteractionResponseCallbackData {
  const morph = board.kind === 'morph';
  const fallback = morph ? 'a city skyline at night' : 'a field of sunflowers';
  const input = new TextInputBuilder()
    .setCustomId(PROMPT_INPUT_ID)
    .setStyle(TextInputStyle.Paragraph)
    .setRequired(true)
    .setMinLength(1)
    .setMaxLength(Math.min(LIMITS.textInputValue, maxChars))
    .setPlaceholder(fitText(`e.g. ${example ?? fallback}`, LIMITS.textInputPlaceholder));
  const open = board.slots.flatMap((slot, i) => (slot ? [] : [SLOT_NAMES.grid[i] ?? `slot ${i + 1}`]));
  // Plain text (a modal renders no markdown); the quotes stay whole around a cut prompt.
  const quote = (text: string) => `“${fitText(text, LIMITS.labelDescription - 'From “”'.length)}”`;
  const description = morph ? `From ${quote(board.slots[0]?.text ?? '')}` : `Open corners: ${open.join(', ') || 'none'}`;
  const label = new LabelBuilder()
    .setLabel(fitText(morph ? 'Where should the morph go?' : 'Your corner prompt', LIMITS.labelText))
    .setDescription(fitText(description, LIMITS.labelDescription))
    .setTextInputComponent(input);
  return new ModalBuilder()
    .setCustomId(ids.make('fill', board.id))
    .setTitle(fitText(morph ? 'Finish the morph' : 'Add a corner to the grid', LIMITS.modalTitle))
    .addLabelComponents(label)
    .toJSON();
}
