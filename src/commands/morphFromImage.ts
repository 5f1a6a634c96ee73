/**
 * "Morph from this image" (Apps → on any message with an image attachment): a message context menu command.
 * It checks the message's first image attachment (what Discord says about it), asks for the two prompts in a
 * modal, then downloads the picture after deferring and queues a morph that starts from it.
 */
import {
  ApplicationCommandType,
  ContextMenuCommandBuilder,
  InteractionContextType,
  LabelBuilder,
  ModalBuilder,
  TextInputBuilder,
  TextInputStyle,
  type MessageContextMenuCommandInteraction,
  type ModalSubmitInteraction,
  type RESTPostAPIContextMenuApplicationCommandsJSONBody,
} from 'discord.js';
import { checkAttachment, type AttachmentInfo } from '../bot/imageInput.ts';
import { fitText, LIMITS } from '../bot/replies/fit.ts';
import type { BotContext } from '../bot/types.ts';
import { checkPrompt, InputError } from '../bot/validation.ts';
import type { JobLimits } from '../jobs/index.ts';
import { DEFAULT_IMAGE_STRENGTH } from '../jobs/inputImages.ts';
import { imageSettings, STRENGTH } from './morph.ts';

export const MORPH_FROM_IMAGE = 'Morph from this image';
const FROM_INPUT = 'from';
const TO_INPUT = 'to';
const STRENGTH_INPUT = 'strength';

export function morphFromImageDefinition(_limits: JobLimits): RESTPostAPIContextMenuApplicationCommandsJSONBody {
  return new ContextMenuCommandBuilder().setName(MORPH_FROM_IMAGE).setType(ApplicationCommandType.Message).setContexts(InteractionContextType.Guild).toJSON();
}

interface ImageMessage {
  id: string;
  attachments: { values(): Iterable<AttachmentInfo> };
}

/** The message's first attachment Discord calls an image (or the first attachment, to say why it is not one). */
function pickAttachment(message: ImageMessage): AttachmentInfo {
  const all = [...message.attachments.values()];
  const image = all.find((a) => (a.contentType ?? '').startsWith('image/')) ?? all[0];
  if (!image) throw new InputError('That message has no attachment; use "Morph from this image" on a message with a PNG, JPEG, WebP or GIF.');
  return image;
}

/** The menu: checks the picture and the channel, then opens the modal for the prompts. */
export async function onMorphFromImage(interaction: MessageContextMenuCommandInteraction, bot: BotContext): Promise<void> {
  await bot.render.preflight(interaction);
  const attachment = pickAttachment(interaction.targetMessage);
  checkAttachment(attachment);
  const limits = bot.jobs.config.limits;
  const max = Math.min(LIMITS.textInputValue, limits.maxPromptChars);
  const input = (id: string, placeholder: string) =>
    new TextInputBuilder().setCustomId(id).setStyle(TextInputStyle.Paragraph).setRequired(true).setMinLength(1).setMaxLength(max).setPlaceholder(placeholder);
  const modal = new ModalBuilder()
    .setCustomId(bot.ids.make('imgmorph', `${interaction.targetMessage.id}.${attachment.id}`))
    .setTitle(fitText('Morph from this image', LIMITS.modalTitle))
    .addLabelComponents(
      new LabelBuilder().setLabel('What the picture shows').setDescription(fitText(`Starts from ${attachment.name}`, LIMITS.labelDescription)).setTextInputComponent(input(FROM_INPUT, 'e.g. a cat on a sofa')),
      new LabelBuilder().setLabel('Where should the morph go?').setTextInputComponent(input(TO_INPUT, 'e.g. a tiger in the jungle')),
      new LabelBuilder()
        .setLabel('How much to redraw (optional)')
        .setDescription(`From ${STRENGTH.min} (keep the picture) to 1 (only its colours); default ${DEFAULT_IMAGE_STRENGTH}`)
        .setTextInputComponent(new TextInputBuilder().setCustomId(STRENGTH_INPUT).setStyle(TextInputStyle.Short).setRequired(false).setMaxLength(6).setPlaceholder(String(DEFAULT_IMAGE_STRENGTH))),
    );
  await interaction.showModal(modal);
}

/** The modal's submit: the message is read again (the attachment may be gone), then the morph is queued. */
export async function onMorphFromImageModal(interaction: ModalSubmitInteraction, bot: BotContext, target: string): Promise<void> {
  const guild = await bot.render.preflight(interaction);
  const [messageId, attachmentId] = target.split('.') as [string, string | undefined];
  const limits = bot.jobs.config.limits;
  const read = (id: string) => {
    try {
      return interaction.fields.getTextInputValue(id);
    } catch {
      throw new InputError('The form came back without a prompt; use the menu again and write both.');
    }
  };
  const from = checkPrompt(read(FROM_INPUT), '"from" prompt', limits, guild);
  const to = checkPrompt(read(TO_INPUT), '"to" prompt', limits, guild);
  const strength = readStrength(interaction);
  let message: ImageMessage;
  try {
    const channel = await bot.client.channels.fetch(interaction.channelId ?? '');
    if (!channel || !('messages' in channel)) throw new Error('not a text channel');
    message = await channel.messages.fetch(messageId);
  } catch {
    throw new InputError('I cannot read that message any more (it may have been deleted); post the image again and use the menu on it.');
  }
  const attachment = [...message.attachments.values()].find((a) => a.id === attachmentId);
  if (!attachment) throw new InputError('That image is no longer on the message; post it again and use the menu on it.');
  checkAttachment(attachment);
  const settings = bot.render.settingsFor('morph', {}, guild);
  const me = interaction.user.id;
  await bot.render.queueFresh(interaction, {
    kind: 'morph',
    prompts: [
      { text: from, contributorId: me },
      { text: to, contributorId: me },
    ],
    settings,
    requesterId: me,
    contributors: [me],
    maxBytes: bot.render.maxBytesFor(interaction, guild),
    prepare: imageSettings(bot, attachment, strength),
  });
}

function readStrength(interaction: ModalSubmitInteraction): number | null {
  let text = '';
  try {
    text = interaction.fields.getTextInputValue(STRENGTH_INPUT).trim();
  } catch {
    return null;
  }
  if (text === '') return null;
  const value = Number(text.replace(',', '.'));
  if (!Number.isFinite(value) || value < STRENGTH.min || value > STRENGTH.max) {
    throw new InputError(`How much to redraw must be a number from ${STRENGTH.min} to ${STRENGTH.max} (you wrote “${text.slice(0, 10)}”); use the menu again.`);
  }
  return value;
}
