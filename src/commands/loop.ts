/** `/loop prompt:<p>`: a seamless looping walk through the noise around one prompt. */
import { InteractionContextType, SlashCommandBuilder } from 'discord.js';
import type { SlashCommand } from '../bot/types.ts';
import { checkOptions, checkPrompt } from '../bot/validation.ts';
import { addRenderOptions, answeringInputErrors, PROMPT_OPTION_MAX, readRenderOptions } from './options.ts';

const data = new SlashCommandBuilder()
  .setName('loop')
  .setDescription('A seamless looping animation around one prompt')
  .setContexts(InteractionContextType.Guild)
  .addStringOption((o) => o.setName('prompt').setDescription('What to loop around').setRequired(true).setMaxLength(PROMPT_OPTION_MAX));
addRenderOptions(data, ['frames', 'seed', 'fps', 'steps', 'guidance', 'size']);

export const loop = {
  data,
  async execute(interaction, bot) {
    await answeringInputErrors(interaction, bot, async () => {
      const guild = await bot.render.preflight(interaction);
      const limits = bot.jobs.config.limits;
      const prompt = checkPrompt(interaction.options.getString('prompt'), 'prompt', limits, guild);
      const options = readRenderOptions(interaction);
      checkOptions('loop', options, limits, guild);
      await bot.render.checkMemberCap(interaction.guildId!, interaction.user.id, guild);
      const me = interaction.user.id;
      await bot.render.queueFresh(interaction, {
        kind: 'loop',
        prompts: [{ text: prompt, contributorId: me }],
        settings: bot.render.settingsFor('loop', options, guild),
        requesterId: me,
        contributors: [me],
        maxBytes: bot.render.maxBytesFor(interaction, guild),
      });
    });
  },
} satisfies SlashCommand;
