/**
 * `latentwalk playground` (`npm run playground`): the real bot, a real worker and a private Redis behind a
 * local Discord-compatible server, with a web page that plays the Discord channel. Prints one URL; Ctrl-C
 * (SIGINT), SIGTERM or SIGHUP stops all of it.
 */
import { parseArgs } from 'node:util';
import { DEFAULT_PLAYGROUND_PORT, startPlayground, type Playground } from '../playground/launcher.ts';
import { CliUsageError, parseNumberOption } from './CliError.ts';

export const PLAYGROUND_USAGE = `usage: latentwalk playground [options]
Starts a private Redis, a render worker on the bundled model, a local Discord-compatible server and the bot
(unchanged, pointed at that server), then prints the page's URL. Ctrl-C stops everything.
  --host HOST      address to listen on (default 127.0.0.1: only this machine; 0.0.0.0 opens it to your
                   network, with no authentication: anyone who can reach it can act as any member)
  --port N         port (default ${DEFAULT_PLAYGROUND_PORT}, or a free one when that is taken; 0: any free port)
  --model NAME|DIR a bundled model (shapes, emoji) or a pack directory for the worker (default: the
                   bundled default, or LATENTWALK_MODEL_DIR)
  --provider NAME  cpu, webgpu or cuda (LATENTWALK_PROVIDER)
  --verbose        print the worker's and the bot's logs
The page: one guild (#general, #renders), four members to act as (alice can manage the server), the bot's
messages, buttons and modals, and a message box for its slash commands (type /). ?as=bob in the URL starts as bob.
environment: REDIS_URL uses that Redis instead of a private redis-server (keys under a prefix of this run,
removed at exit); DISCORD_* variables are ignored (the bot only ever talks to the local server).`;

const PROVIDERS = ['cpu', 'webgpu', 'cuda'] as const;

export async function runPlaygroundCommand(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        host: { type: 'string' },
        port: { type: 'string' },
        model: { type: 'string' },
        provider: { type: 'string' },
        verbose: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new CliUsageError((error as Error).message.split('\n')[0] ?? 'bad arguments');
  }
  if (values.help) {
    console.log(PLAYGROUND_USAGE);
    return 0;
  }
  const port = parseNumberOption('port', values.port, { integer: true });
  if (port !== undefined && (port < 0 || port > 65535)) throw new CliUsageError(`--port must be from 0 to 65535, got ${port}`);
  if (values.host !== undefined && !/^[A-Za-z0-9.:[\]-]{1,255}$/.test(values.host)) throw new CliUsageError(`--host must be a host name or address, got '${values.host}'`);
  if (values.provider !== undefined && !(PROVIDERS as readonly string[]).includes(values.provider)) {
    throw new CliUsageError(`--provider must be one of ${PROVIDERS.join(', ')}, got '${values.provider}'`);
  }

  // Signals that arrive while it is still starting stop it as soon as it can be stopped. A second one makes
  // the worker hand its jobs back at once; a third exits (the stack kills its processes on the way out).
  let signalled: NodeJS.Signals | undefined;
  let requests = 0;
  let wake: (() => void) | undefined;
  const abort = new AbortController();
  let playground: Playground | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    requests++;
    if (requests === 1) {
      signalled = signal;
      abort.abort();
      wake?.();
    } else if (requests === 2 && playground) {
      console.error(`latentwalk playground: ${signal} again, hurrying (a third one exits at once)`);
      playground.hurry();
    } else {
      console.error(`latentwalk playground: ${signal} again, exiting now`);
      process.exit(130);
    }
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const signal of signals) process.on(signal, onSignal);

  const verbose = values.verbose === true;
  try {
    console.log('latentwalk playground: starting Redis, a worker, the local Discord server and the bot...');
    playground = await startPlayground({
      ...(values.host !== undefined ? { host: values.host } : {}),
      ...(port !== undefined ? { port } : {}),
      ...(values.model !== undefined ? { modelDir: values.model } : {}),
      ...(values.provider !== undefined ? { provider: values.provider as (typeof PROVIDERS)[number] } : {}),
      signal: abort.signal,
      ...(verbose ? { log: (line: string) => console.log(line), echo: (line: string) => console.log(line) } : { log: (line: string) => warnOnly(line) }),
    });
    if (!signalled) {
      const host = values.host ?? '127.0.0.1';
      const exposed = !/^(127\.|localhost$|::1$|\[::1\]$)/.test(host);
      console.log(`latentwalk playground ready: ${playground.url}`);
      console.log(
        exposed
          ? `  listening on ${host}: reachable from other machines too, with no authentication. Ctrl-C stops it.`
          : '  open it in a browser; act as alice, bob, carol or dave; Ctrl-C stops it.',
      );
      const failure = await Promise.race([
        playground.failed,
        new Promise<undefined>((resolve) => {
          wake = () => resolve(undefined);
          if (signalled) resolve(undefined);
        }),
      ]);
      if (failure !== undefined) {
        console.error(`latentwalk playground: ${failure}`);
        await playground.stop();
        return 1;
      }
    }
    console.log(`latentwalk playground: ${signalled}, stopping...`);
    await playground.stop();
    console.log('latentwalk playground: stopped');
    return 0;
  } catch (error) {
    await playground?.stop();
    if (signalled) {
      console.log(`latentwalk playground: ${signalled} while starting; stopped`);
      return 0;
    }
    throw error;
  } finally {
    for (const signal of signals) process.off(signal, onSignal);
  }
}

/** Without --verbose only warnings of the local server reach the terminal; status lines are kept quiet. */
function warnOnly(line: string): void {
  if (!line.startsWith('playground: ')) console.error(line);
}
