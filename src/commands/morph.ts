/**
 * `/morph from:<prompt> [to:<prompt>]`: with `to`, renders the morph at once; without it, posts a board asking
 * who sets where it goes (the first member, or the starter, to submit the modal completes it; both are credited).
 */
import { InteractionContextType, SlashCommandBuilder } from 'discord.js';
import { checkAttachment, downloadAttachmentImage, type AttachmentInfo } from '../bot/imageInput.ts';
import type { JobSettings } from '../bot/RenderService.ts';
import type { BotContext, SlashCommand } from '../bot/types.ts';
import { checkOptions, checkPrompt, InputError } from '../bot/validation.ts';
import { DEFAULT_IMAGE_STRENGTH } from '../jobs/inputImages.ts';
import type { JobLimits } from '../jobs/index.ts';
import { addRenderOptions, answeringInputErrors, promptOption, readRenderOptions } from './options.ts';

function definition(limits: JobLimits) {
  const data = new SlashCommandBuilder()
    .setName('morph')
    .setDescription('Morph from one prompt to another; leave "to" empty and someone else picks the destination')
    .setContexts(InteractionContextType.Guild)
    .addStringOption((o) => promptOption(o, 'from', 'Where the morph starts', limits).setRequired(true))
    .addStringOption((o) => promptOption(o, 'to', 'Where it ends (empty: let the channel decide)', limits));
  addRenderOptions(data, ['frames', 'seed', 'steps', 'guidance', 'fps', 'size', 'format'], limits);
  data
    .addAttachmentOption((o) => o.setName('image').setDescription('Start from this picture (PNG, JPEG, WebP or GIF, about square, up to 10 MiB)'))
    .addNumberOption((o) =>
      o.setName('strength').setDescription(`With image: how much of it is redrawn (${STRENGTH.min}-${STRENGTH.max}, default ${DEFAULT_IMAGE_STRENGTH})`).setMinValue(STRENGTH.min).setMaxValue(STRENGTH.max),
    );
  return data.toJSON();
}

export const STRENGTH = { min: 0.05, max: 1 };

function rawToIsMissing(interaction: { options: { getString(name: string): string | null } }): boolean {
  return interaction.options.getString('to') === null;
}

/** Downloads the picture after the interaction is deferred and parks it for the worker. */
export function imageSettings(bot: BotContext, image: AttachmentInfo, strength: number | null): () => Promise<Partial<JobSettings>> {
  return async () => {
    const bytes = await downloadAttachmentImage(image);
    const key = await bot.jobs.inputImages.put(bytes);
    return { image: { key, bytes: bytes.length, name: image.name.slice(0, 200) }, ...(strength !== null ? { strength } : {}) };
  };
}

export const morph = {
  name: 'morph',
  definition,
  async execute(interaction, bot) {
    await answeringInputErrors(interaction, bot, async () => {
      const guild = await bot.render.preflight(interaction);
      const limits = bot.jobs.config.limits;
      const from = checkPrompt(interaction.options.getString('from'), '"from" prompt', limits, guild);
      const rawTo = interaction.options.getString('to');
      const to = rawTo === null ? undefined : checkPrompt(rawTo, '"to" prompt', limits, guild);
      const options = readRenderOptions(interaction);
      checkOptions('morph', options, limits, guild);
      const image = interaction.options.getAttachment('image');
      const strength = interaction.options.getNumber('strength');
      if (strength !== null && !image) throw new InputError('strength only applies with an image: attach one in the image option.');
      if (image && rawToIsMissing(interaction)) throw new InputError('A morph from an image needs "to" as well (a board cannot start from an image).');
      if (image) checkAttachment(image);
      await bot.render.checkRenderable(options);
      const settings = bot.render.settingsFor('morph', options, guild);
      const maxBytes = bot.render.maxBytesFor(interaction, guild);
      const me = interaction.user.id;
      if (to !== undefined) {
        await bot.render.queueFresh(interaction, {
          kind: 'morph',
          prompts: [
            { text: from, contributorId: me },
            { text: to, contributorId: me },
          ],
          settings,
          requesterId: me,
          contributors: [me],
          maxBytes,
          ...(image ? { prepare: imageSettings(bot, image, strength) } : {}),
        });
      } else {
        // queueFresh holds the place atomically; a board only gets an early look, its job is queued later.
        await bot.render.checkMemberCap(interaction.guildId!, me, guild);
        await bot.boardFlow.start(interaction, { kind: 'morph', slots: [from, undefined], allowMultiple: false, settings, maxBytes });
      }
    });
  },
} satisfies SlashCommand;
