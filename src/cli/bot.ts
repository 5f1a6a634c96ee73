/**
 * `latentwalk bot`: runs the Discord bot until SIGINT / SIGTERM. Configuration comes from the environment
 * only (DISCORD_TOKEN, DISCORD_API_URL, REDIS_URL, LATENTWALK_*), validated once at start; a bad value stops
 * it with one line that names the variable. The bot process never loads the render engine.
 */
import { parseArgs } from 'node:util';
import { BotApp } from '../bot/BotApp.ts';
import { loadBotConfig } from '../bot/config.ts';
import { CliUsageError } from './CliError.ts';

export const BOT_USAGE = `usage: latentwalk bot
environment:
  DISCORD_TOKEN                   bot token (required; never logged)
  DISCORD_API_URL                 REST base, default https://discord.com/api (a LocalDiscord URL for testing)
  DISCORD_APPLICATION_ID          optional; learned from Discord at login
  REDIS_URL                       default redis://127.0.0.1:6379 (plus the LATENTWALK_* queue settings)
  LATENTWALK_BOARD_TTL_S          how long a /grid or /morph board stays open (default 1800)
  LATENTWALK_PROGRESS_INTERVAL_MS least time between progress edits of one job (default 3000)
  LATENTWALK_BOT_INSTANCE         stable name of this bot in the result stream (default bot-1)
  LATENTWALK_LOG_LEVEL            fatal|error|warn|info|debug|trace|silent (default info)`;

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
  const config = loadBotConfig();
  const app = await BotApp.start(config);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await app.stop();
  return 0;
}
