/**
 * Operations settings shared by every process: log level, and the opt-in HTTP endpoint that serves
 * `/metrics` (Prometheus) and `/healthz`. Declared with the settings machinery (src/settings/) like the other
 * layers' settings; defaults in config/defaults.json.
 */
import { z } from 'zod';
import { intSetting, setting, settingOrDefault, type SettingUser } from '../settings/index.ts';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const PROCESSES: readonly SettingUser[] = ['start', 'bot', 'worker'];

export const OPS_SETTINGS = {
  LATENTWALK_LOG_LEVEL: setting(
    z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }),
    LOG_LEVELS.join(', '),
    PROCESSES,
    'Least level of the JSON log lines (pino) every process writes.',
  ),
  LATENTWALK_METRICS_PORT: intSetting(
    0,
    65_535,
    PROCESSES,
    'Port of the HTTP endpoint with /metrics (Prometheus) and /healthz; unset: no endpoint. 0: any free port. ' +
      '`start` gives the bot this port and the worker the next one.',
  ),
  LATENTWALK_METRICS_HOST: setting(
    z.string().trim().regex(/^[A-Za-z0-9.:-]{1,253}$/, { error: 'must be a host name or an IP address such as 127.0.0.1 or 0.0.0.0' }),
    'host name or IP address',
    PROCESSES,
    'Address the metrics/health endpoint listens on (0.0.0.0 in containers).',
  ),
} as const;

export interface OpsConfig {
  logLevel: LogLevel;
  /** Undefined: no metrics/health endpoint. */
  metricsPort: number | undefined;
  metricsHost: string;
}

export function loadOpsConfig(env: NodeJS.ProcessEnv = process.env): OpsConfig {
  return {
    logLevel: settingOrDefault(OPS_SETTINGS, env, 'LATENTWALK_LOG_LEVEL') ?? 'info',
    metricsPort: settingOrDefault(OPS_SETTINGS, env, 'LATENTWALK_METRICS_PORT'),
    metricsHost: settingOrDefault(OPS_SETTINGS, env, 'LATENTWALK_METRICS_HOST') ?? '127.0.0.1',
  };
}
