/**
 * A Redis Cluster of three primaries (no replicas) for one test file: real redis-server processes with
 * `--cluster-enabled yes` on free loopback ports, joined with `redis-cli --cluster create` (Debian's
 * redis-tools, which redis-server depends on). Killed at process exit even if a test forgets.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import type { RedisTopology } from '../../src/jobs/config.ts';
import { startLocalRedis, type StartedRedis } from '../../src/jobs/local-redis.ts';
import { freePort, waitFor } from './redis.ts';

const run = promisify(execFile);
const running = new Set<StartedRedis>();
process.once('exit', () => {
  for (const server of running) server.process.kill('SIGKILL');
});

export class TestCluster {
  private constructor(
    readonly dir: string,
    readonly nodes: { port: number; server: StartedRedis }[],
  ) {}

  static async start(size = 3): Promise<TestCluster> {
    const dir = await mkdtemp(join(tmpdir(), 'latentwalk-cluster-'));
    const cluster = new TestCluster(dir, []);
    try {
      for (let i = 0; i < size; i++) {
        const port = await freePort();
        const nodeDir = join(dir, String(port));
        await mkdir(nodeDir);
        const server = await startLocalRedis({
          port,
          dir: nodeDir,
          extraArgs: ['--cluster-enabled', 'yes', '--cluster-config-file', join(nodeDir, 'nodes.conf'), '--cluster-node-timeout', '2000'],
        });
        running.add(server);
        cluster.nodes.push({ port, server });
      }
      await run('redis-cli', ['--cluster', 'create', ...cluster.nodes.map(({ port }) => `127.0.0.1:${port}`), '--cluster-replicas', '0', '--cluster-yes']);
      for (const { port } of cluster.nodes) {
        const client = cluster.client(port);
        try {
          await waitFor(`cluster node ${port} to be ok`, async () => /cluster_state:ok/.test(String(await client.call('CLUSTER', 'INFO'))), 20_000, 100);
        } finally {
          client.disconnect();
        }
      }
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  get topology(): RedisTopology {
    // Two of the three are enough to find the cluster; the third is discovered.
    return { kind: 'cluster', nodes: this.nodes.slice(0, 2).map(({ port }) => ({ host: '127.0.0.1', port })) };
  }

  /** A plain (non-cluster) client of one node, for assertions; the caller disconnects it. */
  client(port: number): Redis {
    const client = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1, retryStrategy: (times) => Math.min(50 * times, 500) });
    client.on('error', () => undefined);
    return client;
  }

  /** Every key on every node: node port → keys. */
  async keysByNode(): Promise<Map<number, string[]>> {
    const out = new Map<number, string[]>();
    for (const { port } of this.nodes) {
      const client = this.client(port);
      try {
        out.set(port, await client.keys('*'));
      } finally {
        client.disconnect();
      }
    }
    return out;
  }

  async stop(): Promise<void> {
    for (const { server } of this.nodes) {
      server.process.kill('SIGKILL');
      await server.exited;
      running.delete(server);
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}
