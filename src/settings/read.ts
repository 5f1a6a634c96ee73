/**
 * Reading declared settings: the environment's value, else the default from `config/defaults.json` (the one
 * file with defaults, shared by every process), parsed by the setting's schema. A bad value throws ConfigError
 * naming the variable, its problem and (unless it is a secret) the value that was given.
 */
import DEFAULTS_FILE from '../../config/defaults.json' with { type: 'json' };
import { ConfigError, type SettingsMap, type SettingValue } from './declare.ts';

/** `config/defaults.json` without its comment keys: variable name → default (null: unset). */
export const CONFIG_DEFAULTS: Readonly<Record<string, string | number | null>> = Object.fromEntries(
  Object.entries(DEFAULTS_FILE as Record<string, string | number | null>).filter(([key]) => !key.startsWith('$')),
);

/** The default as the environment would spell it, or undefined when the setting is unset by default. */
export function defaultText(key: string): string | undefined {
  const value = CONFIG_DEFAULTS[key];
  return value === null || value === undefined ? undefined : String(value);
}

function parseSetting<M extends SettingsMap, K extends keyof M & string>(settings: M, key: K, raw: string): SettingValue<M, K> {
  const spec = settings[key]!;
  const parsed = spec.schema.safeParse(raw);
  if (!parsed.success) {
    const why = parsed.error.issues[0]?.message ?? `must be ${spec.allowed}`;
    // A secret's value is never echoed back.
    const shown = spec.secret ? '' : ` (got ${JSON.stringify(raw)})`;
    throw new ConfigError(key, `${key} ${why}${shown}`);
  }
  return parsed.data as SettingValue<M, K>;
}

/** The variable's value from `env`, parsed; undefined when unset or blank. Throws ConfigError naming it. */
export function readSetting<M extends SettingsMap, K extends keyof M & string>(settings: M, env: NodeJS.ProcessEnv, key: K): SettingValue<M, K> | undefined {
  const raw = env[key];
  if (raw === undefined || raw.trim() === '') return undefined;
  return parseSetting(settings, key, raw);
}

/** The variable's default from config/defaults.json, parsed by the same schema (a bad default fails loudly). */
export function settingDefault<M extends SettingsMap, K extends keyof M & string>(settings: M, key: K): SettingValue<M, K> | undefined {
  const raw = defaultText(key);
  if (raw === undefined) return undefined;
  try {
    return parseSetting(settings, key, raw);
  } catch (error) {
    throw new Error(`config/defaults.json: ${(error as Error).message}`);
  }
}

/** The environment's value, else the default. */
export function settingOrDefault<M extends SettingsMap, K extends keyof M & string>(settings: M, env: NodeJS.ProcessEnv, key: K): SettingValue<M, K> | undefined {
  return readSetting(settings, env, key) ?? settingDefault(settings, key);
}

/** Every variable of `settings` that fails to parse (each error names its variable); none when all are fine. */
export function settingErrors(settings: SettingsMap, env: NodeJS.ProcessEnv): ConfigError[] {
  const errors: ConfigError[] = [];
  for (const key of Object.keys(settings)) {
    try {
      readSetting(settings, env, key);
    } catch (error) {
      if (error instanceof ConfigError) errors.push(error);
      else throw error;
    }
  }
  return errors;
}
