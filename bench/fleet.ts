/**
 * A fleet, simulated end to end (`npm run bench:scale -- --fleet`): the real bot (`latentwalk bot`, its own
 * process, the shards LocalDiscord recommends in that one process), 8 render workers with the no-op renderer
 * (RenderWorker instances in this process, concurrency 1 each, own Redis connections), a private redis-server
 * (AOF everysec, noeviction), and LocalDiscord with 500 guilds and Discord's rate limits enforced.
 *
 * 1. Idle queue: a few /loop commands spaced so most workers stay idle; their queue wait is the empty queue's,
 *    and their render time (start to finish, bookkeeping included) sets the arrival rate of the next phases.
 * 2. Quiet guilds alone: `quietJobs` commands from the quiet guilds only, as a Poisson stream at their share of
 *    phase 3's rate (no busy guild submits). Their waits are what the quiet guilds' own traffic costs them.
 * 3. Load: `jobs` /loop commands as a Poisson stream at `load` (0.9) of the workers' capacity, from guilds
 *    picked at random, a few of them `busyFactor` (10) times as often as the rest. The quiet guilds' waits
 *    here against phase 2's are what the busy guilds' flood costs them; against phase 1's, what the load does.
 * 4. Memory: the workers stop; `memoryJobs` more commands queue up; Redis's used_memory delta per queued job.
 *
 * Queue wait is a job's start minus its submit, both as the job record keeps them. Results posted once is
 * counted on Discord's side: successful uploads through each command's interaction token.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { registerCommands } from '../src/cli/register-commands.ts';
import { jobsConfig, type JobsConfig } from '../src/jobs/config.ts';
import { startLocalRedis } from '../src/jobs/local-redis.ts';
import { JobProducer } from '../src/jobs/producer.ts';
import { LocalDiscord, type RecordedRequest } from '../src/local-discord/index.ts';
import { createNoopBackend } from '../src/worker/noop-backend.ts';
import { RenderWorker } from '../src/worker/render-worker.ts';
import { seededRandom } from '../test/harness/random.ts';
import { freePort, spawnLatentwalk, waitFor, type CliProcess } from '../test/harness/redis.ts';
import { jsonLines } from '../test/harness/shardbench.ts';
import { scaleGuilds, type ScaleGuild } from '../test/harness/shards.ts';

const TOKEN = 'latentwalk-fleet-bot-token.0123456789abcdef';
/** Linux's USER_HZ: /proc/<pid>/stat counts CPU time in these ticks. */
const CLOCK_TICKS_PER_S = 100;

export interface FleetOptions {
  /** Jobs of the load phase. */
  jobs?: number;
  guilds?: number;
  busyGuilds?: number;
  /** How many times as often a busy guild submits as a quiet one. */
  busyFactor?: number;
  workers?: number;
  /** The no-op renderer's time per job (one batch: a 2-frame /loop). */
  renderMs?: number;
  /** Target share of the workers' time spent rendering. */
  load?: number;
  idleJobs?: number;
  /** Jobs of the quiet-guilds-alone phase (0 skips it). */
  quietJobs?: number;
  memoryJobs?: number;
  membersPerGuild?: number;
  /** Members of each busy guild (their many members share its backlog under the per-member cap). */
  membersPerBusyGuild?: number;
  seed?: number;
  /** Progress lines (stderr by default). */
  progress?: (line: string) => void;
}

export interface WaitFigures {
  jobs: number;
  p50: number;
  p95: number;
  p99: number;
  mean: number;
}

export interface FleetFigures {
  guilds: number;
  busyGuilds: number;
  busyFactor: number;
  workers: number;
  shards: number;
  renderMs: number;
  /** Measured start-to-finish time of a job on a worker (idle phase, median of its later half). */
  serviceMs: number;
  arrivalsPerSecond: number;
  jobs: number;
  /** Commands the bot refused (a cap), and what it said to the first of them. */
  refused: number;
  refusedSample: string;
  /** Jobs finished per second over the load phase (first submit to last finish). */
  throughput: number;
  /** Share of the workers' time spent on jobs over the load phase. */
  utilization: number;
  idle: WaitFigures;
  /** Quiet guilds' waits with no busy guild submitting (phase 2). */
  quietAlone: WaitFigures;
  quiet: WaitFigures;
  busy: WaitFigures;
  /** Jain's index of the guilds' mean waits (1: every guild waits as long on average). */
  jain: number;
  /** Quiet guilds' p95 over the idle queue's p95. */
  quietVsIdleP95: number;
  /** Quiet guilds' p95 while the busy guilds flood over their p95 with the busy guilds silent. */
  quietVsAloneP95: number;
  posted: { once: number; twice: number; missing: number };
  firstResponse: { p50: number; p95: number; max: number; over3s: number };
  rateLimited: number;
  redisBytesPerQueuedJob: number;
  memoryJobs: number;
  /** The bot process's CPU (user + system) per 1,000 jobs of the load phase, in seconds. */
  botCpuSecondsPer1000: number;
  loadPhaseMs: number;
}

interface Sent {
  jobId: string;
  token: string;
  guild: ScaleGuild;
  busy: boolean;
  interactionId: string;
}

export async function fleetBench(options: FleetOptions = {}): Promise<FleetFigures> {
  const total = options.jobs ?? 5000;
  const guildCount = options.guilds ?? 500;
  const busyCount = options.busyGuilds ?? 5;
  const busyFactor = options.busyFactor ?? 10;
  const workerCount = options.workers ?? 8;
  const renderMs = options.renderMs ?? 1000;
  const load = options.load ?? 0.9;
  const idleJobs = options.idleJobs ?? 40;
  const quietJobs = options.quietJobs ?? 2000;
  const memoryJobs = options.memoryJobs ?? 200;
  // Members share a server's backlog under the per-member cap (2 queued by default); past it the bot refuses.
  const members = options.membersPerGuild ?? 8;
  const busyMembers = options.membersPerBusyGuild ?? 40;
  const random = seededRandom(options.seed ?? 15);
  const progress = options.progress ?? ((line: string) => process.stderr.write(`  [fleet] ${line}\n`));
  const shardCount = 4;

  const { seeds, guilds } = scaleGuilds(guildCount, shardCount, 1, (i) => (i < busyCount ? busyMembers : members));
  const dir = await mkdtemp(join(tmpdir(), 'latentwalk-fleet-redis-'));
  const redis = await startLocalRedis({ port: await freePort(), dir });
  const perShard = Math.ceil(guildCount / shardCount);
  const discord = await LocalDiscord.start({ token: TOKEN, guilds: seeds, guildsPerShard: perShard, maxGuildsPerSession: perShard, maxConcurrency: 16, rateLimits: true, log: () => undefined });
  const jobs: JobsConfig = jobsConfig({
    redisUrl: redis.url,
    prefix: 'fleet',
    caps: { perGuild: 10_000, perUser: 10_000, total: 100_000 },
    preview: { maxBytes: 0 },
  });
  const admin = new Redis(redis.url, { maxRetriesPerRequest: 3 });
  admin.on('error', () => undefined);
  let producer: JobProducer | undefined;
  let bot: CliProcess | undefined;
  const workers: RenderWorker[] = [];

  // Discord's side of "posted": successful uploads through an interaction token.
  const uploads = new Map<string, number>();
  discord.on('request', (r: RecordedRequest) => {
    if (r.status >= 300 || r.files.length === 0) return;
    const token = /^\/webhooks\/[^/]+\/([^/]+)\//.exec(r.path)?.[1];
    if (token) uploads.set(token, (uploads.get(token) ?? 0) + 1);
  });

  try {
    await registerCommands({ token: TOKEN, apiUrl: discord.restUrl, applicationId: undefined }, jobs.limits);
    producer = await JobProducer.connect(jobs);
    for (let i = 0; i < workerCount; i++) {
      workers.push(await RenderWorker.start({ config: jobs, backend: createNoopBackend({ batchMs: renderMs }), name: `fleet-worker-${i + 1}`, progressIntervalMs: 1000 }));
    }
    progress(`${workerCount} no-op workers up (${renderMs} ms a job); starting the bot (${guildCount} guilds)`);
    bot = spawnLatentwalk(jobs, ['bot'], {
      DISCORD_TOKEN: TOKEN,
      DISCORD_API_URL: discord.restUrl,
      LATENTWALK_SHARDS_PER_PROCESS: String(shardCount),
      LATENTWALK_BOT_INSTANCE: 'fleet',
      LATENTWALK_REGISTER_COMMANDS: 'off',
      LATENTWALK_LOG_LEVEL: 'info',
    });
    const botProcess = bot;
    await waitFor('the bot', () => {
      if (botProcess.child.exitCode !== null) throw new Error(`the bot exited:\n${botProcess.stderr.slice(-4000)}`);
      return jsonLines(botProcess.stderr).some((l) => l.msg === 'bot ready');
    }, 300_000, 200);
    const shards = discord.connectedShards.length;
    progress(`bot ready on ${shards} shards`);

    const memberTurn = new Map<string, number>();
    const send = async (guild: ScaleGuild, busy: boolean, label: string): Promise<Sent> => {
      const turn = memberTurn.get(guild.id) ?? 0;
      memberTurn.set(guild.id, turn + 1);
      const handle = await discord.slashCommand({
        guildId: guild.id,
        channelId: guild.channels[0]!,
        userId: guild.members[turn % guild.members.length]!,
        name: 'loop',
        options: [
          { name: 'prompt', value: `a lighthouse ${label}` },
          { name: 'frames', value: 2 },
          { name: 'steps', value: 1 },
        ],
      });
      if (handle.delivered !== 1) throw new Error(`guild ${guild.id}: the command reached ${handle.delivered} gateway sessions`);
      return { jobId: `render-${handle.interactionId}`, token: handle.token, guild, busy, interactionId: handle.interactionId };
    };
    const busyGuilds = guilds.slice(0, busyCount);
    const quietGuilds = guilds.slice(busyCount);

    // 1. Idle queue: one command every renderMs / 2, so at most a couple of workers are busy.
    const idleSent: Sent[] = [];
    for (let i = 0; i < idleJobs; i++) {
      idleSent.push(await send(quietGuilds[Math.floor(random() * quietGuilds.length)]!, false, `idle ${i}`));
      await sleep(renderMs / 2);
    }
    const idleRecords = (await finished(producer, discord, idleSent, 120_000)).done;
    // The median of the later half: the first jobs carry the bot's and workers' warm-up (JIT, connections).
    const serviceMs = median(idleRecords.slice(Math.floor(idleRecords.length / 2)).map((r) => r.finishedAt - r.startedAt));
    const arrivalsPerSecond = (load * workerCount * 1000) / serviceMs;
    progress(`idle phase: ${idleJobs} jobs, render ${serviceMs.toFixed(0)} ms each start to finish`);

    // Commands as a Poisson stream at `rate` a second, each from the guild `pick` gives.
    const poisson = async (count: number, rate: number, pick: () => { guild: ScaleGuild; busy: boolean }, label: string): Promise<Sent[]> => {
      let at = Date.now();
      const out: Sent[] = [];
      for (let i = 0; i < count; i++) {
        at += (-Math.log(1 - random()) / rate) * 1000;
        const wait = at - Date.now();
        if (wait > 0) await sleep(wait);
        const { guild, busy } = pick();
        out.push(await send(guild, busy, `${label} ${i}`));
        if ((i + 1) % 500 === 0) progress(`${label}: ${i + 1}/${count} commands sent`);
      }
      return out;
    };
    const pickQuiet = () => ({ guild: quietGuilds[Math.floor(random() * quietGuilds.length)]!, busy: false });
    const weightTotal = busyCount * busyFactor + quietGuilds.length;

    // 2. The quiet guilds alone, at the rate they have in phase 3.
    const quietRate = (arrivalsPerSecond * quietGuilds.length) / weightTotal;
    let quietAlone: number[] = [];
    if (quietJobs > 0) {
      progress(`quiet guilds alone: ${quietJobs} jobs at ${quietRate.toFixed(2)} jobs/s`);
      const alone = await finished(producer, discord, await poisson(quietJobs, quietRate, pickQuiet, 'quiet alone'), 600_000);
      quietAlone = alone.done.map((r) => r.startedAt - r.createdAt);
    }

    // 3. Load: Poisson arrivals; a busy guild is picked busyFactor times as often as a quiet one.
    const pick = (): { guild: ScaleGuild; busy: boolean } => {
      const x = random() * weightTotal;
      if (x < busyCount * busyFactor) return { guild: busyGuilds[Math.floor(x / busyFactor)]!, busy: true };
      return { guild: quietGuilds[Math.min(quietGuilds.length - 1, Math.floor(x - busyCount * busyFactor))]!, busy: false };
    };
    progress(`load: ${total} jobs at ${arrivalsPerSecond.toFixed(2)} jobs/s`);
    const cpuBefore = await processCpuSeconds(botProcess.child.pid!);
    const sent = await poisson(total, arrivalsPerSecond, pick, 'load');
    const { done: records, refused } = await finished(producer, discord, sent, 600_000);
    const refusedIds = new Set(refused.map((s) => s.jobId));
    const accepted = sent.filter((s) => !refusedIds.has(s.jobId));
    const everyToken = [...idleSent, ...accepted].map((s) => s.token);
    await waitFor(`every result on Discord`, () => everyToken.every((t) => (uploads.get(t) ?? 0) > 0), 300_000, 200).catch(() => undefined);
    await sleep(1000); // a second post, if any, would land now
    const cpuAfter = await processCpuSeconds(botProcess.child.pid!);
    const firstSubmit = Math.min(...records.map((r) => r.createdAt));
    const lastFinish = Math.max(...records.map((r) => r.finishedAt));
    const loadPhaseMs = lastFinish - firstSubmit;

    const waitOf = (r: Timed) => r.startedAt - r.createdAt;
    const byJob = new Map(records.map((r) => [r.jobId, r]));
    const quiet = accepted.filter((s) => !s.busy).map((s) => waitOf(byJob.get(s.jobId)!));
    const busy = accepted.filter((s) => s.busy).map((s) => waitOf(byJob.get(s.jobId)!));
    const guildWaits = new Map<string, number[]>();
    for (const s of accepted) guildWaits.set(s.guild.id, [...(guildWaits.get(s.guild.id) ?? []), waitOf(byJob.get(s.jobId)!)]);
    const guildMeans = [...guildWaits.values()].map(mean);
    const idle = waits(idleRecords.map(waitOf));
    const quietFigures = waits(quiet);
    const counts = everyToken.map((t) => uploads.get(t) ?? 0);
    const acks = [...idleSent, ...sent].map((s) => discord.interactionResponse(s.interactionId)?.acknowledgedAfterMs ?? Infinity).sort((a, b) => a - b);

    // 4. Memory per queued job: nothing renders; more commands queue up.
    await Promise.all(workers.splice(0).map((w) => w.stop(0)));
    const before = await usedMemory(admin);
    const queued: Sent[] = [];
    for (let i = 0; i < memoryJobs; i++) queued.push(await send(quietGuilds[i % quietGuilds.length]!, false, `queued ${i}`));
    await waitFor(`${memoryJobs} jobs queued`, async () => {
      const states = await Promise.all(queued.map((s) => producer!.get(s.jobId)));
      return states.every((r) => r?.state === 'waiting');
    }, 120_000, 250);
    await sleep(500); // the bot's status edits and their Redis bookkeeping settle
    const after = await usedMemory(admin);

    return {
      guilds: guildCount,
      busyGuilds: busyCount,
      busyFactor,
      workers: workerCount,
      shards,
      renderMs,
      serviceMs,
      arrivalsPerSecond,
      jobs: total,
      refused: refused.length,
      refusedSample: refused[0] ? (discord.message(discord.interactionResponse(refused[0].interactionId)?.originalMessageId ?? '')?.content ?? '') : '',
      throughput: records.length / (loadPhaseMs / 1000),
      utilization: records.reduce((sum, r) => sum + (r.finishedAt - r.startedAt), 0) / (workerCount * loadPhaseMs),
      idle,
      quietAlone: waits(quietAlone),
      quiet: quietFigures,
      busy: waits(busy),
      jain: jain(guildMeans),
      quietVsIdleP95: quietFigures.p95 / Math.max(1, idle.p95),
      quietVsAloneP95: quietAlone.length > 0 ? quietFigures.p95 / Math.max(1, waits(quietAlone).p95) : Number.NaN,
      posted: { once: counts.filter((n) => n === 1).length, twice: counts.filter((n) => n > 1).length, missing: counts.filter((n) => n === 0).length },
      firstResponse: { p50: pct(acks, 50), p95: pct(acks, 95), max: acks[acks.length - 1]!, over3s: acks.filter((ms) => ms > 3000).length },
      rateLimited: discord.rateLimitStats().rateLimited,
      redisBytesPerQueuedJob: (after - before) / memoryJobs,
      memoryJobs,
      botCpuSecondsPer1000: ((cpuAfter - cpuBefore) / total) * 1000,
      loadPhaseMs,
    };
  } finally {
    if (bot && bot.child.exitCode === null) {
      bot.child.kill('SIGTERM');
      await Promise.race([bot.exited, sleep(25_000)]);
      if (bot.child.exitCode === null) bot.child.kill('SIGKILL');
    }
    await Promise.all(workers.map((w) => w.stop(0).catch(() => undefined)));
    await producer?.close().catch(() => undefined);
    admin.disconnect();
    await discord.close().catch(() => undefined);
    redis.process.kill('SIGTERM');
    await redis.exited;
    await rm(dir, { recursive: true, force: true });
  }
}

interface Timed {
  jobId: string;
  createdAt: number;
  startedAt: number;
  finishedAt: number;
}

/**
 * Waits until every job in `sent` is done and returns its times from the job record. A command whose job is
 * still not in Redis 15 s after the bot answered it was refused (a cap): it is returned in `refused`.
 */
async function finished(producer: JobProducer, discord: LocalDiscord, sent: Sent[], timeoutMs: number): Promise<{ done: Timed[]; refused: Sent[] }> {
  const done = new Map<string, Timed>();
  const refused = new Map<string, Sent>();
  const missingSince = new Map<string, number>();
  await waitFor(`${sent.length} jobs done`, async () => {
    for (const s of sent) {
      if (done.has(s.jobId) || refused.has(s.jobId)) continue;
      const record = await producer.get(s.jobId);
      if (record?.state === 'failed' || record?.state === 'cancelled') throw new Error(`job ${s.jobId} ${record.state}`);
      if (record?.state === 'done' && record.startedAt !== undefined && record.finishedAt !== undefined) {
        done.set(s.jobId, { jobId: s.jobId, createdAt: record.createdAt, startedAt: record.startedAt, finishedAt: record.finishedAt });
      } else if (!record && discord.interactionResponse(s.interactionId)?.acknowledged) {
        const since = missingSince.get(s.jobId) ?? Date.now();
        missingSince.set(s.jobId, since);
        if (Date.now() - since > 15_000) refused.set(s.jobId, s);
      }
    }
    return done.size + refused.size === sent.length;
  }, timeoutMs, 500);
  return { done: sent.filter((s) => done.has(s.jobId)).map((s) => done.get(s.jobId)!), refused: [...refused.values()] };
}

async function usedMemory(redis: Redis): Promise<number> {
  const info = await redis.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)?.[1]);
}

/** User + system CPU seconds of a process so far (Linux /proc). */
async function processCpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S;
}

function waits(values: number[]): WaitFigures {
  const sorted = [...values].sort((a, b) => a - b);
  return { jobs: sorted.length, p50: pct(sorted, 50), p95: pct(sorted, 95), p99: pct(sorted, 99), mean: mean(sorted) };
}

/** Jain's fairness index: (Σx)² / (n Σx²); 1 when all equal, 1/n when one takes everything. */
export function jain(values: number[]): number {
  const sum = values.reduce((a, b) => a + b, 0);
  const squares = values.reduce((a, b) => a + b * b, 0);
  return squares === 0 ? 1 : (sum * sum) / (values.length * squares);
}

function median(values: number[]): number {
  return pct([...values].sort((a, b) => a - b), 50);
}

function mean(values: number[]): number {
  return values.length ? values.reduce((a, b) => a + b, 0) / values.length : NaN;
}

function pct(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : NaN;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
