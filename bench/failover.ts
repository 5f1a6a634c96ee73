/**
 * `npm run bench:failover`: what a Redis failover costs the submit path, with and without waiting for a
 * replica (LATENTWALK_REPLICA_WAIT_MS, `WAIT 1 <ms>`), over a direct replication link and over a slow one.
 *
 * Each run: a primary, a replica and three Sentinels (real redis-server processes, test/harness/sentinel.ts);
 * 16 submitters through one JobProducer (as the bot holds) at about --rate jobs/s in all; after 2 s the primary
 * is SIGKILLed; submits go on until 2 s after the Sentinels promoted the replica. Then every acknowledged job
 * is looked up on the new primary (our record and BullMQ's job). Printed per run: submit latency before the
 * kill, failover time, submits refused (the requester is told to try again), and acknowledged jobs lost,
 * bucketed by when they were acknowledged: earlier than 1 s before the kill, in the last second, after the kill.
 *
 * Options: --rate N (default 200), --delay MS (the slow link's one-way delay, default 25).
 */
import { parseArgs } from 'node:util';
import { jobsConfig } from '../src/jobs/config.ts';
import type { SubmitRequest } from '../src/jobs/contract.ts';
import { keyPrefix } from '../src/jobs/keys.ts';
import { JobProducer } from '../src/jobs/producer.ts';
import { SentinelGroup } from '../test/harness/sentinel.ts';

const { values } = parseArgs({ options: { rate: { type: 'string' }, delay: { type: 'string' } } });
const RATE = Number(values.rate ?? 200);
const DELAY = Number(values.delay ?? 25);
const SUBMITTERS = 16;

function request(n: number): SubmitRequest {
  const userId = `u${n % 97}`;
  return {
    kind: 'walk',
    prompts: [{ text: `bench ${n}`, contributorId: userId }],
    settings: { frames: 2, batchSize: 2 },
    guildId: `g${n % 13}`,
    channelId: 'bench',
    requesterId: userId,
    reply: { via: 'cli' },
  };
}

function percentile(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : NaN;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface RunResult {
  delayMs: number;
  waitMs: number;
  latencyP50: number;
  latencyP99: number;
  failoverMs: number;
  refused: number;
  acked: [number, number, number];
  lost: [number, number, number];
  unconfirmed: number;
}

async function run(delayMs: number, waitMs: number): Promise<RunResult> {
  const group = await SentinelGroup.start({ replicationDelayMs: delayMs });
  const prefix = `bench-failover-${delayMs}-${waitMs}`;
  const config = jobsConfig({
    redisUrl: 'redis://127.0.0.1:6379',
    redisTopology: group.topology,
    prefix,
    replicaWaitMs: waitMs,
    caps: { perGuild: 100_000, perUser: 100_000, total: 1_000_000 },
  });
  const producer = await JobProducer.connect(config);
  const acked: { jobId: string; at: number }[] = [];
  const latencies: number[] = [];
  let refused = 0;
  let killAt = Infinity;
  let running = true;
  let next = 0;
  const interval = (SUBMITTERS * 1000) / RATE;
  const submitters = Array.from({ length: SUBMITTERS }, async (_, i) => {
    await sleep((i * interval) / SUBMITTERS);
    while (running) {
      const started = performance.now();
      try {
        const ticket = await producer.submit(request(next++));
        const at = Date.now();
        acked.push({ jobId: ticket.jobId, at });
        if (at < killAt - 200) latencies.push(performance.now() - started);
      } catch {
        refused++;
      }
      await sleep(Math.max(0, interval - (performance.now() - started)));
    }
  });
  try {
    await sleep(2000);
    const killed = await group.killPrimary();
    killAt = killed.killedAt;
    await group.waitForFailover(killed.port);
    const failoverAt = Date.now();
    const failoverMs = failoverAt - killAt;
    await sleep(2000);
    running = false;
    await Promise.all(submitters);

    const primary = await group.primaryClient();
    const lostIds = new Set<string>();
    try {
      for (const { jobId } of acked) {
        const [ours, bull] = await Promise.all([primary.exists(`${keyPrefix(prefix)}:jobs:meta:${jobId}`), primary.exists(`${keyPrefix(prefix)}:${config.queueName}:${jobId}`)]);
        if (!ours || !bull) lostIds.add(jobId);
      }
    } finally {
      primary.disconnect();
    }
    // A reply that left the primary just before the kill can arrive after it: until the promotion, an
    // acknowledgement belongs to the old primary.
    const bucket = (at: number) => (at < killAt - 1000 ? 0 : at < failoverAt ? 1 : 2);
    const ackedBy: [number, number, number] = [0, 0, 0];
    const lostBy: [number, number, number] = [0, 0, 0];
    for (const { jobId, at } of acked) {
      ackedBy[bucket(at)]++;
      if (lostIds.has(jobId)) lostBy[bucket(at)]++;
    }
    latencies.sort((a, b) => a - b);
    return {
      delayMs,
      waitMs,
      latencyP50: percentile(latencies, 50),
      latencyP99: percentile(latencies, 99),
      failoverMs,
      refused,
      acked: ackedBy,
      lost: lostBy,
      unconfirmed: producer.unconfirmedSubmits,
    };
  } finally {
    running = false;
    await Promise.all(submitters);
    await producer.close();
    await group.stop();
  }
}

console.log(`failover bench: ${SUBMITTERS} submitters, ~${RATE} submits/s, primary SIGKILLed after 2 s, slow link ${DELAY} ms each way`);
console.log('acknowledged: earlier than 1 s before the kill / from then until the promotion / after the promotion');
console.log('link    wait    submit p50/p99   failover  refused  acked (early / last 1s / after)  lost (early / last 1s / after)  unconfirmed');
const rows: RunResult[] = [];
for (const delayMs of [0, DELAY]) {
  for (const waitMs of [0, 500]) {
    const r = await run(delayMs, waitMs);
    rows.push(r);
    console.log(
      `${`${r.delayMs} ms`.padEnd(8)}${`${r.waitMs} ms`.padEnd(8)}${`${r.latencyP50.toFixed(1)} / ${r.latencyP99.toFixed(1)} ms`.padEnd(17)}` +
        `${`${r.failoverMs} ms`.padEnd(10)}${String(r.refused).padEnd(9)}${r.acked.join(' / ').padEnd(32)}${r.lost.join(' / ').padEnd(31)}${r.unconfirmed}`,
    );
  }
}
const lostLastSecond = (r: RunResult) => (r.acked[1] ? `${((100 * r.lost[1]) / r.acked[1]).toFixed(1)}%` : 'n/a');
for (const r of rows) {
  console.log(`link ${r.delayMs} ms, wait ${r.waitMs} ms: ${r.lost[1]} of ${r.acked[1]} jobs acknowledged in the last second lost (${lostLastSecond(r)}); ${r.lost[0]} earlier`);
}
