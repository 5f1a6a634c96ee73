/**
 * `npm run bench:scale`: the bot past one machine's comfort, against LocalDiscord.
 *
 * 1. Sharding: the bot with the 4 shards LocalDiscord recommends for 8 guilds, in one process and as 2
 *    processes x 2 shards (`latentwalk bot`, LATENTWALK_SHARDS_PER_PROCESS=2); a /loop from every guild is
 *    rendered by a real worker (tiny pack): login time, first responses, results posted (and how often).
 * 2. Rate limits: 300 results finishing within 10 s across 60 channels of 30 guilds, with Discord's limits
 *    enforced and 150 ms added to every call, through the interaction tokens and as channel messages (tokens
 *    expired): posts/s, 429s, invalid requests, and the first response of the 300 commands (p50/p95/max).
 * 3. A fleet (bench/fleet.ts): the bot on 4 shards in one process, 8 no-op workers and Redis, 500 guilds
 *    submitting --jobs /loop commands as a Poisson stream at 90% of the workers' capacity, 5 guilds 10x busier
 *    than the rest: throughput, queue waits (quiet / busy guilds, idle queue), Jain's fairness index, results
 *    posted once, Redis memory per queued job, the bot's CPU per 1,000 jobs.
 *
 * Options: --results N (default 300), --latency MS (default 150), --skip-shards; --jobs N (default 5000),
 * --quiet-jobs N (the quiet guilds alone before the load, default 2000),
 * --render-ms MS (the no-op render, default 1000), --guilds N (default 500), --skip-fleet; --fleet runs only part 3.
 */
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { resultBurst, type BurstFigures } from '../test/harness/burst.ts';
import { shardBench, type ShardFigures } from '../test/harness/shardbench.ts';
import { fleetBench, type FleetFigures, type WaitFigures } from './fleet.ts';

const { values } = parseArgs({
  options: {
    results: { type: 'string' },
    latency: { type: 'string' },
    'skip-shards': { type: 'boolean' },
    fleet: { type: 'boolean' },
    'skip-fleet': { type: 'boolean' },
    jobs: { type: 'string' },
    'quiet-jobs': { type: 'string' },
    'render-ms': { type: 'string' },
    guilds: { type: 'string' },
  },
});
const RESULTS = Number(values.results ?? 300);
const LATENCY = Number(values.latency ?? 150);
const FLEET_ONLY = values.fleet === true;

function printShards(f: ShardFigures): void {
  console.log(
    `  ${f.mode.padEnd(22)} ${f.shards} shards in ${f.processes} process(es): ready in ${(f.readyMs / 1000).toFixed(1)} s; ` +
      `${f.results} results from ${f.guilds} guilds, each posted once: ${f.postedOnce ? 'yes' : 'NO'}; ` +
      `first responses p50 ${f.firstResponse.p50} ms, max ${f.firstResponse.max} ms; last result ${(f.drainMs / 1000).toFixed(1)} s after the first command`,
  );
}

function printBurst(f: BurstFigures): void {
  console.log(
    `  ${f.via.padEnd(12)} ${f.posted}/${f.commands} posted in ${(f.drainMs / 1000).toFixed(1)} s (${f.postsPerSecond.toFixed(1)} posts/s; published over ${(f.publishMs / 1000).toFixed(1)} s), ` +
      `posted twice: ${f.postedTwice}, out of order: ${f.outOfOrder.length} channels; ${f.requests} REST calls, ${f.rateLimited} 429s (${f.globalLimited} global), ` +
      `${f.invalidLast10Min} invalid/10 min (ban at 10,000)`,
  );
  console.log(
    `  ${''.padEnd(12)} first response of ${f.commands} commands at +${f.latencyMs} ms/call: p50 ${f.firstResponse.p50} ms, p95 ${f.firstResponse.p95} ms, max ${f.firstResponse.max} ms, over 3 s: ${f.firstResponse.over3s}`,
  );
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

function printWaits(label: string, w: WaitFigures): void {
  console.log(`  ${label.padEnd(34)} ${String(w.jobs).padStart(5)} jobs: p50 ${seconds(w.p50)}, p95 ${seconds(w.p95)}, p99 ${seconds(w.p99)}, mean ${seconds(w.mean)}`);
}

function printFleet(f: FleetFigures): void {
  console.log(
    `  ${f.jobs} jobs in ${(f.loadPhaseMs / 1000).toFixed(0)} s: throughput ${f.throughput.toFixed(2)} jobs/s (arrivals ${f.arrivalsPerSecond.toFixed(2)}/s), ` +
      `workers busy ${(f.utilization * 100).toFixed(0)}% (a job ${f.serviceMs.toFixed(0)} ms start to finish, ${f.renderMs} ms of it the no-op render)`,
  );
  if (f.refused > 0) console.log(`  refused by the bot (a cap): ${f.refused} commands, e.g. ${JSON.stringify(f.refusedSample.slice(0, 160))}`);
  console.log('  queue wait (submit to a worker starting it):');
  printWaits('idle queue (workers mostly idle)', f.idle);
  if (f.quietAlone.jobs > 0) printWaits(`quiet guilds alone (no busy guild)`, f.quietAlone);
  printWaits(`quiet guilds (${f.guilds - f.busyGuilds})`, f.quiet);
  printWaits(`busy guilds (${f.busyGuilds}, ${f.busyFactor}x the rate)`, f.busy);
  console.log(
    `  fairness: Jain's index of the ${f.guilds}-guild mean waits ${f.jain.toFixed(3)}; quiet guilds' p95 while the busy ones flood is ${f.quietVsAloneP95.toFixed(2)}x ` +
      `their p95 alone (goal: within 2x) and ${f.quietVsIdleP95.toFixed(1)}x the empty queue's; ` +
      `quiet / busy guilds' mean wait ${(f.quiet.mean / Math.max(1, f.busy.mean)).toFixed(2)}, p95 ${(f.quiet.p95 / Math.max(1, f.busy.p95)).toFixed(2)}`,
  );
  console.log(
    `  results posted exactly once: ${f.posted.once}/${f.posted.once + f.posted.twice + f.posted.missing} (twice or more: ${f.posted.twice}, missing: ${f.posted.missing}); ` +
      `first responses p50 ${f.firstResponse.p50} ms, p95 ${f.firstResponse.p95} ms, max ${f.firstResponse.max} ms, over 3 s: ${f.firstResponse.over3s}; 429s: ${f.rateLimited}`,
  );
  console.log(
    `  Redis memory per queued job: ${(f.redisBytesPerQueuedJob / 1024).toFixed(1)} KiB (used_memory delta over ${f.memoryJobs} queued jobs); ` +
      `the bot's CPU: ${f.botCpuSecondsPer1000.toFixed(1)} s per 1,000 jobs (${f.shards} shards, one process)`,
  );
}

if (!values['skip-shards'] && !FLEET_ONLY) {
  console.log('sharding (LocalDiscord: 8 guilds, 2 per shard, unsharded sessions refused past 2 guilds; tiny-pack worker):');
  printShards(await shardBench({ mode: 'internal' }));
  printShards(await shardBench({ mode: 'processes' }));
}
if (!FLEET_ONLY) {
  console.log(`rate limits (${RESULTS} results within 10 s, 30 guilds x 2 channels, Discord's buckets + global 50/s, +${LATENCY} ms per call):`);
  for (const via of ['interaction', 'channel'] as const) printBurst(await resultBurst({ commands: RESULTS, latencyMs: LATENCY, via }));
}
if (!values['skip-fleet']) {
  const jobs = Number(values.jobs ?? 5000);
  const guilds = Number(values.guilds ?? 500);
  const load = loadavg().map((x) => x.toFixed(1)).join(' ');
  console.log(`fleet (${guilds} guilds, 5 of them 10x busier, 8 no-op workers, bot on 4 shards, Discord's rate limits; ${cpus().length} CPUs, load average ${load} at the start):`);
  printFleet(
    await fleetBench({
      jobs,
      guilds,
      ...(values['quiet-jobs'] ? { quietJobs: Number(values['quiet-jobs']) } : {}),
      ...(values['render-ms'] ? { renderMs: Number(values['render-ms']) } : {}),
    }),
  );
}
process.exit(0);
