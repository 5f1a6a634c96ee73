/**
 * The `latentwalk` command line. Every failure a user can cause ends as one readable line on stderr and a
 * non-zero exit code (2 for usage, 1 otherwise), never a stack trace; LATENTWALK_DEBUG=1 prints the stack.
 */
import { EngineError } from '../engine/errors.ts';
import { CliUsageError } from './CliError.ts';

const USAGE = `usage: latentwalk <command> [options]
commands:
  render <kind> <prompts...>                   render a morph, grid, walk, loop or chain to a GIF or image (latentwalk render --help)
  demo [--out-dir DIR] [--model NAME|DIR]      render a morph, a grid, a walk and a loop with the bundled model
  worker                                       run a render worker (takes jobs from Redis)
  jobs <submit|list|show|cancel|retry> ...     submit and inspect jobs in the queue
  jobs local-redis                             start a redis-server with AOF and noeviction for local use
  bot                                          run the Discord bot (needs DISCORD_TOKEN)
  register-commands [--guild ID]               register the slash commands globally or in one guild
  start [--no-bot] [--no-worker]               the whole stack on this machine: Redis, a worker and the bot (npm start)
  config [--markdown]                          the effective settings and where each came from
  gpu <install cuda13|cuda12|check>            onnxruntime's CUDA provider, and which providers load here
  playground [--host H] [--port N]             the real bot, worker and Redis with a local web page that plays Discord`;

type Command = (argv: string[]) => Promise<number>;

// Loaded lazily: `render` must not pull in Redis code, and `jobs` must not pull in onnxruntime.
const COMMANDS: Record<string, () => Promise<Command>> = {
  render: async () => (await import('./render.ts')).runRenderCommand,
  demo: async () => (await import('./demo.ts')).runDemoCommand,
  worker: async () => (await import('./worker.ts')).runWorkerCommand,
  jobs: async () => (await import('./jobs.ts')).runJobsCommand,
  bot: async () => (await import('./bot.ts')).runBotCommand,
  'register-commands': async () => (await import('./register-commands.ts')).runRegisterCommandsCommand,
  start: async () => (await import('./start.ts')).runStartCommand,
  config: async () => (await import('./start.ts')).runConfigCommand,
  playground: async () => (await import('./playground.ts')).runPlaygroundCommand,
  gpu: async () => (await import('./gpu.ts')).runGpuCommand,
};

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(USAGE);
    return name ? 0 : 2;
  }
  const load = COMMANDS[name];
  if (!load) {
    console.error(`latentwalk: unknown command '${name}'\n${USAGE}`);
    return 2;
  }
  if (name === 'render' && (rest.includes('--help') || rest.includes('-h'))) {
    console.log((await import('./render.ts')).RENDER_USAGE);
    return 0;
  }
  try {
    return await (await load())(rest);
  } catch (error) {
    return reportError(error);
  }
}

export function reportError(error: unknown): number {
  if (process.env['LATENTWALK_DEBUG'] === '1') console.error(error);
  if (error instanceof CliUsageError) {
    console.error(`latentwalk: ${error.message} (see latentwalk --help)`);
    return 2;
  }
  if (error instanceof EngineError) {
    console.error(`latentwalk: ${error.message}`);
    return 1;
  }
  const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
  console.error(`latentwalk: ${message} (set LATENTWALK_DEBUG=1 for details)`);
  return 1;
}
