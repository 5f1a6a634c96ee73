/**
 * startStack() as a function (what `npm start` and the playground use): a private Redis and a worker, handles
 * with pids, supervision (a worker that dies is restarted), and stop() / an abort signal that leave no process.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { StackConfigError } from '../src/app/config.ts';
import { StackAbortedError, startStack } from '../src/app/stack.ts';
import { JobProducer } from '../src/jobs/producer.ts';
import { loadJobsConfig } from '../src/jobs/config.ts';
import { silentLogger } from '../src/ops/log.ts';
import { waitFor } from './harness/redis.ts';

const scratch = mkdtempSync(join(tmpdir(), 'latentwalk-stack-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** Command lines of this process's live children (tsx's esbuild service aside). */
function childrenOf(parent: number): string[] {
  const out: string[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === parent && fields[0] !== 'Z' && !stat.includes('(esbuild)')) out.push(readFileSync(`/proc/${name}/cmdline`, 'utf8').replace(/\0/g, ' '));
    } catch {
      // gone
    }
  }
  return out;
}

const baseEnv = () => ({ PATH: process.env['PATH'] ?? '', LATENTWALK_SHUTDOWN_GRACE_MS: '1000', LATENTWALK_LOG_LEVEL: 'warn' });

describe('startStack', () => {
  it('runs a private Redis and a worker, restarts a worker that dies, and stop() leaves no process', async () => {
    const dir = mkdtempSync(join(scratch, 'a-'));
    const lines: string[] = [];
    const stack = await startStack({
      env: { ...baseEnv(), LATENTWALK_LOG_LEVEL: 'info', LATENTWALK_DATA_DIR: join(dir, 'data') },
      cwd: dir,
      redis: 'private',
      bot: false,
      worker: { args: ['--renderer', 'noop'] },
      log: silentLogger,
      output: (service, line) => lines.push(`${service}: ${line}`),
    });
    try {
      assert.match(stack.redisUrl, /^redis:\/\/127\.0\.0\.1:\d+$/);
      assert.ok(stack.redis && stack.worker && !stack.bot);
      assert.equal(stack.pids().length, 2);
      assert.ok(existsSync(join(dir, 'data', 'redis', 'latentwalk-start.json')));

      // A job goes through the stack's Redis to its worker.
      const producer = await JobProducer.connect(loadJobsConfig({ REDIS_URL: stack.redisUrl }));
      try {
        const ticket = await producer.submit({
          kind: 'walk',
          prompts: [{ text: 'a lighthouse', contributorId: 'u1' }],
          settings: { frames: 2, steps: 1 },
          guildId: 'g1',
          channelId: 'c1',
          requesterId: 'u1',
          reply: { via: 'discord', channelId: 'c1' },
        });
        const outcome = await producer.waitForOutcome(ticket.jobId, { timeoutMs: 30_000 });
        assert.equal(outcome.status, 'done');
      } finally {
        await producer.close();
      }

      // Supervision: a worker killed from outside comes back.
      const first = stack.worker!.pid;
      process.kill(first, 'SIGKILL');
      await waitFor('a restarted worker', () => stack.worker && stack.worker.pid !== first && stack.pids().includes(stack.worker.pid), 30_000);
    } finally {
      const pids = stack.pids();
      await stack.stop();
      assert.deepEqual((await stack.done).code, 0);
      assert.deepEqual(pids.filter(alive), [], 'nothing left running');
    }
    assert.ok(!existsSync(join(dir, 'data', 'redis', 'latentwalk-start.json')));
    assert.ok(lines.some((line) => line.startsWith('worker: {')), 'the worker’s JSON lines reach output()');
  });

  it('an abort signal stops it', async () => {
    const dir = mkdtempSync(join(scratch, 'b-'));
    const controller = new AbortController();
    const stack = await startStack({
      env: { ...baseEnv(), LATENTWALK_DATA_DIR: join(dir, 'data') },
      cwd: dir,
      bot: false,
      worker: { args: ['--renderer', 'noop'] },
      log: silentLogger,
      output: () => undefined,
      signal: controller.signal,
    });
    const pids = stack.pids();
    assert.equal(pids.length, 2);
    controller.abort();
    assert.equal((await stack.done).code, 0);
    assert.deepEqual(pids.filter(alive), []);
  });

  it('an abort while it is starting stops what it had started', async () => {
    const dir = mkdtempSync(join(scratch, 'e-'));
    const controller = new AbortController();
    const started = startStack({
      env: { ...baseEnv(), LATENTWALK_DATA_DIR: join(dir, 'data') },
      cwd: dir,
      bot: false,
      // The model loads slowly enough to be aborted: the worker is not ready yet.
      worker: { args: ['--renderer', 'noop'] },
      log: silentLogger,
      output: () => undefined,
      signal: controller.signal,
    });
    await waitFor('the worker process', () => childrenOf(process.pid).some((cmd) => / worker\b/.test(cmd)), 10_000, 5);
    controller.abort();
    await assert.rejects(started, StackAbortedError);
    assert.deepEqual(childrenOf(process.pid), [], 'no process left');
  });

  it('refuses bad settings before starting anything', async () => {
    const dir = mkdtempSync(join(scratch, 'c-'));
    await assert.rejects(
      startStack({ env: { ...baseEnv(), LATENTWALK_WORKER_CONCURRENCY: '0', LATENTWALK_DATA_DIR: join(dir, 'data') }, cwd: dir, log: silentLogger }),
      (error: unknown) =>
        error instanceof StackConfigError &&
        error.keys.includes('LATENTWALK_WORKER_CONCURRENCY') &&
        error.keys.includes('DISCORD_TOKEN') &&
        /LATENTWALK_WORKER_CONCURRENCY must be at least 1/.test(error.message),
    );
    assert.ok(!existsSync(join(dir, 'data')));
  });

  it('takes over a redis-server an earlier, killed start left behind', async () => {
    const dir = mkdtempSync(join(scratch, 'd-'));
    const options = {
      env: { ...baseEnv(), LATENTWALK_DATA_DIR: join(dir, 'data') },
      cwd: dir,
      bot: false,
      worker: false,
      log: silentLogger,
    } as const;
    const first = await startStack(options);
    const orphan = first.redis!.pid;
    // Simulate a supervisor that died: its record stays, its Redis keeps running.
    const record = join(dir, 'data', 'redis', 'latentwalk-start.json');
    const saved = readFileSync(record, 'utf8');
    const second = await (async () => {
      // Pretend the record was written by a dead supervisor.
      const { writeFileSync } = await import('node:fs');
      writeFileSync(record, JSON.stringify({ ...JSON.parse(saved), supervisorPid: 2 ** 22 + 7 }));
      return startStack(options);
    })();
    try {
      assert.ok(!alive(orphan), 'the left-over redis-server was stopped');
      assert.notEqual(second.redis!.pid, orphan);
    } finally {
      await second.stop();
      await first.stop();
    }
  });
});
