/**
 * The fleet bench's load through a model of the queue's order (`npm run bench:queue-order`): no Redis, no bot, no
 * noise from a shared machine; what the order alone can do.
 *
 * Jobs arrive as a Poisson stream at `load` of `workers` workers' capacity, each rendering for exactly one
 * second; 5 of 500 guilds submit 10x as often as the rest (the fleet bench's mix). The order is GuildQueue's
 * (src/jobs/guild-queue.ts), restated here as plain arithmetic: rounds (a guild with jobs waiting goes one round
 * after its last; one with a job rendering, one round after the current), plus the push for recent use
 * (`min(floor(n / allowance), maxRounds)` rounds, n the guild's submits decayed with the half-life). For
 * comparison: plain FIFO, and quiet guilds strictly first. Options: --jobs, --seeds, --load, --busy-guilds,
 * --allowance, --max-rounds, --half-life.
 *
 * The figure the fleet goal asks about is the quiet guilds' p95 wait while the busy guilds flood, against their
 * p95 when the busy guilds are silent (their own traffic alone). Against an empty queue (0 s here) no order
 * can come close at this load: the quiet guilds alone keep the workers 82% busy.
 */
import { parseArgs } from 'node:util';
import { seededRandom } from '../test/harness/random.ts';

type Order = 'fifo' | 'rounds' | 'push' | 'quiet-first';

interface ModelOptions {
  order: Order;
  jobs: number;
  workers: number;
  load: number;
  guilds: number;
  busyGuilds: number;
  busyFactor: number;
  /** Leave the busy guilds out (the quiet guilds' own traffic, at the same rate as with them). */
  quietOnly: boolean;
  halfLifeS: number;
  allowance: number;
  maxRounds: number;
  seed: number;
}

interface Waiting {
  round: number;
  seq: number;
  arrival: number;
  guild: number;
}

/** Every job's queue wait in seconds, for quiet and busy guilds. */
export function simulateQueue(o: ModelOptions): { quiet: number[]; busy: number[] } {
  const random = seededRandom(o.seed);
  const weightTotal = o.busyGuilds * o.busyFactor + (o.guilds - o.busyGuilds);
  const quietShare = (o.guilds - o.busyGuilds) / weightTotal;
  const rate = o.load * o.workers * (o.quietOnly ? quietShare : 1);
  const usage = new Map<number, { n: number; t: number }>();
  const lastRound = new Map<number, number>();
  const waitingOf = new Map<number, number>();
  const outstandingOf = new Map<number, number>();
  const waiting: Waiting[] = [];
  const finishing: { at: number; guild: number }[] = [];
  const waits = { quiet: [] as number[], busy: [] as number[] };
  let current = 1;
  let seq = 0;
  let now = 0;
  let nextArrival = -Math.log(1 - random()) / rate;
  let arrived = 0;
  const key = (w: Waiting) => (o.order === 'fifo' ? w.seq : o.order === 'quiet-first' ? (w.guild < o.busyGuilds ? 1e12 : 0) + w.seq : w.round * 1e9 + w.seq);

  const startJobs = () => {
    while (finishing.length < o.workers && waiting.length > 0) {
      let best = 0;
      for (let i = 1; i < waiting.length; i++) if (key(waiting[i]!) < key(waiting[best]!)) best = i;
      const job = waiting.splice(best, 1)[0]!;
      waitingOf.set(job.guild, waitingOf.get(job.guild)! - 1);
      current = job.round;
      (job.guild < o.busyGuilds ? waits.busy : waits.quiet).push(now - job.arrival);
      finishing.push({ at: now + 1, guild: job.guild });
      finishing.sort((a, b) => a.at - b.at);
    }
  };

  while (arrived < o.jobs || finishing.length > 0) {
    const nextFinish = finishing[0]?.at ?? Infinity;
    if (nextFinish <= nextArrival || arrived >= o.jobs) {
      const done = finishing.shift()!;
      now = done.at;
      outstandingOf.set(done.guild, outstandingOf.get(done.guild)! - 1);
      startJobs();
      continue;
    }
    now = nextArrival;
    nextArrival += -Math.log(1 - random()) / rate;
    arrived++;
    const x = random() * weightTotal;
    const guild = o.quietOnly
      ? o.busyGuilds + Math.floor(random() * (o.guilds - o.busyGuilds))
      : x < o.busyGuilds * o.busyFactor
        ? Math.floor(x / o.busyFactor)
        : o.busyGuilds + Math.min(o.guilds - o.busyGuilds - 1, Math.floor(x - o.busyGuilds * o.busyFactor));
    if (waiting.length === 0) current = 1;
    let push = 0;
    if (o.order === 'push') {
      const u = usage.get(guild) ?? { n: 0, t: now };
      const n = u.n * 0.5 ** ((now - u.t) / o.halfLifeS);
      push = Math.min(o.maxRounds, Math.floor(n / o.allowance));
      usage.set(guild, { n: n + 1, t: now });
    }
    let round = current + push;
    if ((waitingOf.get(guild) ?? 0) > 0) round = Math.max(round, lastRound.get(guild)! + 1);
    else if ((outstandingOf.get(guild) ?? 0) > 0) round = Math.max(round, current + 1);
    lastRound.set(guild, round);
    waiting.push({ round, seq: ++seq, arrival: now, guild });
    waitingOf.set(guild, (waitingOf.get(guild) ?? 0) + 1);
    outstandingOf.set(guild, (outstandingOf.get(guild) ?? 0) + 1);
    startJobs();
  }
  return waits;
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const isMain = import.meta.url === `file://${process.argv[1]}`;
if (isMain) {
  const { values } = parseArgs({
    options: {
      jobs: { type: 'string' },
      load: { type: 'string' },
      seeds: { type: 'string' },
      'busy-guilds': { type: 'string' },
      allowance: { type: 'string' },
      'max-rounds': { type: 'string' },
      'half-life': { type: 'string' },
    },
  });
  const base = {
    jobs: Number(values.jobs ?? 50_000),
    workers: 8,
    load: Number(values.load ?? 0.9),
    guilds: 500,
    busyGuilds: Number(values['busy-guilds'] ?? 5),
    busyFactor: 10,
    halfLifeS: Number(values['half-life'] ?? 60),
    allowance: Number(values.allowance ?? 3),
    maxRounds: Number(values['max-rounds'] ?? 4),
  };
  const seeds = Array.from({ length: Number(values.seeds ?? 3) }, (_, i) => i + 1);
  const run = (order: Order, quietOnly: boolean) => {
    const quiet: number[] = [];
    const busy: number[] = [];
    for (const seed of seeds) {
      const w = simulateQueue({ ...base, order, quietOnly, seed });
      quiet.push(...w.quiet);
      busy.push(...w.busy);
    }
    return { quiet, busy };
  };
  const s = (x: number) => `${x.toFixed(2)} s`;
  console.log(
    `queue order model: ${base.workers} workers, 1 s a job, ${(base.load * 100).toFixed(0)}% busy; ${base.guilds} guilds, ${base.busyGuilds} of them ${base.busyFactor}x busier; ${base.jobs} jobs x ${seeds.length} seeds`,
  );
  const alone = percentile(run('fifo', true).quiet, 95);
  console.log(`  quiet guilds alone (no busy guild, first come first served): p95 ${s(alone)}`);
  for (const [order, label] of [
    ['fifo', 'first come first served'],
    ['rounds', 'rounds, no push (LATENTWALK_QUEUE_USAGE_HALF_LIFE_S=0)'],
    ['push', `rounds + push (half-life ${base.halfLifeS} s, allowance ${base.allowance}, at most ${base.maxRounds} rounds): the default`],
    ['quiet-first', 'quiet guilds strictly first (for comparison)'],
  ] as const) {
    const { quiet, busy } = run(order, false);
    const q95 = percentile(quiet, 95);
    console.log(
      `  ${label}:\n    quiet p50 ${s(percentile(quiet, 50))}, p95 ${s(q95)} (${alone > 0 ? `${(q95 / alone).toFixed(2)}x alone` : 'alone: no wait'}); busy p50 ${s(percentile(busy, 50))}, p95 ${s(percentile(busy, 95))}`,
    );
  }
}
