/**
 * The modal a chain's "add or change your stop" button opens: one text input, filled in with the member's
 * stop when they have one, and not required: an empty stop takes theirs out of the chain. Then an optional
 * picture (a file upload: the stop starts from it, the text says what it shows) and how much of it to redraw.
 * Every text in it is cut by fit.ts before a builder sees it.
 */
import { FileUploadBuilder, LabelBuilder, ModalBuilder, TextInputBuilder, TextInputStyle, type APIModalInteractionResponseCallbackData } from 'discord.js';
import { DEFAULT_IMAGE_STRENGTH } from '../../jobs/inputImages.ts';
import type { CustomIds } from '../customIds.ts';
import { fitText, LIMITS } from '../replies/fit.ts';
import { PROMPT_INPUT_ID } from './boardModal.ts';
import type { Board } from './BoardStore.ts';

export const PICTURE_INPUT_ID = 'picture';
export const STRENGTH_INPUT_ID = 'strength';
/** As /morph's strength option. */
export const STOP_STRENGTH = { min: 0.05, max: 1 };

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
  const had = mine >= 0 ? stops[mine]!.image : undefined;
  const picture = new LabelBuilder()
    .setLabel(fitText('A picture for your stop (optional)', LIMITS.labelText))
    .setDescription(
      fitText(
        had ? `Yours starts from ${had.name}: attach it again to keep it. PNG, JPEG, WebP or GIF, about square.` : 'It starts from this picture; your stop says what it shows. PNG, JPEG, WebP or GIF, about square.',
        LIMITS.labelDescription,
      ),
    )
    .setFileUploadComponent(new FileUploadBuilder().setCustomId(PICTURE_INPUT_ID).setRequired(false).setMinValues(1).setMaxValues(1));
  const strength = new LabelBuilder()
    .setLabel(fitText('With a picture: how much to redraw (optional)', LIMITS.labelText))
    .setDescription(`From ${STOP_STRENGTH.min} (keep the picture) to 1 (only its colours); default ${DEFAULT_IMAGE_STRENGTH}`)
    .setTextInputComponent(new TextInputBuilder().setCustomId(STRENGTH_INPUT_ID).setStyle(TextInputStyle.Short).setRequired(false).setMaxLength(6).setPlaceholder(String(DEFAULT_IMAGE_STRENGTH)));
  return new ModalBuilder()
    .setCustomId(ids.make('cfill', board.id))
    .setTitle(fitText('Your stop on the chain', LIMITS.modalTitle))
    .addLabelComponents(label, picture, strength)
    .toJSON();
}
