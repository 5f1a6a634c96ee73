/**
 * Options shared by the render commands, their registration bounds (Discord enforces these in the client) and
 * reading them back. The tighter, per-guild limits are checked by the bot (validation.ts) with a message.
 */
import type { ChatInputCommandInteraction, SlashCommandOptionsOnlyBuilder } from 'discord.js';
import { MAX_SEED, type RenderOptions } from '../bot/validation.ts';
import { InputError } from '../bot/validation.ts';
import type { BotContext } from '../bot/types.ts';

/** Discord's own cap on string options; the job layer's prompt limit is checked with a message. */
export const PROMPT_OPTION_MAX = 1000;

export type RenderOptionName = 'frames' | 'seed' | 'steps' | 'guidance' | 'fps' | 'size' | 'grid_size' | 'vary_latents' | 'step_size';

/** Adds the named options (in this order) to a command. */
export function addRenderOptions(builder: SlashCommandOptionsOnlyBuilder, names: readonly RenderOptionName[]): void {
  for (const name of names) {
    switch (name) {
      case 'frames':
        builder.addIntegerOption((o) => o.setName('frames').setDescription('Frames to render (the server sets the maximum)').setMinValue(2).setMaxValue(120));
        break;
      case 'seed':
        builder.addIntegerOption((o) => o.setName('seed').setDescription('Noise seed; the same seed renders the same picture').setMinValue(0).setMaxValue(MAX_SEED));
        break;
      case 'steps':
        builder.addIntegerOption((o) => o.setName('steps').setDescription('Denoising steps (more is slower and finer)').setMinValue(1).setMaxValue(200));
        break;
      case 'guidance':
        builder.addNumberOption((o) => o.setName('guidance').setDescription('How strongly to follow the prompt (0-30)').setMinValue(0).setMaxValue(30));
        break;
      case 'fps':
        builder.addNumberOption((o) => o.setName('fps').setDescription('Playback speed in frames per second').setMinValue(1).setMaxValue(50));
        break;
      case 'size':
        builder.addIntegerOption((o) => o.setName('size').setDescription('Width and height in pixels (a multiple of 16)').setMinValue(16).setMaxValue(2048));
        break;
      case 'grid_size':
        builder.addIntegerOption((o) => o.setName('grid_size').setDescription('Cells per side of the grid').setMinValue(2).setMaxValue(16));
        break;
      case 'vary_latents':
        builder.addBooleanOption((o) => o.setName('vary_latents').setDescription('Give every cell its own noise too'));
        break;
      case 'step_size':
        builder.addNumberOption((o) => o.setName('step_size').setDescription('How far each frame moves (-1 to 1)').setMinValue(-1).setMaxValue(1));
        break;
    }
  }
}

export function readRenderOptions(interaction: ChatInputCommandInteraction): RenderOptions {
  const options: RenderOptions = {};
  const int = (name: string) => interaction.options.getInteger(name) ?? undefined;
  const num = (name: string) => interaction.options.getNumber(name) ?? undefined;
  const set = <K extends keyof RenderOptions>(key: K, value: RenderOptions[K] | undefined) => {
    if (value !== undefined) options[key] = value;
  };
  set('frames', int('frames'));
  set('seed', int('seed'));
  set('steps', int('steps'));
  set('guidance', num('guidance'));
  set('fps', num('fps'));
  set('size', int('size'));
  set('gridSize', int('grid_size'));
  set('varyLatents', interaction.options.getBoolean('vary_latents') ?? undefined);
  set('stepSize', num('step_size'));
  return options;
}

/** Runs `work`; an InputError becomes the ephemeral answer (bad input never reaches the queue or the logs). */
export async function answeringInputErrors(interaction: ChatInputCommandInteraction, bot: BotContext, work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch (error) {
    if (error instanceof InputError) {
      await bot.render.tell(interaction, `⚠️ ${error.message}`);
      return;
    }
    throw error;
  }
}
