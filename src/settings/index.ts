/**
 * The settings machinery every layer declares its settings with: declaring (declare.ts), reading and
 * validating against config/defaults.json (read.ts), documenting (document.ts) and the `.env` file (dotenv.ts).
 * It knows no layer: the job layer, the bot, ops and the app each declare their own table in their config
 * module, and the app joins them (src/app/config.ts, ALL_SETTINGS).
 */
export { ConfigError, intSchema, intSetting, setting, SETTING_USERS, type EnvSetting, type SettingsMap, type SettingUser, type SettingValue } from './declare.ts';
export { CONFIG_DEFAULTS, defaultText, readSetting, settingDefault, settingErrors, settingOrDefault } from './read.ts';
export { effectiveSettings, settingsTableMarkdown, TABLE_BEGIN, TABLE_END, unknownSettingNames, type EffectiveSetting } from './document.ts';
export { loadDotEnv, type DotEnv } from './dotenv.ts';
