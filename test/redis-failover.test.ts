/**
 * Redis failover end to end: a primary, a replica and three Sentinels (real redis-server processes); the bot
 * (real discord.js client against LocalDiscord) and the app stack's worker (`startStack`, a `latentwalk worker
 * --renderer noop` child) find Redis through REDIS_SENTINELS. Members submit /loop continuously from three
 * servers; the primary is SIGKILLed while jobs are being submitted and rendered. After the Sentinels promote
 * the replica, the same bot and the same worker process carry on (no restart), a `latentwalk jobs` command
 * works, and no job acknowledged to a member more than a second before the kill is lost or posted twice. Jobs
 * acknowledged in the last second before the kill may be lost: the test counts them and reports the figure.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startStack, type RunningStack } from '../src/app/stack.ts';
import { silentLogger } from '../src/bot/log.ts';
import type { LogFields, Logger } from '../src/ops/log.ts';
import { jobsEnv, runLatentwalk } from './harness/redis.ts';
import { SentinelGroup } from './harness/sentinel.ts';
import { GENERAL, GENERAL2, GENERAL3, GUILD, GUILD2, GUILD3, Stack, waitFor, type UserName } from './harness/stack.ts';

interface Line {
  at: number;
  message: string;
  fields: LogFields;
}
const lines: Line[] = [];
const record = (message: string, fields: LogFields = {}) => lines.push({ at: Date.now(), message, fields });
const capture: Logger = { debug: () => undefined, info: record, warn: record, error: record };

let group: SentinelGroup;
let stack: Stack;
let app: RunningStack;
let dataDir: string;

before(async () => {
  group = await SentinelGroup.start();
  stack = await Stack.start({ worker: false, guilds: 3, log: capture, jobs: { redisTopology: group.topology }, bot: { progressIntervalMs: 60_000 } });
  dataDir = await mkdtemp(join(tmpdir(), 'latentwalk-failover-'));
  app = await startStack({
    env: { ...jobsEnv(stack.jobsConfig), LATENTWALK_DATA_DIR: join(dataDir, 'data'), LATENTWALK_LOG_LEVEL: 'warn', LATENTWALK_SHUTDOWN_GRACE_MS: '1000' },
    cwd: dataDir,
    bot: false,
    worker: { args: ['--renderer', 'noop', '--noop-batch-ms', '20', '--name', 'failover-worker'] },
    log: silentLogger,
    output: () => undefined,
  });
});

after(async () => {
  await app?.stop().catch(() => undefined);
  await stack?.stop().catch(() => undefined);
  await group?.stop().catch(() => undefined);
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

const WHERE: [string, string][] = [
  [GUILD, GENERAL],
  [GUILD2, GENERAL2],
  [GUILD3, GENERAL3],
];
const MEMBERS: UserName[] = ['alice', 'bob', 'carol', 'dave', 'erin'];

function firstAt(message: string, jobId: string): number | undefined {
  return lines.find((line) => line.message === message && line.fields['jobId'] === jobId)?.at;
}
/** Results Discord took for a job: successful requests with a file through its interaction's webhook. */
function posts(jobId: string): number {
  const token = stack.discord.interactionResponse(jobId.replace(/^render-/, ''))?.token;
  if (!token) return 0;
  return stack.discord.requests.filter((r) => r.status < 300 && r.files.length > 0 && r.path.includes(token)).length;
}

describe('Redis Sentinel failover', () => {
  it('keeps the bot, the worker and the CLI going; no acknowledged job is lost or posted twice', async (t) => {
    assert.match(app.config.jobs.redisTopology.kind, /^sentinel$/);
    assert.equal(app.config.privateRedis, false, 'with REDIS_SENTINELS `start` runs no Redis of its own');
    const workerPid = app.worker!.pid;
    const botApp = stack.bot;

    // Members submit /loop every 120 ms (about what the worker renders and the bot posts), round robin over three servers and five members.
    const jobIds: string[] = [];
    let submitting = true;
    const submitter = (async () => {
      for (let n = 0; submitting; n++) {
        const [guildId, channelId] = WHERE[n % WHERE.length]!;
        const member = MEMBERS[Math.floor(n / WHERE.length) % MEMBERS.length]!;
        void stack.slash(member, 'loop', { prompt: `a lighthouse ${n}`, frames: 2, steps: 1 }, channelId, guildId).then(
          (handle) => jobIds.push(`render-${handle.interactionId}`),
          () => undefined,
        );
        await new Promise((resolve) => setTimeout(resolve, 120));
      }
    })();

    const acknowledgedSince = (at: number) => lines.filter((l) => l.message === 'job queued' && l.at >= at).length;
    // The kill waits until enough jobs were acknowledged more than a second ago (the "early" bucket below), not
    // only posted: under load the posts can trail the acknowledgements by seconds.
    await waitFor(
      'jobs acknowledged and posted well before the kill',
      () => lines.filter((l) => l.message === 'job queued' && l.at < Date.now() - 1000).length >= 12 && lines.filter((l) => l.message === 'result posted').length >= 10,
      30_000,
    );
    const { port: oldPort, killedAt: killAt } = await group.killPrimary();
    await group.waitForFailover(oldPort);
    const failoverAt = Date.now();
    const failoverMs = failoverAt - killAt;
    // Submits keep coming after the failover, to the same bot and worker.
    await waitFor('jobs acknowledged after the promotion', () => acknowledgedSince(failoverAt) >= 10, 30_000);
    submitting = false;
    await submitter;
    // Let the last submits settle (acknowledged, or told to try again) before counting.
    let seen = -1;
    await waitFor('the last submits to settle', () => {
      const now = lines.length;
      const settled = now === seen;
      seen = now;
      return settled;
    }, 20_000, 1000);

    const queued = jobIds.filter((id) => firstAt('job queued', id) !== undefined);
    const bucket = (from: number, to: number) => queued.filter((id) => firstAt('job queued', id)! >= from && firstAt('job queued', id)! < to);
    const early = bucket(0, killAt - 1000);
    // A reply the old primary sent just before the kill can land after it: until the promotion, an
    // acknowledgement belongs to the old primary's last second.
    const lastSecond = bucket(killAt - 1000, failoverAt);
    const afterKill = bucket(failoverAt, Infinity);
    // Everything acknowledged is posted, or (the last second before the kill only) lost: wait for the posts.
    await waitFor('every job acknowledged outside the last second to be posted', () => [...early, ...afterKill].every((id) => posts(id) > 0), 30_000).catch(() => undefined);
    await waitFor('the last second\'s jobs to be posted', () => lastSecond.every((id) => posts(id) > 0), 3000).catch(() => undefined);
    const lost = (ids: string[]) => ids.filter((id) => posts(id) === 0);
    const doubled = queued.filter((id) => posts(id) > 1);
    const refused = jobIds.length - queued.length;
    t.diagnostic(
      `failover ${failoverMs} ms; submitted ${jobIds.length}, acknowledged ${queued.length} (${early.length} earlier than 1 s before the kill, ` +
        `${lastSecond.length} from then until the promotion, ${afterKill.length} after it), told to try again ${refused}; ` +
        `lost: ${lost(early).length} / ${lost(lastSecond).length} / ${lost(afterKill).length}; posted twice: ${doubled.length}; ` +
        `marks rewritten instead of posting again: ${lines.filter((l) => l.message.startsWith('result already posted')).length}; ` +
        `acknowledged before the kill and posted after the promotion: ${[...early, ...lastSecond].filter((id) => (firstAt('result posted', id) ?? 0) > failoverAt).length}`,
    );

    const tally = new Map<string, number>();
    for (const line of lines) tally.set(`${line.message}${line.fields['reason'] ? ` ${line.fields['reason']}` : ''}`, (tally.get(`${line.message}${line.fields['reason'] ? ` ${line.fields['reason']}` : ''}`) ?? 0) + 1);
    t.diagnostic(JSON.stringify([...tally]));
    assert.ok(early.length >= 10 && afterKill.length >= 10, `enough jobs on both sides of the kill (${early.length}, ${afterKill.length})`);
    assert.deepEqual(lost(early), [], 'jobs acknowledged more than a second before the kill are all posted');
    assert.deepEqual(lost(afterKill), [], 'jobs acknowledged after the promotion are all posted');
    assert.deepEqual(doubled, [], 'no job is posted twice');
    assert.ok(lost(lastSecond).length <= lastSecond.length);

    // The same processes carried on: the in-process bot, and the stack's worker (never restarted).
    assert.equal(stack.bot, botApp);
    assert.equal(app.worker!.pid, workerPid, 'the worker was not restarted');
    // A CLI command finds the new primary through the Sentinels.
    const listed = await runLatentwalk(stack.jobsConfig, ['jobs', 'list']);
    assert.equal(listed.code, 0, listed.stderr);
  });
});
