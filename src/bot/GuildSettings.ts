/**
 * Per-guild limits set with `/settings` (Manage Server only), kept in Redis as one JSON value per guild and
 * validated with zod on every read (a damaged or outdated value falls back to the defaults field by field).
 *
 * These sit on top of the job layer's global limits: a guild can only tighten them, never loosen them.
 */
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { promptLength } from '../jobs/index.ts';
import { ANIMATION_FORMATS, type AnimationFormat } from '../jobs/contract.ts';

export interface GuildSettings {
  /** Frames of a morph / walk / loop. */
  maxFrames: number;
  /** Jobs one member may have waiting or rendering in this guild. */
  maxQueuedPerMember: number;
  /** Channel ids where the commands may be used; empty means everywhere. */
  allowedChannels: string[];
  /**
   * Output size budget in bytes. Files are also kept within what Discord takes here (the boost tier's upload
   * limit: 10, 10, 50 or 100 MiB) and the operator's LATENTWALK_MAX_ARTIFACT_BYTES; the default adds no limit
   * of its own.
   */
  outputBudgetBytes: number;
  defaultFps: number;
  /** File type of an animation when the command does not say. */
  defaultFormat: AnimationFormat;
  /** Lower-cased words or phrases a prompt may not contain. */
  blocklist: string[];
  /** Negative prompt added to every render in this guild ('' for none). */
  negativePrompt: string;
  /** Live previews: the progress message shows the newest finished frame while a render runs. */
  previews: boolean;
}

export const MiB = 1024 * 1024;

export const DEFAULT_GUILD_SETTINGS: GuildSettings = {
  maxFrames: 24,
  maxQueuedPerMember: 2,
  allowedChannels: [],
  outputBudgetBytes: 100 * MiB,
  defaultFps: 10,
  defaultFormat: 'gif',
  blocklist: [],
  negativePrompt: '',
  previews: true,
};

/** Bounds of what `/settings` accepts (also the command options' min/max). */
export const SETTINGS_BOUNDS = {
  maxFrames: { min: 2, max: 120 },
  maxQueuedPerMember: { min: 1, max: 50 },
  outputBudgetMiB: { min: 1, max: 100 },
  defaultFps: { min: 1, max: 50 },
  blocklistWords: 100,
  blocklistWordChars: 60,
  negativeChars: 500,
  allowedChannels: 50,
} as const;

const snowflake = z.string().regex(/^\d{1,25}$/);

const schema = z.object({
  maxFrames: z.number().int().min(SETTINGS_BOUNDS.maxFrames.min).max(SETTINGS_BOUNDS.maxFrames.max).catch(DEFAULT_GUILD_SETTINGS.maxFrames),
  maxQueuedPerMember: z
    .number()
    .int()
    .min(SETTINGS_BOUNDS.maxQueuedPerMember.min)
    .max(SETTINGS_BOUNDS.maxQueuedPerMember.max)
    .catch(DEFAULT_GUILD_SETTINGS.maxQueuedPerMember),
  allowedChannels: z.array(snowflake).max(SETTINGS_BOUNDS.allowedChannels).catch([]),
  outputBudgetBytes: z
    .number()
    .int()
    .min(SETTINGS_BOUNDS.outputBudgetMiB.min * MiB)
    .max(SETTINGS_BOUNDS.outputBudgetMiB.max * MiB)
    .catch(DEFAULT_GUILD_SETTINGS.outputBudgetBytes),
  defaultFps: z.number().min(SETTINGS_BOUNDS.defaultFps.min).max(SETTINGS_BOUNDS.defaultFps.max).catch(DEFAULT_GUILD_SETTINGS.defaultFps),
  defaultFormat: z.enum(ANIMATION_FORMATS).catch(DEFAULT_GUILD_SETTINGS.defaultFormat),
  blocklist: z.array(z.string().min(1).max(SETTINGS_BOUNDS.blocklistWordChars)).max(SETTINGS_BOUNDS.blocklistWords).catch([]),
  // Code points, as Discord's client counted them when the admin typed it.
  negativePrompt: z.string().refine((s) => promptLength(s) <= SETTINGS_BOUNDS.negativeChars).catch(''),
  previews: z.boolean().catch(DEFAULT_GUILD_SETTINGS.previews),
});

export function parseGuildSettings(value: unknown): GuildSettings {
  const input = value && typeof value === 'object' ? value : {};
  return schema.parse({ ...DEFAULT_GUILD_SETTINGS, ...input });
}

export class GuildSettingsStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private key(guildId: string): string {
    return `${this.prefix}:bot:guild:${guildId}:settings`;
  }

  async get(guildId: string): Promise<GuildSettings> {
    const raw = await this.redis.get(this.key(guildId));
    if (!raw) return { ...DEFAULT_GUILD_SETTINGS };
    try {
      return parseGuildSettings(JSON.parse(raw));
    } catch {
      return { ...DEFAULT_GUILD_SETTINGS };
    }
  }

  /**
   * Applies a change and returns the new settings. Read-modify-write without a lock: two admins saving at the
   * same instant means the later save wins, which is what a settings screen does anyway.
   */
  async update(guildId: string, change: (current: GuildSettings) => GuildSettings): Promise<GuildSettings> {
    const next = parseGuildSettings(change(await this.get(guildId)));
    await this.redis.set(this.key(guildId), JSON.stringify(next));
    return next;
  }

  async reset(guildId: string): Promise<GuildSettings> {
    await this.redis.del(this.key(guildId));
    return { ...DEFAULT_GUILD_SETTINGS };
  }
}

/** The first blocked word or phrase a prompt contains (whole words, case-insensitive), if any. */
export function findBlocked(text: string, blocklist: readonly string[]): string | undefined {
  const normalized = ` ${text.toLowerCase().replace(/[^\p{L}\p{N}]+/gu, ' ').trim()} `;
  for (const entry of blocklist) {
    const needle = entry.toLowerCase().replace(/[^\p{L}\p{N}]+/gu, ' ').trim();
    if (needle && normalized.includes(` ${needle} `)) return entry;
  }
  return undefined;
}
