/**
 * `/grid [p1] [p2] [p3] [p4]`: a four-corner interpolation grid. With all four prompts it renders at once;
 * otherwise it posts a board where members of the channel fill the open corners (one each unless
 * `allow_multiple`), and the grid renders when the fourth corner is in, crediting every contributor.
 */
import { InteractionContextType, SlashCommandBuilder } from 'discord.js';
import type { SlashCommand } from '../bot/types.ts';
import { checkOptions, checkPrompt } from '../bot/validation.ts';
import type { JobLimits } from '../jobs/index.ts';
import { addRenderOptions, answeringInputErrors, promptOption, readRenderOptions } from './options.ts';

const CORNERS = ['top-left', 'top-right', 'bottom-left', 'bottom-right'];

function definition(limits: JobLimits) {
  const data = new SlashCommandBuilder()
    .setName('grid')
    .setDescription('A grid blending four prompts at its corners; leave corners empty for others to fill')
    .setContexts(InteractionContextType.Guild);
  CORNERS.forEach((corner, index) => {
    data.addStringOption((o) => promptOption(o, `p${index + 1}`, `The ${corner} prompt`, limits));
  });
  addRenderOptions(data, ['grid_size', 'vary_latents', 'seed', 'steps', 'guidance', 'size'], limits);
  data.addBooleanOption((o) => o.setName('allow_multiple').setDescription('Let one member fill more than one corner'));
  return data.toJSON();
}

export const grid = {
  name: 'grid',
  definition,
  async execute(interaction, bot) {
    await answeringInputErrors(interaction, bot, async () => {
      const guild = await bot.render.preflight(interaction);
      const limits = bot.jobs.config.limits;
      const slots = CORNERS.map((corner, index) => {
        const raw = interaction.options.getString(`p${index + 1}`);
        return raw === null ? undefined : checkPrompt(raw, `${corner} prompt (p${index + 1})`, limits, guild);
      });
      const options = readRenderOptions(interaction);
      checkOptions('grid', options, limits, guild);
      await bot.render.checkRenderable(options);
      const settings = bot.render.settingsFor('grid', options, guild);
      const maxBytes = bot.render.maxBytesFor(interaction, guild);
      const me = interaction.user.id;
      if (slots.every((slot) => slot !== undefined)) {
        await bot.render.queueFresh(interaction, {
          kind: 'grid',
          prompts: slots.map((text) => ({ text: text!, contributorId: me })),
          settings,
          requesterId: me,
          contributors: [me],
          maxBytes,
        });
        return;
      }
      // queueFresh holds the place atomically; a board only gets an early look, its job is queued later.
      await bot.render.checkMemberCap(interaction.guildId!, me, guild);
      const allowMultiple = interaction.options.getBoolean('allow_multiple') ?? false;
      await bot.boardFlow.start(interaction, { kind: 'grid', slots, allowMultiple, settings, maxBytes });
    });
  },
} satisfies SlashCommand;
