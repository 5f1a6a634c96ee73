/**
 * `/settings` (Manage Server by default): the server's limits, stored in Redis per guild.
 *   show | limits [max_frames] [max_queued_per_member] [output_mib] [default_fps] [default_format]
 *   channels <allow|disallow|clear> [channel] | blocklist <add|remove|clear> [words] | negative [prompt]
 *   previews <enabled> | reset
 * Who may use it is Discord's decision: default member permissions (Manage Server), which server admins can
 * override per role, member or channel under Server Settings → Integrations. Discord only delivers the command
 * to members it allows, so the handler does not check again (that would undo an admin's override).
 */
import { ChannelType, InteractionContextType, MessageFlags, PermissionFlagsBits, SlashCommandBuilder, type ChatInputCommandInteraction } from 'discord.js';
import { MiB, SETTINGS_BOUNDS, type GuildSettings } from '../bot/GuildSettings.ts';
import { fitPieces, fitText, LIMITS } from '../bot/replies/fit.ts';
import { formatBytes, safePrompt } from '../bot/replies/text.ts';
import { NO_MENTIONS } from '../bot/replies/views.ts';
import type { BotContext, SlashCommand } from '../bot/types.ts';
import { renderOptionBounds } from '../bot/validation.ts';
import { hasVisibleCharacter, normalizePrompt, promptLength, type JobLimits } from '../jobs/index.ts';
import { ANIMATION_FORMATS, type AnimationFormat } from '../jobs/contract.ts';
import { FORMAT_CHOICES } from './options.ts';

const B = SETTINGS_BOUNDS;
const FORMAT_NAMES: Record<AnimationFormat, string> = { gif: 'GIF', mp4: 'MP4 video', webp: 'WebP' };

/**
 * The bounds of /settings' options: what the store accepts, narrowed to what the bot can honour (a server
 * limit above the bot's own would change nothing; a negative prompt longer than a prompt would be refused).
 */
export function settingsOptionBounds(limits: JobLimits) {
  const render = renderOptionBounds(limits);
  return {
    maxFrames: { min: B.maxFrames.min, max: Math.max(B.maxFrames.min, Math.min(B.maxFrames.max, render.frames.max)) },
    maxQueuedPerMember: B.maxQueuedPerMember,
    outputBudgetMiB: { min: B.outputBudgetMiB.min, max: Math.max(B.outputBudgetMiB.min, Math.min(B.outputBudgetMiB.max, Math.floor(limits.maxArtifactBytes / MiB))) },
    defaultFps: { min: Math.max(B.defaultFps.min, render.fps.min), max: Math.min(B.defaultFps.max, render.fps.max) },
    negativeChars: Math.min(B.negativeChars, limits.maxPromptChars),
  };
}

function definition(limits: JobLimits) {
  const b = settingsOptionBounds(limits);
  return new SlashCommandBuilder()
    .setName('settings')
    .setDescription("This server's render limits (Manage Server, unless an admin lets others in)")
    .setContexts(InteractionContextType.Guild)
    .setDefaultMemberPermissions(PermissionFlagsBits.ManageGuild)
    .addSubcommand((s) => s.setName('show').setDescription('Show the current settings'))
    .addSubcommand((s) =>
      s
        .setName('limits')
        .setDescription('Frames, queue and size limits')
        .addIntegerOption((o) => o.setName('max_frames').setDescription('Most frames per animation').setMinValue(b.maxFrames.min).setMaxValue(b.maxFrames.max))
        .addIntegerOption((o) =>
          o.setName('max_queued_per_member').setDescription('Jobs one member may have queued at once').setMinValue(b.maxQueuedPerMember.min).setMaxValue(b.maxQueuedPerMember.max),
        )
        .addIntegerOption((o) => o.setName('output_mib').setDescription('Output file budget in MiB').setMinValue(b.outputBudgetMiB.min).setMaxValue(b.outputBudgetMiB.max))
        .addNumberOption((o) => o.setName('default_fps').setDescription('Playback speed when none is given').setMinValue(b.defaultFps.min).setMaxValue(b.defaultFps.max))
        .addStringOption((o) => o.setName('default_format').setDescription('File type of animations when none is given').addChoices(...FORMAT_CHOICES)),
    )
    .addSubcommand((s) =>
      s
        .setName('channels')
        .setDescription('Where the render commands may be used')
        .addStringOption((o) =>
          o
            .setName('action')
            .setDescription('allow or disallow a channel, or clear the list (everywhere)')
            .setRequired(true)
            .addChoices({ name: 'allow', value: 'allow' }, { name: 'disallow', value: 'disallow' }, { name: 'clear', value: 'clear' }),
        )
        .addChannelOption((o) => o.setName('channel').setDescription('The channel').addChannelTypes(ChannelType.GuildText, ChannelType.GuildAnnouncement)),
    )
    .addSubcommand((s) =>
      s
        .setName('blocklist')
        .setDescription('Words a prompt may not contain')
        .addStringOption((o) =>
          o
            .setName('action')
            .setDescription('add or remove words, or clear the list')
            .setRequired(true)
            .addChoices({ name: 'add', value: 'add' }, { name: 'remove', value: 'remove' }, { name: 'clear', value: 'clear' }),
        )
        .addStringOption((o) => o.setName('words').setDescription('Comma-separated words or phrases').setMaxLength(1000)),
    )
    .addSubcommand((s) =>
      s
        .setName('negative')
        .setDescription('A negative prompt applied to every render here (empty to remove)')
        .addStringOption((o) => o.setName('prompt').setDescription('What renders should avoid').setMaxLength(b.negativeChars)),
    )
    .addSubcommand((s) =>
      s
        .setName('previews')
        .setDescription('Live previews: the newest frame of a render in its progress message')
        .addBooleanOption((o) => o.setName('enabled').setDescription('Show them (true) or not (false)').setRequired(true)),
    )
    .addSubcommand((s) => s.setName('reset').setDescription('Back to the defaults'))
    .toJSON();
}

export const settings = {
  name: 'settings',
  definition,
  async execute(interaction, bot) {
    if (!interaction.inGuild()) {
      await bot.render.tell(interaction, 'Settings are per server: use /settings in a server.');
      return;
    }
    const answer = await run(interaction, bot);
    await interaction.reply({ content: fitText(answer, LIMITS.content), flags: MessageFlags.Ephemeral, allowedMentions: NO_MENTIONS });
  },
} satisfies SlashCommand;

async function run(interaction: ChatInputCommandInteraction, bot: BotContext): Promise<string> {
  const guildId = interaction.guildId!;
  const store = bot.guildSettings;
  const sub = interaction.options.getSubcommand();
  switch (sub) {
    case 'show':
      return describe(await store.get(guildId), bot);
    case 'limits': {
      const maxFrames = interaction.options.getInteger('max_frames');
      const maxQueued = interaction.options.getInteger('max_queued_per_member');
      const outputMiB = interaction.options.getInteger('output_mib');
      const fps = interaction.options.getNumber('default_fps');
      const format = interaction.options.getString('default_format');
      if (maxFrames === null && maxQueued === null && outputMiB === null && fps === null && format === null) {
        return 'Give at least one of max_frames, max_queued_per_member, output_mib, default_fps or default_format.';
      }
      if (format !== null && !(ANIMATION_FORMATS as readonly string[]).includes(format)) return `default_format must be one of ${ANIMATION_FORMATS.join(', ')}.`;
      const next = await store.update(guildId, (s) => ({
        ...s,
        ...(maxFrames !== null ? { maxFrames } : {}),
        ...(maxQueued !== null ? { maxQueuedPerMember: maxQueued } : {}),
        ...(outputMiB !== null ? { outputBudgetBytes: outputMiB * MiB } : {}),
        ...(fps !== null ? { defaultFps: fps } : {}),
        ...(format !== null ? { defaultFormat: format as AnimationFormat } : {}),
      }));
      return `Saved.\n${describe(next, bot)}`;
    }
    case 'channels': {
      const action = interaction.options.getString('action', true);
      const channel = interaction.options.getChannel('channel');
      if (action === 'clear') return `Saved: commands work in every channel.\n${describe(await store.update(guildId, (s) => ({ ...s, allowedChannels: [] })), bot)}`;
      if (!channel) return `Name the channel to ${action}.`;
      const next = await store.update(guildId, (s) => {
        const without = s.allowedChannels.filter((id) => id !== channel.id);
        return { ...s, allowedChannels: action === 'allow' ? [...without, channel.id].slice(0, B.allowedChannels) : without };
      });
      return `Saved.\n${describe(next, bot)}`;
    }
    case 'blocklist': {
      const action = interaction.options.getString('action', true);
      if (action === 'clear') return `Saved: no words are blocked.\n${describe(await store.update(guildId, (s) => ({ ...s, blocklist: [] })), bot)}`;
      const words = (interaction.options.getString('words') ?? '')
        .split(',')
        .map((w) => normalizePrompt(w).toLowerCase())
        .filter(hasVisibleCharacter);
      if (words.length === 0) return `List the words to ${action}, separated by commas.`;
      const tooLong = words.find((w) => w.length > B.blocklistWordChars);
      if (tooLong) return `"${safePrompt(tooLong, 80)}" is too long; keep each entry to ${B.blocklistWordChars} characters.`;
      const next = await store.update(guildId, (s) => {
        const rest = s.blocklist.filter((w) => !words.includes(w));
        return { ...s, blocklist: action === 'add' ? [...rest, ...words].slice(0, B.blocklistWords) : rest };
      });
      return `Saved.\n${describe(next, bot)}`;
    }
    case 'negative': {
      // Only invisible characters (zero-width, bidi marks...) means no negative prompt, like an empty one.
      const given = normalizePrompt(interaction.options.getString('prompt') ?? '');
      const prompt = hasVisibleCharacter(given) ? given : '';
      const max = settingsOptionBounds(bot.jobs.config.limits).negativeChars;
      if (promptLength(prompt) > max) return `That negative prompt is ${promptLength(prompt)} characters; keep it to ${max}.`;
      const next = await store.update(guildId, (s) => ({ ...s, negativePrompt: prompt }));
      return `Saved.\n${describe(next, bot)}`;
    }
    case 'previews': {
      const enabled = interaction.options.getBoolean('enabled', true);
      const next = await store.update(guildId, (s) => ({ ...s, previews: enabled }));
      return `Saved: live previews are ${enabled ? 'on' : 'off'} (renders that start from now on).\n${describe(next, bot)}`;
    }
    case 'reset':
      return `Back to the defaults.\n${describe(await store.reset(guildId), bot)}`;
    default:
      return 'Unknown settings command; use /settings show.';
  }
}

function describe(s: GuildSettings, bot: BotContext): string {
  const limits = bot.jobs.config.limits;
  return [
    '**Settings for this server**',
    `• Max frames: ${s.maxFrames}${limits.maxFrames < s.maxFrames ? ` (the bot's own limit of ${limits.maxFrames} applies)` : ''}`,
    `• Max queued per member: ${s.maxQueuedPerMember}`,
    `• Output budget: ${formatBytes(s.outputBudgetBytes)} (never above what Discord takes here: the server's boost tier allows 10, 10, 50 or 100 MiB)`,
    `• Default fps: ${s.defaultFps}`,
    `• Default format: ${FORMAT_NAMES[s.defaultFormat]}`,
    `• Channels: ${s.allowedChannels.length ? s.allowedChannels.map((id) => `<#${id}>`).join(', ') : 'everywhere'}`,
    // A full blocklist (100 entries) alone would pass the 2000 of a message: it gets a share, whole entries only.
    `• Blocked words: ${s.blocklist.length ? fitPieces(s.blocklist.map((w, i) => `${i ? ', ' : ''}“${safePrompt(w, 60)}”`), 900) : 'none'}`,
    `• Negative prompt: ${s.negativePrompt ? `“${safePrompt(s.negativePrompt, 300)}”` : 'none'}`,
    `• Live previews: ${!s.previews ? 'off' : bot.jobs.config.preview.maxBytes === 0 ? 'on, but this bot has them off (LATENTWALK_PREVIEW_MAX_BYTES=0)' : 'on'}`,
  ].join('\n');
}
