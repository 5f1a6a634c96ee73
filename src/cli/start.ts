/**
 * `latentwalk start` (npm start): the whole stack on one machine, until SIGINT / SIGTERM; see src/app/stack.ts.
 * `latentwalk config`: the effective settings and where each came from; `--markdown` prints the README's
 * configuration table.
 *
 * Settings come from the environment, then a `.env` file in the current directory, then config/defaults.json.
 * Bad settings stop `start` before anything runs, with one line per variable naming it and what it accepts,
 * and exit code 1; so does a missing DISCORD_TOKEN, with where to get it.
 */
import { parseArgs } from 'node:util';
import { configTableMarkdown, describeSettings, loadDotEnv, StackConfigError, unknownVariables, validateStackConfig } from '../app/config.ts';
import { startStack, type StackOptions } from '../app/stack.ts';
import { CliUsageError } from './CliError.ts';

export const START_USAGE = `usage: latentwalk start [--no-bot] [--no-worker]
Runs the whole stack on this machine: Redis (a private redis-server in LATENTWALK_DATA_DIR/redis unless
REDIS_URL is set), a render worker (LATENTWALK_MODEL_DIR or the bundled model) and the Discord bot
(DISCORD_TOKEN required). Reads .env in the current directory. Ctrl-C (or SIGTERM) stops everything it started;
a second one makes the worker hand its jobs back at once.
  --no-bot      no bot (a render host: worker + Redis)
  --no-worker   no worker (the bot with Redis; workers run elsewhere)
Settings: latentwalk config (the effective values), and the configuration table in the README.`;

export const CONFIG_USAGE = `usage: latentwalk config [--markdown]
Prints every setting's effective value and where it came from (environment, .env, default); secrets hidden.
  --markdown   print the README's configuration table instead`;

export interface StartIo {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  stderr?: (text: string) => void;
  /** Extra stack options (tests). */
  stack?: Partial<StackOptions>;
  /** Resolves with the stop request instead of process signals (tests). */
  signals?: NodeJS.EventEmitter;
}

export async function runStartCommand(argv: string[], io: StartIo = {}): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { help: { type: 'boolean', short: 'h' }, 'no-bot': { type: 'boolean' }, 'no-worker': { type: 'boolean' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new CliUsageError((error as Error).message.split('\n')[0] ?? 'bad arguments');
  }
  if (values.help) {
    console.log(START_USAGE);
    return 0;
  }
  const stderr = io.stderr ?? ((text: string) => process.stderr.write(text));
  const cwd = io.cwd ?? process.cwd();
  const dotenv = loadDotEnv(cwd, io.env ?? process.env);
  const signals = io.signals ?? process;

  // Signals that arrive while the stack is starting stop it as soon as it is up (or abort the start).
  const abort = new AbortController();
  let requests = 0;
  let running: Awaited<ReturnType<typeof startStack>> | undefined;
  const onSignal = () => {
    requests++;
    if (requests === 1) abort.abort();
    else running?.hurry();
  };
  signals.on('SIGINT', onSignal);
  signals.on('SIGTERM', onSignal);
  try {
    try {
      running = await startStack({
        env: dotenv.env,
        cwd,
        signal: abort.signal,
        tokenWhere: `the environment or in ${dotenv.path ?? `a .env file in ${cwd}`}`,
        ...(values['no-bot'] ? { bot: false } : {}),
        ...(values['no-worker'] ? { worker: false } : {}),
        ...io.stack,
      });
    } catch (error) {
      if (error instanceof StackConfigError) {
        stderr(`latentwalk: cannot start; fix ${error.errors.length === 1 ? 'this setting' : 'these settings'} first:\n`);
        for (const problem of error.errors) stderr(`  ${problem.message}\n`);
        return 1;
      }
      if (abort.signal.aborted) return 0; // stopped while starting: everything started was stopped
      stderr(`latentwalk: the stack did not start: ${(error as Error).message}\n`);
      return 1;
    }
    const exit = await running.done;
    if (exit.code !== 0) stderr(`latentwalk: ${exit.reason}\n`);
    return exit.code;
  } finally {
    signals.off('SIGINT', onSignal);
    signals.off('SIGTERM', onSignal);
  }
}

export async function runConfigCommand(argv: string[], io: StartIo = {}): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: { markdown: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: false }));
  } catch (error) {
    throw new CliUsageError((error as Error).message.split('\n')[0] ?? 'bad arguments');
  }
  if (values.help) {
    console.log(CONFIG_USAGE);
    return 0;
  }
  if (values.markdown) {
    console.log(configTableMarkdown());
    return 0;
  }
  const cwd = io.cwd ?? process.cwd();
  const dotenv = loadDotEnv(cwd, io.env ?? process.env);
  const rows = describeSettings(dotenv.env, dotenv.keys);
  const width = Math.max(...rows.map((row) => row.key.length));
  for (const row of rows) console.log(`${row.key.padEnd(width)}  ${row.value}  (${row.source})`);
  for (const warning of unknownVariables(dotenv.env)) console.log(`warning: ${warning}`);
  try {
    validateStackConfig(dotenv.env, { cwd, bot: false });
    console.log('all settings are valid');
    return 0;
  } catch (error) {
    if (!(error instanceof StackConfigError)) throw error;
    for (const problem of error.errors) console.log(`error: ${problem.message}`);
    return 1;
  }
}
