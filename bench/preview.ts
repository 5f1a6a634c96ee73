/**
 * `npm run bench:preview`: what live previews cost a render. The same job (the shapes model, fixed seed) goes
 * through a real RenderWorker and Redis with previews off (LATENTWALK_PREVIEW_MAX_BYTES=0) and on, in
 * alternating order, and the worker's own render time (`renderMs`: render, checkpoints, encode, store) is
 * compared. Previews on are measured at their worst, a still after every batch (interval 0), and at the
 * default interval. Printed: the median render time of each mode and its ratio to off (also the median of
 * the per-round ratios, which a slow spell of the machine moves less), the CPU time of this process per
 * render (every thread: onnxruntime's, sharp's) and its ratio, and the stills made.
 *
 * The shared machine is noisy, so it also prints a bound that noise does not move: the CPU time of one
 * still (encode + publish, measured alone) times the stills a render makes, over the render time.
 *
 * Starts a private redis-server on a free port; never touches the system Redis.
 * Options: --rounds N (default 5), --frames N (default 16), --steps N (default 20), --model NAME|DIR (default shapes).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { jobsConfig, type JobsConfig } from '../src/jobs/config.ts';
import type { SubmitRequest } from '../src/jobs/contract.ts';
import { startLocalRedis } from '../src/jobs/local-redis.ts';
import { JobProducer } from '../src/jobs/producer.ts';
import { loadEngineBackend, type RenderBackend } from '../src/worker/backend.ts';
import { encodeStill } from '../src/worker/preview.ts';
import { RenderWorker } from '../src/worker/render-worker.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string' }, frames: { type: 'string' }, steps: { type: 'string' }, model: { type: 'string' } } });
const ROUNDS = Number(values.rounds ?? 5);
const FRAMES = Number(values.frames ?? 16);
const STEPS = Number(values.steps ?? 20);

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function job(n: number): SubmitRequest {
  return {
    kind: 'walk',
    prompts: [{ text: 'a red circle on a blue background', contributorId: 'bench' }],
    settings: { frames: FRAMES, steps: STEPS, seed: 42 },
    guildId: 'bench',
    channelId: 'bench',
    requesterId: `bench-${n}`,
    // A Discord job: an operator's CLI job gets no previews.
    reply: { via: 'discord', channelId: 'bench', interactionToken: 'bench' },
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

interface Mode {
  name: string;
  config: JobsConfig;
  worker?: RenderWorker;
  producer?: JobProducer;
  renderMs: number[];
  cpuMs: number[];
  stills: number[];
}

async function runOnce(mode: Mode, n: number, record = true): Promise<void> {
  let stills = 0;
  const count = () => stills++;
  mode.worker!.on('preview', count);
  const cpu = process.cpuUsage();
  const { jobId } = await mode.producer!.submit(job(n));
  const outcome = await mode.producer!.waitForOutcome(jobId, { pollMs: 20, timeoutMs: 30 * 60_000 });
  const used = process.cpuUsage(cpu);
  mode.worker!.off('preview', count);
  if (outcome.status !== 'done') throw new Error(`${mode.name}: job ${outcome.status}`);
  if (!record) return;
  mode.renderMs.push(outcome.renderMs);
  mode.cpuMs.push((used.user + used.system) / 1000);
  mode.stills.push(stills);
}

/** CPU time of one still alone: encode a frame of the model's size and publish it, many times. */
async function stillCost(producer: JobProducer, width: number, height: number): Promise<number> {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
  const frame = { width, height, data };
  for (let i = 0; i < 5; i++) await encodeStill(frame);
  const n = 50;
  const cpu = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    const still = await encodeStill(frame);
    await producer.previews.publish('bench-still', { seq: i + 1, frame: 0, ...still });
  }
  const used = process.cpuUsage(cpu);
  await producer.previews.clear('bench-still');
  return (used.user + used.system) / 1000 / n;
}

const dir = await mkdtemp(join(tmpdir(), 'latentwalk-bench-redis-'));
const redis = await startLocalRedis({ port: await freePort(), dir });
let backend: RenderBackend | undefined;
const modes: Mode[] = [];
try {
  // The shapes pack unless --model names another: the job's prompt is a shapes prompt.
  backend = await loadEngineBackend({ modelDir: values.model ?? 'shapes' });
  const base = (prefix: string, preview: { intervalMs: number; maxBytes: number }) =>
    jobsConfig({ redisUrl: redis.url, prefix, caps: { perGuild: 10_000, perUser: 10_000, total: 100_000 }, preview });
  modes.push(
    { name: 'off', config: base('bench-off', { intervalMs: 0, maxBytes: 0 }), renderMs: [], cpuMs: [], stills: [] },
    { name: 'on, every batch', config: base('bench-every', { intervalMs: 0, maxBytes: 64 * 1024 }), renderMs: [], cpuMs: [], stills: [] },
    { name: 'on, every 5 s (default)', config: base('bench-default', { intervalMs: 5000, maxBytes: 64 * 1024 }), renderMs: [], cpuMs: [], stills: [] },
  );
  for (const mode of modes) {
    mode.producer = await JobProducer.connect(mode.config);
    mode.worker = await RenderWorker.start({ config: mode.config, backend, progressIntervalMs: 1000 });
  }
  console.log(`private redis-server at ${redis.url}; model ${backend.name}; walk of ${FRAMES} frames, ${STEPS} steps; ${ROUNDS} rounds`);
  for (const mode of modes) await runOnce(mode, 0, false); // warm-up: sessions, caches, connections
  for (let round = 0; round < ROUNDS; round++) {
    // Alternating order, so that a slow spell of the machine does not fall on one mode only.
    const order = round % 2 === 0 ? modes : [...modes].reverse();
    for (const mode of order) await runOnce(mode, round + 1);
    console.log(`round ${round + 1}: ${modes.map((m) => `${m.name} ${m.renderMs.at(-1)} ms`).join(', ')}`);
  }
  const off = median(modes[0]!.renderMs);
  const offCpu = median(modes[0]!.cpuMs);
  console.log('');
  for (const mode of modes) {
    const ms = median(mode.renderMs);
    const paired = median(mode.renderMs.map((v, i) => v / modes[0]!.renderMs[i]!));
    const cpu = median(mode.cpuMs);
    console.log(
      `${mode.name.padEnd(24)} render median ${ms.toFixed(0)} ms, ratio to off ${(ms / off).toFixed(4)} (per round ${paired.toFixed(4)}); ` +
        `CPU ${cpu.toFixed(0)} ms, ratio ${(cpu / offCpu).toFixed(4)}; stills per render ${median(mode.stills)}`,
    );
  }
  const size = backend.fixedSize ?? { width: 64, height: 64 };
  const cost = await stillCost(modes[0]!.producer!, size.width, size.height);
  const every = modes[1]!;
  const bound = (median(every.stills) * cost) / off;
  console.log(`one still (encode ${size.width}x${size.height} -> WebP + publish): ${cost.toFixed(2)} ms of CPU`);
  console.log(`CPU bound, a still after every batch: ${median(every.stills)} stills x ${cost.toFixed(2)} ms / ${off.toFixed(0)} ms render = ${(bound * 100).toFixed(2)}%`);
} finally {
  for (const mode of modes) {
    await mode.worker?.stop(0).catch(() => undefined);
    await mode.producer?.close().catch(() => undefined);
  }
  await backend?.dispose().catch(() => undefined);
  redis.process.kill('SIGTERM');
  await redis.exited;
  await rm(dir, { recursive: true, force: true });
}
