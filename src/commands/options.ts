/**
 * Options shared by the render commands, their registration bounds and reading them back. The bounds come
 * from the limits the bot enforces (validation.ts renderOptionBounds), so Discord's client refuses an
 * out-of-range value before the bot sees it; the tighter, per-guild limits are checked by the bot with a
 * message.
 */
import type { ChatInputCommandInteraction, SlashCommandOptionsOnlyBuilder, SlashCommandStringOption } from 'discord.js';
import type { BotContext } from '../bot/types.ts';
import { InputError, renderOptionBounds, type RenderOptions } from '../bot/validation.ts';
import type { JobLimits } from '../jobs/index.ts';
import { ANIMATION_FORMATS, type AnimationFormat } from '../jobs/contract.ts';

export type RenderOptionName = 'frames' | 'seed' | 'steps' | 'guidance' | 'fps' | 'size' | 'grid_size' | 'vary_latents' | 'step_size' | 'format';

/** The animation formats as Discord choices (shared with /settings' default). */
export const FORMAT_CHOICES = [
  { name: 'GIF (plays everywhere, 256 colours)', value: 'gif' },
  { name: 'MP4 video (smallest, full colour)', value: 'mp4' },
  { name: 'WebP animation (full colour)', value: 'webp' },
] as const satisfies readonly { name: string; value: AnimationFormat }[];

/**
 * A prompt option: at most as long as the bot accepts (code points, as Discord counts), with autocomplete
 * (the running model's suggestions as the member types; none for models that declare none). Autocomplete
 * options cannot also have fixed `choices`.
 */
export function promptOption(o: SlashCommandStringOption, name: string, description: string, limits: JobLimits): SlashCommandStringOption {
  const { min, max } = renderOptionBounds(limits).promptChars;
  return o.setName(name).setDescription(description).setMinLength(min).setMaxLength(max).setAutocomplete(true);
}

/** Adds the named options (in this order) to a command. */
export function addRenderOptions(builder: SlashCommandOptionsOnlyBuilder, names: readonly RenderOptionName[], limits: JobLimits): void {
  const b = renderOptionBounds(limits);
  for (const name of names) {
    switch (name) {
      case 'frames':
        builder.addIntegerOption((o) => o.setName('frames').setDescription('Frames to render (the server may allow fewer)').setMinValue(b.frames.min).setMaxValue(b.frames.max));
        break;
      case 'seed':
        builder.addIntegerOption((o) => o.setName('seed').setDescription('Noise seed; the same seed renders the same picture').setMinValue(b.seed.min).setMaxValue(b.seed.max));
        break;
      case 'steps':
        builder.addIntegerOption((o) => o.setName('steps').setDescription('Denoising steps (more is slower and finer)').setMinValue(b.steps.min).setMaxValue(b.steps.max));
        break;
      case 'guidance':
        builder.addNumberOption((o) =>
          o.setName('guidance').setDescription(`How strongly to follow the prompt (${b.guidance.min}-${b.guidance.max})`).setMinValue(b.guidance.min).setMaxValue(b.guidance.max),
        );
        break;
      case 'fps':
        builder.addNumberOption((o) => o.setName('fps').setDescription('Playback speed in frames per second').setMinValue(b.fps.min).setMaxValue(b.fps.max));
        break;
      case 'size':
        builder.addIntegerOption((o) => o.setName('size').setDescription('Width and height in pixels (a multiple of 16)').setMinValue(b.size.min).setMaxValue(b.size.max));
        break;
      case 'grid_size':
        builder.addIntegerOption((o) => o.setName('grid_size').setDescription('Cells per side of the grid').setMinValue(b.gridSize.min).setMaxValue(b.gridSize.max));
        break;
      case 'vary_latents':
        builder.addBooleanOption((o) => o.setName('vary_latents').setDescription('Give every cell its own noise too'));
        break;
      case 'format':
        builder.addStringOption((o) => o.setName('format').setDescription("File type (default: this server's)").addChoices(...FORMAT_CHOICES));
        break;
      case 'step_size':
        builder.addNumberOption((o) =>
          o.setName('step_size').setDescription(`How far each frame moves (${b.stepSize.min} to ${b.stepSize.max})`).setMinValue(b.stepSize.min).setMaxValue(b.stepSize.max),
        );
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
  const format = interaction.options.getString('format');
  if (format !== null) {
    if (!(ANIMATION_FORMATS as readonly string[]).includes(format)) throw new InputError(`format must be one of ${ANIMATION_FORMATS.join(', ')}.`);
    options.format = format as AnimationFormat;
  }
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
