/**
 * `/cancel [job]`: cancels one of your jobs (your most recent one when no id is given). Members with Manage
 * Messages may cancel any job in the server; contributors may cancel the jobs they wrote prompts for.
 */
import { InteractionContextType, MessageFlags, SlashCommandBuilder } from 'discord.js';
import { fitText, LIMITS } from '../bot/replies/fit.ts';
import { NO_MENTIONS } from '../bot/replies/views.ts';
import type { SlashCommand } from '../bot/types.ts';

const data = new SlashCommandBuilder()
  .setName('cancel')
  .setDescription('Cancel a queued or rendering job (yours, unless you have Manage Messages)')
  .setContexts(InteractionContextType.Guild)
  .addStringOption((o) =>
    o.setName('job').setDescription('The job id shown by /queue (default: your most recent job)').setMinLength(1).setMaxLength(100),
  );

const JOB_ID = /^[A-Za-z0-9_.-]{1,100}$/;

export const cancel = {
  name: 'cancel',
  definition: () => data.toJSON(),
  async execute(interaction, bot) {
    if (!interaction.inGuild()) {
      await bot.render.tell(interaction, 'Jobs belong to a server: use /cancel in the server channel where you started the job.');
      return;
    }
    const given = interaction.options.getString('job')?.trim();
    if (given !== undefined && !JOB_ID.test(given)) {
      await bot.render.tell(interaction, 'That is not a job id: copy one from /queue (it looks like `render-1234…`).');
      return;
    }
    await interaction.deferReply({ flags: MessageFlags.Ephemeral });
    let jobId = given;
    if (!jobId) {
      const mine = (await bot.jobs.list({ guildId: interaction.guildId, limit: 500 }))
        .filter((job) => job.userId === interaction.user.id)
        .sort((a, b) => b.createdAt - a.createdAt);
      jobId = mine[0]?.jobId;
      if (!jobId) {
        await interaction.editReply({ content: 'You have nothing queued or rendering in this server.', allowedMentions: NO_MENTIONS });
        return;
      }
    }
    const answer = await bot.render.cancel(interaction, jobId);
    await interaction.editReply({ content: fitText(answer, LIMITS.content), allowedMentions: NO_MENTIONS });
  },
} satisfies SlashCommand;
