/**
 * `latentwalk bot`: runs the Discord bot until SIGINT / SIGTERM. Configuration comes from the environment
 * only (DISCORD_TOKEN, DISCORD_API_URL, REDIS_URL, LATENTWALK_*), validated once at start; a bad value stops
 * it with one line that names the variable. The bot process never loads the render engine. Logs are JSON
 * lines on stderr (pino), never with a token; with LATENTWALK_METRICS_PORT set it serves /metrics and
 * /healthz (healthy once Redis and the Discord gateway are connected).
 *
 * Shards: as many as LATENTWALK_SHARDS says, else as Discord recommends. Up to LATENTWALK_SHARDS_PER_PROCESS
 * of them run in this process (discord.js internal sharding); past that this process registers the commands
 * and supervises one child `latentwalk bot` per range of shards (bot-shards.ts).
 */
import { parseArgs } from 'node:util';
import { notifyReady, watchSupervisor } from '../app/ipc.ts';
import { BotApp } from '../bot/BotApp.ts';
import { loadBotConfig, loadRegisterScope, type BotConfig, type RegisterScope } from '../bot/config.ts';
import { createLogger, describeError, type Logger } from '../bot/log.ts';
import { fetchRecommendedShards, shardRanges } from '../bot/shards.ts';
import type { OpsLogger } from '../ops/log.ts';
import { ShardSupervisor } from './bot-shards.ts';
import { loadOpsConfig } from '../ops/config.ts';
import { BotMetrics, bullQueueCounts } from '../ops/metrics.ts';
import { botHealth, startOpsServer, type OpsServer } from '../ops/server.ts';
import { CliUsageError } from './CliError.ts';

/** How long a stopping bot process may take before it exits anyway. */
const STOP_DEADLINE_MS = 20_000;
import { registerCommands } from './register-commands.ts';

export const BOT_USAGE = `usage: latentwalk bot
environment:
  DISCORD_TOKEN                   bot token (required; never logged)
  DISCORD_API_URL                 REST base, default https://discord.com/api (a LocalDiscord URL for testing)
  DISCORD_APPLICATION_ID          optional; learned from Discord at login
  REDIS_URL                       default redis://127.0.0.1:6379 (plus the LATENTWALK_* queue settings)
  LATENTWALK_BOARD_TTL_S          how long a /grid or /morph board stays open (default 1800)
  LATENTWALK_PROGRESS_INTERVAL_MS least time between progress edits of one job (default 3000)
  LATENTWALK_PREVIEW_INTERVAL_MS  least time between live previews of one job (default 5000; MAX_BYTES=0: off)
  LATENTWALK_BOT_INSTANCE         stable name of this bot in the result stream (default bot-1)
  LATENTWALK_REGISTER_COMMANDS    global|off|<guild id>: register the slash commands at start (default global)
  LATENTWALK_SHARDS               gateway shards in all (default: as many as GET /gateway/bot recommends)
  LATENTWALK_SHARDS_PER_PROCESS   most shards in one process (default 16); past that, one child process per range
  LATENTWALK_SHARD_IDS            run only these shards of LATENTWALK_SHARDS here, e.g. 0-3 (set for the children)
  LATENTWALK_LOG_LEVEL            fatal|error|warn|info|debug|trace|silent (default info)
  LATENTWALK_METRICS_PORT         serve /metrics and /healthz on this port (default: off; child process i: port + i)`;

export async function runBotCommand(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: { help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: false }));
  } catch (error) {
    throw new CliUsageError((error as Error).message.split('\n')[0] ?? 'bad arguments');
  }
  if (values.help) {
    console.log(BOT_USAGE);
    return 0;
  }
  let config = loadBotConfig();
  const ops = loadOpsConfig();
  const register = loadRegisterScope();
  const log = createLogger({ level: config.logLevel, token: config.token });
  let stopRequested: () => void = () => process.exit(1);
  watchSupervisor(() => stopRequested());

  if (!config.shards.ids) {
    const total = config.shards.total ?? (await fetchRecommendedShards(config.apiUrl, config.token));
    config = { ...config, shards: { ...config.shards, total } };
    if (total > config.shards.perProcess) return runShardProcesses(config, total, register, ops.metricsPort, log, (stop) => (stopRequested = stop));
  }

  let app: BotApp | undefined;
  const metrics = ops.metricsPort !== undefined ? new BotMetrics() : undefined;
  let opsServer: OpsServer | undefined;
  if (ops.metricsPort !== undefined) {
    opsServer = await startOpsServer({
      port: ops.metricsPort,
      host: ops.metricsHost,
      metrics,
      info: { service: 'bot', instance: config.instance },
      health: () => botHealth(app?.health()),
    });
    log.info(`metrics and health on ${opsServer.url}/metrics and ${opsServer.url}/healthz`, { opsUrl: opsServer.url });
  }
  try {
    await registerAtStart(config, register, log);
    app = await BotApp.start(config, { log, ...(metrics ? { metrics } : {}) });
  } catch (error) {
    await opsServer?.close();
    throw error;
  }
  if (app.queue) metrics?.setQueueCounts(bullQueueCounts(app.queue));
  notifyReady({ service: 'bot', id: config.instance, ...(opsServer ? { opsUrl: opsServer.url } : {}) });
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    stopRequested = stop;
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  // A stop that cannot finish (Redis gone for good, a supervisor SIGKILLed with it) must not leave the
  // process running: it exits after STOP_DEADLINE_MS whatever is still pending.
  const deadline = setTimeout(() => {
    log.warn(`bot stop did not finish within ${STOP_DEADLINE_MS} ms; exiting`);
    process.exit(1);
  }, STOP_DEADLINE_MS);
  deadline.unref();
  await app.stop();
  await opsServer?.close();
  clearTimeout(deadline);
  // discord.js can keep a reconnect timer alive after destroy() when the gateway was down at that moment;
  // everything is closed by now, so that must not keep the process.
  setTimeout(() => process.exit(process.exitCode ?? 0), 2000).unref();
  return 0;
}

/** Supervises one child process per range of shards until SIGINT / SIGTERM (or a child crashes too often). */
async function runShardProcesses(
  config: BotConfig,
  total: number,
  register: RegisterScope,
  metricsPort: number | undefined,
  log: OpsLogger,
  onStopRequested: (stop: () => void) => void,
): Promise<number> {
  await registerAtStart(config, register, log);
  const ranges = shardRanges(total, config.shards.perProcess);
  log.info(`starting ${ranges.length} bot processes for ${total} shards (LATENTWALK_SHARDS_PER_PROCESS=${config.shards.perProcess})`);
  const supervisor = await ShardSupervisor.start({ config, total, ranges, env: process.env, log, metricsPort });
  notifyReady({ service: 'bot', id: config.instance });
  const failure = await new Promise<string | undefined>((resolve) => {
    const stop = () => resolve(undefined);
    onStopRequested(stop);
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    void supervisor.failure.then(resolve);
  });
  await supervisor.stop();
  if (failure) throw new Error(`stopped every shard process: ${failure}`);
  // As in one process: nothing may keep it once the children are gone.
  setTimeout(() => process.exit(process.exitCode ?? 0), 2000).unref();
  return 0;
}

/**
 * Brings the registered slash commands in line with this configuration's limits: compared with Discord's copy
 * on every start, replaced (as a whole set) only when they differ, e.g. after LATENTWALK_MAX_FRAMES changed.
 */
async function registerAtStart(config: BotConfig, scope: RegisterScope, log: Logger): Promise<void> {
  if (scope.scope === 'off') return;
  const guildId = scope.scope === 'guild' ? scope.guildId : undefined;
  try {
    const result = await registerCommands({ token: config.token, apiUrl: config.apiUrl, applicationId: config.applicationId }, config.jobs.limits, guildId);
    const where = guildId ? `in guild ${guildId}` : 'globally';
    const what =
      result.changed.length === 0
        ? `the ${result.names.length} slash commands ${where} are up to date`
        : `registered ${result.names.length} slash commands ${where}${guildId ? '' : ' (Discord may take a while to show changes)'}; changed: ${result.changed.map((n) => `/${n}`).join(' ')}`;
    log.info(what, { applicationId: result.applicationId, guildId });
  } catch (error) {
    const status = (error as { status?: unknown }).status;
    throw new Error(
      status === 401
        ? 'Discord refused DISCORD_TOKEN (401 Unauthorized): reset the token in the Developer Portal (Applications → your app → Bot → Reset Token) and set the new one'
        : `could not register the slash commands at ${config.apiUrl}: ${describeError(error)} (LATENTWALK_REGISTER_COMMANDS=off skips this)`,
    );
  }
}
