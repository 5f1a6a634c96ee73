/**
 * How a setting is declared: one environment variable, its zod parser, what it accepts in words, which
 * commands read it and what it means. Each layer (jobs, bot, ops, app) declares its own table with these
 * helpers in its own config module; the reading (read.ts) and the documentation (document.ts) work on any table.
 */
import { z } from 'zod';

/** A bad setting: the message names the variable and what it accepts. */
export class ConfigError extends Error {
  readonly key: string;
  constructor(key: string, message: string) {
    super(message);
    this.name = 'ConfigError';
    this.key = key;
  }
}

/** Which commands read a setting (the README table's "used by" column; compose passes each service its own). */
export type SettingUser = 'start' | 'bot' | 'worker' | 'cli';

/** Every command, in the order the README table lists them. */
export const SETTING_USERS: readonly SettingUser[] = ['start', 'bot', 'worker', 'cli'];

export interface EnvSetting<S extends z.ZodType = z.ZodType> {
  /** Parses the raw (trimmed, non-empty) environment string. */
  schema: S;
  /** What it accepts, in words (error messages and the README table). */
  allowed: string;
  usedBy: readonly SettingUser[];
  meaning: string;
  /** Never echoed back in an error message or a log line. */
  secret?: boolean;
}

export type SettingsMap = Record<string, EnvSetting>;
export type SettingValue<M extends SettingsMap, K extends keyof M> = z.output<M[K]['schema']>;

export function setting<S extends z.ZodType>(
  schema: S,
  allowed: string,
  usedBy: readonly SettingUser[],
  meaning: string,
  options: { secret?: boolean } = {},
): EnvSetting<S> {
  return { schema, allowed, usedBy, meaning, ...(options.secret ? { secret: true } : {}) };
}

/** A whole number from the environment, with the range in its error message and its `allowed` text. */
export function intSchema(min: number, max = Number.MAX_SAFE_INTEGER) {
  return z
    .string()
    .trim()
    .regex(/^\d+$/, {
      error: max === Number.MAX_SAFE_INTEGER ? `must be a whole number, at least ${min}` : `must be a whole number between ${min} and ${max}`,
    })
    .transform(Number)
    .pipe(z.number().int().min(min, { error: `must be at least ${min}` }).max(max, { error: `must be at most ${max}` }));
}

export function intSetting(min: number, max: number | undefined, usedBy: readonly SettingUser[], meaning: string) {
  const allowed = max === undefined ? `whole number ≥ ${min}` : `whole number ${min}–${max}`;
  return setting(intSchema(min, max), allowed, usedBy, meaning);
}
