/** `/queue`: this server's jobs, rendering first, then waiting in the order they will start. */
import { InteractionContextType, MessageFlags, SlashCommandBuilder } from 'discord.js';
import { toDiscordOptions } from '../bot/replies/JobMessages.ts';
import { queueListView } from '../bot/replies/views.ts';
import type { SlashCommand } from '../bot/types.ts';

const data = new SlashCommandBuilder()
  .setName('queue')
  .setDescription("This server's render queue: what is rendering and what waits, in order")
  .setContexts(InteractionContextType.Guild);

export const queue = {
  name: 'queue',
  definition: () => data.toJSON(),
  async execute(interaction, bot) {
    if (!interaction.inGuild()) {
      await bot.render.tell(interaction, 'The queue is per server: use /queue in a server channel.');
      return;
    }
    await interaction.deferReply({ flags: MessageFlags.Ephemeral });
    const jobs = await bot.jobs.list({ guildId: interaction.guildId, limit: 50 });
    const name = interaction.guild?.name ?? 'this server';
    const { files: _files, ...options } = toDiscordOptions(queueListView(name, jobs));
    await interaction.editReply(options);
  },
} satisfies SlashCommand;
