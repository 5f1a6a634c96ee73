/**
 * `/chain [prompt] [stops]`: a board where members each add a stop (2 to 8, one per member; `prompt` is the
 * starter's own). The starter can move stops up and close it; it also closes by itself once it has `stops`
 * (LATENTWALK_CHAIN_STOPS unless set). Then one seamless loop is rendered through every stop and back to the
 * first, credited to every member with their stop.
 */
import { InteractionContextType, SlashCommandBuilder } from 'discord.js';
import type { SlashCommand } from '../bot/types.ts';
import { checkOptions, checkPrompt, InputError, renderOptionBounds } from '../bot/validation.ts';
import { CHAIN_STOPS, type JobLimits } from '../jobs/index.ts';
import { addRenderOptions, answeringInputErrors, promptOption, readRenderOptions } from './options.ts';

function definition(limits: JobLimits) {
  const data = new SlashCommandBuilder()
    .setName('chain')
    .setDescription('A loop through a stop from each member and back to the first; members add stops on a board')
    .setContexts(InteractionContextType.Guild)
    .addStringOption((o) => promptOption(o, 'prompt', 'Your own stop, the first (empty: add it on the board, or leave it to others)', limits))
    .addIntegerOption((o) =>
      o
        .setName('stops')
        .setDescription(`Stops that close the chain by themselves (${CHAIN_STOPS.min}-${CHAIN_STOPS.max}); you can close it sooner`)
        .setMinValue(CHAIN_STOPS.min)
        .setMaxValue(Math.min(CHAIN_STOPS.max, renderOptionBounds(limits).frames.max)),
    );
  addRenderOptions(data, ['frames', 'seed', 'steps', 'guidance', 'fps', 'size', 'format'], limits);
  return data.toJSON();
}

export const chain = {
  name: 'chain',
  definition,
  async execute(interaction, bot) {
    await answeringInputErrors(interaction, bot, async () => {
      const guild = await bot.render.preflight(interaction);
      const limits = bot.jobs.config.limits;
      const raw = interaction.options.getString('prompt');
      const first = raw === null ? undefined : checkPrompt(raw, 'first stop (prompt)', limits, guild);
      const options = readRenderOptions(interaction);
      checkOptions('chain', options, limits, guild);
      // Every stop is a frame: a chain takes no more stops than this server renders frames.
      const maxFrames = Math.min(guild.maxFrames, limits.maxFrames);
      const stops = interaction.options.getInteger('stops') ?? Math.min(bot.config.chainStops, maxFrames);
      if (stops < CHAIN_STOPS.min || stops > CHAIN_STOPS.max) throw new InputError(`stops must be from ${CHAIN_STOPS.min} to ${CHAIN_STOPS.max}.`);
      if (stops > maxFrames) throw new InputError(`This server renders at most ${maxFrames} frames, and every stop is one: ask for ${maxFrames} stops or fewer.`);
      await bot.render.checkRenderable(options);
      const settings = bot.render.settingsFor('chain', options, guild);
      const maxBytes = bot.render.maxBytesFor(interaction, guild);
      // The job is queued when the chain closes (queueFresh-like atomic hold then); a board only gets an early look.
      await bot.render.checkMemberCap(interaction.guildId!, interaction.user.id, guild);
      await bot.boardFlow.start(interaction, { kind: 'chain', slots: first === undefined ? [] : [first], allowMultiple: false, maxStops: stops, settings, maxBytes });
    });
  },
} satisfies SlashCommand;
