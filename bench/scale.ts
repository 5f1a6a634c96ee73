/**
 * `npm run bench:scale`: the bot past one machine's comfort, against LocalDiscord.
 *
 * 1. Sharding: the bot with the 4 shards LocalDiscord recommends for 8 guilds, in one process and as 2
 *    processes x 2 shards (`latentwalk bot`, LATENTWALK_SHARDS_PER_PROCESS=2); a /loop from every guild is
 *    rendered by a real worker (tiny pack): login time, first responses, results posted (and how often).
 * 2. Rate limits: 300 results finishing within 10 s across 60 channels of 30 guilds, with Discord's limits
 *    enforced and 150 ms added to every call, through the interaction tokens and as channel messages (tokens
 *    expired): posts/s, 429s, invalid requests, and the first response of the 300 commands (p50/p95/max).
 *
 * Options: --results N (default 300), --latency MS (default 150), --skip-shards.
 */
import { parseArgs } from 'node:util';
import { resultBurst, type BurstFigures } from '../test/harness/burst.ts';
import { shardBench, type ShardFigures } from '../test/harness/shardbench.ts';

const { values } = parseArgs({ options: { results: { type: 'string' }, latency: { type: 'string' }, 'skip-shards': { type: 'boolean' } } });
const RESULTS = Number(values.results ?? 300);
const LATENCY = Number(values.latency ?? 150);

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

if (!values['skip-shards']) {
  console.log('sharding (LocalDiscord: 8 guilds, 2 per shard, unsharded sessions refused past 2 guilds; tiny-pack worker):');
  printShards(await shardBench({ mode: 'internal' }));
  printShards(await shardBench({ mode: 'processes' }));
}
console.log(`rate limits (${RESULTS} results within 10 s, 30 guilds x 2 channels, Discord's buckets + global 50/s, +${LATENCY} ms per call):`);
for (const via of ['interaction', 'channel'] as const) printBurst(await resultBurst({ commands: RESULTS, latencyMs: LATENCY, via }));
process.exit(0);
