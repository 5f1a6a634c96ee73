/**
 * Redis with failover for one test file: a primary, a replica and three Sentinels (quorum 2), each a real
 * redis-server (Debian's Sentinel is `redis-server --sentinel`) on a free loopback port, in a temp dir.
 * `killPrimary()` SIGKILLs whichever server is the primary now; `waitForFailover()` waits until the Sentinels
 * have promoted the replica. Everything is killed at process exit even if a test forgets.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { RedisTopology } from '../../src/jobs/config.ts';
import { startLocalRedis, type StartedRedis } from '../../src/jobs/local-redis.ts';
import { freePort, waitFor } from './redis.ts';

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export interface SentinelGroupOptions {
  /** The primary's name in the Sentinels' `sentinel monitor` line. */
  master?: string;
  /** How long the primary may be silent before a Sentinel calls it down (default 1000 ms). */
  downAfterMs?: number;
  /**
   * Replication over a link this slow, each way (a proxy between replica and primary; default 0: direct). What
   * is still on the link when the primary is killed is dropped, as when its machine dies: the replica lags the
   * primary by about this much, the way it does across a network.
   */
  replicationDelayMs?: number;
}

interface DataNode {
  port: number;
  server: StartedRedis;
}

export class SentinelGroup {
  private readonly nodes: DataNode[] = [];
  private readonly sentinels: { port: number; process: ChildProcess; exited: Promise<void> }[] = [];
  private link: Server | undefined;

  private constructor(
    readonly dir: string,
    readonly master: string,
    private readonly downAfterMs: number,
    private readonly replicationDelayMs: number,
  ) {}

  static async start(options: SentinelGroupOptions = {}): Promise<SentinelGroup> {
    const dir = await mkdtemp(join(tmpdir(), 'latentwalk-sentinel-'));
    const group = new SentinelGroup(dir, options.master ?? 'lw-primary', options.downAfterMs ?? 1000, options.replicationDelayMs ?? 0);
    try {
      await group.boot();
    } catch (error) {
      await group.stop();
      throw error;
    }
    return group;
  }

  /** REDIS_SENTINELS's value. */
  get sentinelList(): string {
    return this.sentinels.map(({ port }) => `127.0.0.1:${port}`).join(',');
  }

  get topology(): RedisTopology {
    return { kind: 'sentinel', sentinels: this.sentinels.map(({ port }) => ({ host: '127.0.0.1', port })), master: this.master };
  }

  /** What a process needs in its environment to use this group. */
  get env(): Record<string, string> {
    return { REDIS_SENTINELS: this.sentinelList, REDIS_SENTINEL_MASTER: this.master };
  }

  private async boot(): Promise<void> {
    const primary = await this.startNode([]);
    const upstream = this.replicationDelayMs > 0 ? await this.slowLink(primary.port) : primary.port;
    const replica = await this.startNode(['--replicaof', '127.0.0.1', String(upstream)]);
    const replicaClient = plainClient(replica.port);
    try {
      await waitFor('the replica to sync', async () => /master_link_status:up/.test(await replicaClient.info('replication')), 15_000);
    } finally {
      replicaClient.disconnect();
    }
    for (let i = 0; i < 3; i++) await this.startSentinel(primary.port);
    // Every Sentinel must know the replica (to promote it) and the other two (to reach the quorum).
    for (const { port } of this.sentinels) {
      const client = plainClient(port);
      try {
        await waitFor(`sentinel ${port} to see the replica and the other sentinels`, async () => {
          const replicas = (await client.call('SENTINEL', 'REPLICAS', this.master)) as unknown[];
          const others = (await client.call('SENTINEL', 'SENTINELS', this.master)) as unknown[];
          return replicas.length === 1 && others.length === 2;
        }, 30_000, 100);
      } finally {
        client.disconnect();
      }
    }
  }

  private async startNode(extraArgs: string[]): Promise<DataNode> {
    const port = await freePort();
    const dir = join(this.dir, `node-${port}`);
    await mkdir(dir);
    const server = await startLocalRedis({ port, dir, extraArgs: ['--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '0', ...extraArgs] });
    running.add(server.process);
    void server.exited.then(() => running.delete(server.process));
    const node = { port, server };
    this.nodes.push(node);
    return node;
  }

  /** A TCP proxy to `port` that holds every chunk for replicationDelayMs; returns its port. */
  private async slowLink(port: number): Promise<number> {
    const delay = this.replicationDelayMs;
    const server = createServer((downstream) => {
      const upstream = connect(port, '127.0.0.1');
      let open = true;
      const timers = new Set<NodeJS.Timeout>();
      const forward = (to: Socket) => (chunk: Buffer) => {
        const timer = setTimeout(() => {
          timers.delete(timer);
          if (open) to.write(chunk);
        }, delay);
        timers.add(timer);
      };
      // Whatever is still on the link when either end goes is lost with it.
      const close = () => {
        if (!open) return;
        open = false;
        for (const timer of timers) clearTimeout(timer);
        downstream.destroy();
        upstream.destroy();
      };
      downstream.on('data', forward(upstream));
      upstream.on('data', forward(downstream));
      for (const socket of [downstream, upstream]) {
        socket.on('error', close);
        socket.on('close', close);
      }
    });
    this.link = server;
    return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
  }

  private async startSentinel(primaryPort: number): Promise<void> {
    const port = await freePort();
    const file = join(this.dir, `sentinel-${port}.conf`);
    await writeFile(
      file,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${this.dir}`,
        `sentinel monitor ${this.master} 127.0.0.1 ${primaryPort} 2`,
        `sentinel down-after-milliseconds ${this.master} ${this.downAfterMs}`,
        `sentinel failover-timeout ${this.master} 10000`,
        `sentinel parallel-syncs ${this.master} 1`,
        '',
      ].join('\n'),
    );
    const child = spawn('redis-server', [file, '--sentinel'], { stdio: ['ignore', 'ignore', 'pipe'] });
    running.add(child);
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => (running.delete(child), resolve())));
    this.sentinels.push({ port, process: child, exited });
    const client = plainClient(port);
    try {
      await waitFor(`sentinel on ${port} to answer${stderr ? ` (${stderr.trim()})` : ''}`, async () => (await client.ping().catch(() => '')) === 'PONG', 10_000, 50);
    } finally {
      client.disconnect();
    }
  }

  /** The port of the primary as the Sentinels see it now. */
  async primaryPort(): Promise<number> {
    const client = plainClient(this.sentinels[0]!.port);
    try {
      const reply = (await client.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', this.master)) as [string, string];
      return Number(reply[1]);
    } finally {
      client.disconnect();
    }
  }

  /**
   * SIGKILLs the current primary (nothing it had not yet sent to the replica survives); returns its port and
   * when the signal was sent.
   */
  async killPrimary(): Promise<{ port: number; killedAt: number }> {
    const port = await this.primaryPort();
    const node = this.nodes.find((n) => n.port === port);
    if (!node) throw new Error(`no data node on ${port}`);
    const killedAt = Date.now();
    node.server.process.kill('SIGKILL');
    await node.server.exited;
    return { port, killedAt };
  }

  /** Waits until every Sentinel names a primary other than `oldPort` and that server says it is one. */
  async waitForFailover(oldPort: number, timeoutMs = 30_000): Promise<number> {
    let port = 0;
    await waitFor('the Sentinels to promote the replica', async () => {
      for (const sentinel of this.sentinels) {
        const client = plainClient(sentinel.port);
        try {
          const reply = (await client.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', this.master).catch(() => null)) as [string, string] | null;
          if (!reply || Number(reply[1]) === oldPort) return false;
          port = Number(reply[1]);
        } finally {
          client.disconnect();
        }
      }
      const primary = plainClient(port);
      try {
        return /role:master/.test(await primary.info('replication').catch(() => ''));
      } finally {
        primary.disconnect();
      }
    }, timeoutMs, 100);
    return port;
  }

  /** A plain client of the current primary, for assertions; the caller disconnects it. */
  async primaryClient(): Promise<Redis> {
    return plainClient(await this.primaryPort());
  }

  async stop(): Promise<void> {
    this.link?.close();
    for (const sentinel of this.sentinels) sentinel.process.kill('SIGKILL');
    for (const node of this.nodes) node.server.process.kill('SIGKILL');
    await Promise.all([...this.sentinels.map((s) => s.exited), ...this.nodes.map((n) => n.server.exited)]);
    await rm(this.dir, { recursive: true, force: true });
  }
}

function plainClient(port: number): Redis {
  const client = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1, retryStrategy: (times) => Math.min(50 * times, 500) });
  client.on('error', () => undefined);
  return client;
}
