/**
 * The whole stack's configuration, validated in one place before anything starts.
 *
 * Sources, strongest first: the environment, a `.env` file in the directory `latentwalk start` runs from
 * (KEY=value lines; only `start` reads it), and `config/defaults.json`. Every variable is declared once, with
 * the settings machinery (src/settings/: parser, allowed values, readers and meaning), in one of four tables (the
 * job layer's, the bot's, the ops endpoint's and the ones below); `ALL_SETTINGS` joins them, and the README's
 * configuration table is generated from it (`latentwalk config --markdown`).
 */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { BOT_SETTINGS, loadBotConfig, missingTokenHelp, type BotConfig } from '../bot/config.ts';
import { JOBS_SETTINGS, loadJobsConfig, type JobsConfig } from '../jobs/config.ts';
import { loadOpsConfig, OPS_SETTINGS, type OpsConfig } from '../ops/config.ts';
import {
  ConfigError,
  effectiveSettings,
  readSetting,
  setting,
  settingErrors,
  settingOrDefault,
  settingsTableMarkdown,
  unknownSettingNames,
  type EffectiveSetting,
  type EnvSetting,
} from '../settings/index.ts';
import { BUNDLED_PACKS, DEFAULT_BUNDLED_PACK, resolveModelDir } from '../engine/pack/bundled.ts';

export { loadDotEnv, TABLE_BEGIN, TABLE_END, type DotEnv } from '../settings/index.ts';

export const START_SETTINGS = {
  LATENTWALK_DATA_DIR: setting(
    z.string().trim().min(1, { error: 'must not be empty' }),
    'a directory',
    ['start'],
    'Where `start` keeps its state: the private Redis\'s append-only files go to <dir>/redis. Relative to the directory `start` runs in.',
  ),
  LATENTWALK_DEBUG: setting(
    z.enum(['0', '1'], { error: 'must be 0 or 1' }),
    '0, 1',
    ['start', 'bot', 'worker', 'cli'],
    '1: command-line errors print their stack trace.',
  ),
} as const;

/** Every environment variable the project reads. */
export const ALL_SETTINGS: Readonly<Record<string, EnvSetting>> = { ...JOBS_SETTINGS, ...BOT_SETTINGS, ...OPS_SETTINGS, ...START_SETTINGS };

export interface StartSettings {
  /** Absolute. */
  dataDir: string;
}

export interface StackConfig {
  /** The environment the stack runs with (.env merged under the process environment). */
  env: NodeJS.ProcessEnv;
  jobs: JobsConfig;
  /** Present when the bot is part of the stack. */
  bot: BotConfig | undefined;
  ops: OpsConfig;
  start: StartSettings;
  /** REDIS_URL was not set: `start` runs its own redis-server. */
  privateRedis: boolean;
  /** Variables in the LATENTWALK_ namespace that are not settings (typos, most likely), with a suggestion. */
  warnings: string[];
}

/** All the settings that failed, each naming its variable and what it accepts. */
export class StackConfigError extends Error {
  constructor(readonly errors: ConfigError[]) {
    super(errors.map((error) => error.message).join('\n'));
    this.name = 'StackConfigError';
  }

  get keys(): string[] {
    return this.errors.map((error) => error.key);
  }
}

export interface ValidateOptions {
  /** The bot is part of the stack (DISCORD_TOKEN required). Default true. */
  bot?: boolean;
  /** The worker is part of the stack (the model directory is checked). Default true. */
  worker?: boolean;
  /** Where relative paths start (LATENTWALK_DATA_DIR). Default process.cwd(). */
  cwd?: string;
  /** How to say where the token goes, in the missing-token message. */
  tokenWhere?: string;
}

/**
 * Validates every setting at once and builds the stack's configuration. Throws StackConfigError listing every
 * bad variable (each message names it and its allowed values), nothing else having started.
 */
export function validateStackConfig(env: NodeJS.ProcessEnv, options: ValidateOptions = {}): StackConfig {
  const withBot = options.bot ?? true;
  const withWorker = options.worker ?? true;
  const cwd = options.cwd ?? process.cwd();
  const errors = settingErrors(ALL_SETTINGS, env);
  const bad = new Set(errors.map((error) => error.key));
  if (withBot && !bad.has('DISCORD_TOKEN') && readSetting(ALL_SETTINGS, env, 'DISCORD_TOKEN') === undefined) {
    errors.unshift(new ConfigError('DISCORD_TOKEN', missingTokenHelp(options.tokenWhere ?? 'the environment')));
  }
  const modelDir = readSettingSafe(env, 'LATENTWALK_MODEL_DIR') as string | undefined;
  if (withWorker && modelDir !== undefined && !bad.has('LATENTWALK_MODEL_DIR')) {
    const path = resolveModelDir(modelDir, cwd);
    if (!existsSync(path) || !statSync(path).isDirectory()) {
      errors.push(
        new ConfigError('LATENTWALK_MODEL_DIR', `LATENTWALK_MODEL_DIR must be a model pack directory; ${path} is ${existsSync(path) ? 'not a directory' : 'missing'} (or name a bundled model: ${BUNDLED_PACKS.join(', ')}; unset it for the default, ${DEFAULT_BUNDLED_PACK})`),
      );
    }
  }
  if (errors.length > 0) throw new StackConfigError(errors);

  const dataDir = resolve(cwd, settingOrDefault(START_SETTINGS, env, 'LATENTWALK_DATA_DIR') ?? 'data');
  return {
    env,
    jobs: loadJobsConfig(env, modelDir !== undefined ? { worker: { modelDir: resolveModelDir(modelDir, cwd) } } : {}),
    bot: withBot ? loadBotConfig(env) : undefined,
    ops: loadOpsConfig(env),
    start: { dataDir },
    // Sentinels or a cluster name a Redis of the user's own, as REDIS_URL does.
    privateRedis: ['REDIS_URL', 'REDIS_SENTINELS', 'REDIS_CLUSTER_NODES'].every((key) => (env[key] ?? '').trim() === ''),
    warnings: unknownVariables(env),
  };
}

function readSettingSafe(env: NodeJS.ProcessEnv, key: string): unknown {
  try {
    return readSetting(ALL_SETTINGS, env, key);
  } catch {
    return undefined;
  }
}

/** LATENTWALK_* variables that are not settings, with the closest real name. Test-only ones are ignored. */
export function unknownVariables(env: NodeJS.ProcessEnv): string[] {
  return unknownSettingNames(ALL_SETTINGS, env, 'LATENTWALK_', new Set(['LATENTWALK_E2E_LOG']));
}

/** The README's configuration table (Markdown), generated from ALL_SETTINGS and config/defaults.json. */
export function configTableMarkdown(): string {
  return settingsTableMarkdown(ALL_SETTINGS);
}

/** The effective settings and where each came from, secrets hidden (`latentwalk config`). */
export function describeSettings(env: NodeJS.ProcessEnv, fromFile: readonly string[] = []): EffectiveSetting[] {
  return effectiveSettings(ALL_SETTINGS, env, fromFile);
}
