/** The shape `/loop` and `/walk` share: one prompt from the requester, rendered at once. */
import { InteractionContextType, SlashCommandBuilder } from 'discord.js';
import type { SlashCommand } from '../bot/types.ts';
import { checkOptions, checkPrompt } from '../bot/validation.ts';
import type { JobLimits } from '../jobs/index.ts';
import { addRenderOptions, answeringInputErrors, promptOption, readRenderOptions, type RenderOptionName } from './options.ts';

export interface SinglePromptCommandSpec {
  kind: 'loop' | 'walk';
  description: string;
  promptDescription: string;
  options: readonly RenderOptionName[];
}

export function singlePromptCommand(spec: SinglePromptCommandSpec): SlashCommand {
  const definition = (limits: JobLimits) => {
    const data = new SlashCommandBuilder()
      .setName(spec.kind)
      .setDescription(spec.description)
      .setContexts(InteractionContextType.Guild)
      .addStringOption((o) => promptOption(o, 'prompt', spec.promptDescription, limits).setRequired(true));
    addRenderOptions(data, spec.options, limits);
    return data.toJSON();
  };
  return {
    name: spec.kind,
    definition,
    async execute(interaction, bot) {
      await answeringInputErrors(interaction, bot, async () => {
        const guild = await bot.render.preflight(interaction);
        const limits = bot.jobs.config.limits;
        const prompt = checkPrompt(interaction.options.getString('prompt'), 'prompt', limits, guild);
        const options = readRenderOptions(interaction);
        checkOptions(spec.kind, options, limits, guild);
        await bot.render.checkRenderable(options);
        const me = interaction.user.id;
        await bot.render.queueFresh(interaction, {
          kind: spec.kind,
          prompts: [{ text: prompt, contributorId: me }],
          settings: bot.render.settingsFor(spec.kind, options, guild),
          requesterId: me,
          contributors: [me],
          maxBytes: bot.render.maxBytesFor(interaction, guild),
        });
      });
    },
  };
}
