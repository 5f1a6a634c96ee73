/**
 * Routing of every interaction: slash commands by name, buttons and modals by their custom id's action.
 *
 * Custom ids are parsed and their signature checked first (customIds.ts): anything this bot did not make,
 * or that was altered, gets an ephemeral error and nothing else. A handler that throws never takes the bot
 * down: the member gets an ephemeral "something went wrong" and the error is logged without secrets.
 */
import { InteractionType, MessageFlags, type AutocompleteInteraction, type ButtonInteraction, type Interaction, type ModalSubmitInteraction, type RepliableInteraction } from 'discord.js';
import { COMMANDS } from '../commands/index.ts';
import { MORPH_FROM_IMAGE, onMorphFromImage, onMorphFromImageModal } from '../commands/morphFromImage.ts';
import { describeError } from './log.ts';
import type { BotContext, SlashCommand } from './types.ts';
import { InputError } from './validation.ts';
import { fitText, LIMITS } from './replies/fit.ts';
import { NO_MENTIONS } from './replies/views.ts';
import { promptChoices } from './PromptSuggestions.ts';

/** An InputError becomes the member's private answer (as a slash command's). */
async function answerInputErrors(interaction: RepliableInteraction, bot: BotContext, work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch (error) {
    if (error instanceof InputError) return bot.render.tell(interaction, `⚠️ ${error.message}`);
    throw error;
  }
}

const TAMPERED = 'That button is not one I recognise (it may have been altered, or belong to another bot). Use the slash command again.';

export class InteractionRouter {
  private readonly commands = new Map<string, SlashCommand>(COMMANDS.map((command) => [command.name, command]));

  constructor(private readonly bot: BotContext) {}

  async handle(interaction: Interaction): Promise<void> {
    if (interaction.type === InteractionType.ApplicationCommandAutocomplete) return this.onAutocomplete(interaction);
    try {
      if (interaction.isChatInputCommand()) {
        const command = this.commands.get(interaction.commandName);
        if (!command) {
          await this.bot.render.tell(interaction, `I do not know /${interaction.commandName.slice(0, 32)} any more; the command list may be out of date.`);
          return;
        }
        await command.execute(interaction, this.bot);
      } else if (interaction.isMessageContextMenuCommand()) {
        if (interaction.commandName !== MORPH_FROM_IMAGE) {
          await this.bot.render.tell(interaction, 'I do not know that menu command any more; the command list may be out of date.');
          return;
        }
        await answerInputErrors(interaction, this.bot, () => onMorphFromImage(interaction, this.bot));
      } else if (interaction.isButton()) {
        await this.onButton(interaction);
      } else if (interaction.isModalSubmit()) {
        await this.onModal(interaction);
      } else if (interaction.isRepliable()) {
        await this.bot.render.tell(interaction, 'I do not handle that kind of interaction.');
      }
    } catch (error) {
      this.bot.log.error('interaction failed', {
        type: interaction.type,
        guildId: interaction.guildId,
        command: interaction.isChatInputCommand() ? interaction.commandName : undefined,
        error: describeError(error),
      });
      if (interaction.isRepliable()) {
        const content =
          error instanceof InputError ? `⚠️ ${error.message}` : 'Something went wrong on my side and nothing was changed; please try again in a moment.';
        const payload = { content: fitText(content, LIMITS.content), flags: MessageFlags.Ephemeral as const, allowedMentions: NO_MENTIONS };
        try {
          if (interaction.deferred || interaction.replied) await interaction.followUp(payload);
          else await interaction.reply(payload);
        } catch {
          // the interaction is gone; nothing more to do
        }
      }
    }
  }

  /**
   * A member typing into a prompt option (only prompt options register autocomplete): up to 25 prompts from
   * the live models' suggestions and vocabulary, none when no model declares any. Answered within Discord's
   * 3 s: the lexicon lookup gives up after 1.5 s; any failure answers with no choices.
   */
  private async onAutocomplete(interaction: AutocompleteInteraction): Promise<void> {
    let choices: { name: string; value: string }[] = [];
    try {
      const focused = interaction.options.getFocused(true);
      if (typeof focused.value === 'string') choices = promptChoices(focused.value, await this.bot.lexicons.current());
    } catch (error) {
      this.bot.log.warn('autocomplete lookup failed', { guildId: interaction.guildId, command: interaction.commandName, error: describeError(error) });
    }
    try {
      await interaction.respond(choices);
    } catch (error) {
      // Too late, or the member typed on and Discord dropped it: nothing to tell anyone.
      this.bot.log.debug('autocomplete answer not delivered', { command: interaction.commandName, error: describeError(error) });
    }
  }

  private async onButton(interaction: ButtonInteraction): Promise<void> {
    const parsed = this.bot.ids.parse(interaction.customId);
    if (!parsed) return this.bot.render.tell(interaction, TAMPERED);
    if (!interaction.inGuild()) return this.bot.render.tell(interaction, 'These buttons only work inside a server.');
    switch (parsed.action) {
      case 'cancel':
        return this.onCancel(interaction, parsed.id);
      case 'delete':
        return this.onDelete(interaction, parsed.id);
      case 'reroll':
        return this.onReroll(interaction, parsed.id);
      case 'add':
        return this.bot.boardFlow.onAdd(interaction, parsed.id);
      case 'bcancel':
        return this.bot.boardFlow.onCancel(interaction, parsed.id);
      case 'bretry':
        return this.bot.boardFlow.onRetry(interaction, parsed.id);
      case 'cadd':
        return this.bot.chainFlow.onAdd(interaction, parsed.id);
      case 'cmove':
        return this.bot.chainFlow.onMove(interaction, parsed.id);
      case 'cclose':
        return this.bot.chainFlow.onClose(interaction, parsed.id);
      case 'fill':
      case 'cfill':
        return this.bot.render.tell(interaction, TAMPERED);
    }
  }

  private async onModal(interaction: ModalSubmitInteraction): Promise<void> {
    const parsed = this.bot.ids.parse(interaction.customId);
    if (parsed?.action === 'imgmorph') {
      if (!interaction.inGuild()) return this.bot.render.tell(interaction, 'I only render inside a server.');
      return answerInputErrors(interaction, this.bot, () => onMorphFromImageModal(interaction, this.bot, parsed.id));
    }
    if (!parsed || (parsed.action !== 'fill' && parsed.action !== 'cfill')) return this.bot.render.tell(interaction, TAMPERED);
    if (!interaction.inGuild()) return this.bot.render.tell(interaction, 'Boards only work inside a server.');
    if (parsed.action === 'cfill') return this.bot.chainFlow.onFill(interaction, parsed.id);
    return this.bot.boardFlow.onFill(interaction, parsed.id);
  }

  private async onCancel(interaction: ButtonInteraction, jobId: string): Promise<void> {
    await interaction.deferReply({ flags: MessageFlags.Ephemeral });
    const answer = await this.bot.render.cancel(interaction, jobId);
    await interaction.editReply({ content: fitText(answer, LIMITS.content), allowedMentions: NO_MENTIONS });
  }

  private async onDelete(interaction: ButtonInteraction, jobId: string): Promise<void> {
    const reply = await this.bot.pending.get(jobId);
    if (reply && reply.guildId !== interaction.guildId) return this.bot.render.tell(interaction, TAMPERED);
    if (!this.bot.render.mayManage(interaction, reply?.requesterId, reply)) {
      const who = reply ? `<@${reply.requesterId}>, the contributors` : 'the requester';
      return this.bot.render.tell(interaction, `That is not yours to delete: only ${who} and members with Manage Messages can.`);
    }
    await interaction.deferUpdate();
    await interaction.deleteReply();
    this.bot.log.info('result deleted', { jobId, by: interaction.user.id });
  }

  private async onReroll(interaction: ButtonInteraction, jobId: string): Promise<void> {
    const reply = await this.bot.pending.get(jobId);
    if (!reply || reply.guildId !== interaction.guildId) {
      return this.bot.render.tell(interaction, 'I no longer have the prompts of that render; start a new one with the slash command.');
    }
    const render = this.bot.render;
    const guild = await render.preflight(interaction);
    // Same prompts and settings, a new seed, and the guild's current negative prompt.
    const { seed: _old, ...rest } = reply.settings;
    const fresh = render.settingsFor(reply.kind, {}, guild);
    const settings = { ...fresh, ...rest, seed: fresh.seed };
    if (guild.negativePrompt) settings.negative = guild.negativePrompt;
    else delete settings.negative;
    if (settings.frames !== undefined && settings.frames > Math.min(guild.maxFrames, this.bot.jobs.config.limits.maxFrames)) {
      throw new InputError(`This server now allows at most ${guild.maxFrames} frames, fewer than this render used; start a new one with the slash command.`);
    }
    // The member who pressed it asked for this render: it counts against their caps (queueFresh holds the place
    // atomically) and credits them first; the prompts keep their authors.
    const me = interaction.user.id;
    await render.queueFresh(interaction, {
      kind: reply.kind,
      prompts: reply.prompts,
      settings,
      requesterId: me,
      contributors: [me, ...reply.contributors.filter((id) => id !== me)],
      maxBytes: render.maxBytesFor(interaction, guild),
    });
  }
}
