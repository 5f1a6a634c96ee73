/**
 * `/morph from:<prompt> [to:<prompt>]`: with `to`, renders the morph at once; without it, posts a board asking
 * who sets where it goes (the first member, or the starter, to submit the modal completes it; both are credited).
 */
import { InteractionContextType, SlashCommandBuilder } from 'discord.js';
import type { SlashCommand } from '../bot/types.ts';
import { checkOptions, checkPrompt } from '../bot/validation.ts';
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
  return data.toJSON();
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
        });
      } else {
        // queueFresh holds the place atomically; a board only gets an early look, its job is queued later.
        await bot.render.checkMemberCap(interaction.guildId!, me, guild);
        await bot.boardFlow.start(interaction, { kind: 'morph', slots: [from, undefined], allowMultiple: false, settings, maxBytes });
      }
    });
  },
} satisfies SlashCommand;
