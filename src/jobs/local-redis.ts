/**
 * Starts a redis-server configured the way the job queue needs it: append-only persistence (so queued jobs
 * survive a restart) and `maxmemory-policy noeviction` (so Redis never drops a job or a lock to save memory).
 * Used by `latentwalk jobs local-redis` for a development instance and by the tests for a private one.
 */
import { spawn, type ChildProcess } from 'node:child_process';

export interface LocalRedisOptions {
  port: number;
  /** Where the AOF files go. */
  dir: string;
  /** `always` fsyncs every write (tests that kill Redis); `everysec` loses at most a second (the default). */
  appendfsync?: 'always' | 'everysec';
  bind?: string;
  /** Inherit stdio instead of piping it (the foreground CLI command). */
  inheritStdio?: boolean;
  /** Override the policy (tests of the start-up check only). */
  maxmemoryPolicy?: string;
  /**
   * Its own process group (`latentwalk start`): a Ctrl-C in the terminal then reaches only the supervisor,
   * which stops Redis last, after the worker has handed its jobs back.
   */
  detached?: boolean;
  /** More `--option value` arguments (a replica's `--replicaof`, a cluster node's `--cluster-enabled`). */
  extraArgs?: string[];
}

export function localRedisArgs(options: LocalRedisOptions): string[] {
  return [
    '--port', String(options.port),
    '--bind', options.bind ?? '127.0.0.1',
    '--dir', options.dir,
    '--appendonly', 'yes',
    '--appendfsync', options.appendfsync ?? 'everysec',
    '--maxmemory-policy', options.maxmemoryPolicy ?? 'noeviction',
    // AOF is the persistence; RDB snapshots would only add fork pauses.
    '--save', '',
    '--protected-mode', 'yes',
    ...(options.extraArgs ?? []),
  ];
}

export interface StartedRedis {
  process: ChildProcess;
  url: string;
  /** Resolves when the process has exited. */
  exited: Promise<number | null>;
}

/** Spawns redis-server (from PATH) and resolves once it accepts connections. */
export async function startLocalRedis(options: LocalRedisOptions, binary = 'redis-server'): Promise<StartedRedis> {
  const child = spawn(binary, localRedisArgs(options), {
    stdio: options.inheritStdio ? 'inherit' : ['ignore', 'pipe', 'pipe'],
    ...(options.detached ? { detached: true } : {}),
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = `redis://${options.bind ?? '127.0.0.1'}:${options.port}`;
  if (options.inheritStdio) {
    await waitForPort(options.port, exited);
    return { process: child, url, exited };
  }
  await new Promise<void>((resolve, reject) => {
    let output = '';
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Ready to accept connections')) {
        child.stdout?.off('data', onData);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', (error) => reject(new Error(`cannot start ${binary}: ${error.message}`)));
    void exited.then((code) => reject(new Error(`${binary} exited with code ${code}: ${output.trim().split('\n').slice(-3).join(' | ')}`)));
  });
  // Keep draining the pipes so a chatty server never blocks on a full pipe.
  child.stdout?.resume();
  child.stderr?.resume();
  return { process: child, url, exited };
}

async function waitForPort(port: number, exited: Promise<number | null>): Promise<void> {
  const { createConnection } = await import('node:net');
  let gone = false;
  void exited.then(() => (gone = true));
  for (let attempt = 0; attempt < 100 && !gone; attempt++) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ port, host: '127.0.0.1' }, () => {
        socket.end();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`redis-server did not start listening on port ${port}`);
}
