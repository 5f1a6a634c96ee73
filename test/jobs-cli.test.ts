/**
 * The operator CLI (`latentwalk jobs ...`) end to end, against a private redis-server and, where a render is
 * needed, a `latentwalk worker` process running the real engine with the bundled tiny pack.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { main } from '../src/cli/main.ts';
import type { SubmitRequest } from '../src/jobs/contract.ts';
import { JobProducer, type JobListing } from '../src/jobs/producer.ts';
import { SHAPES_PACK } from './harness/packs.ts';
import { TestRedis, runLatentwalk, spawnLatentwalk, testJobsConfig } from './harness/redis.ts';

let server: TestRedis;
let dir: string;
const cleanups: (() => Promise<unknown>)[] = [];

before(async () => {
  server = await TestRedis.start();
  dir = await mkdtemp(join(tmpdir(), 'latentwalk-jobs-cli-'));
});

after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  await server.stop();
  await rm(dir, { recursive: true, force: true });
});

const walk = (guildId: string, text: string): SubmitRequest => ({
  kind: 'walk',
  prompts: [{ text, contributorId: `${guildId}-user` }],
  guildId,
  channelId: 'c',
  requesterId: `${guildId}-user`,
  reply: { via: 'cli' },
});

/** Runs the CLI's main() in this process with `env` added, capturing what it prints. */
async function runMain(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  const saved = { log: console.log, error: console.error, env: Object.fromEntries(Object.keys(env).map((key) => [key, process.env[key]])) };
  let stdout = '';
  let stderr = '';
  console.log = (...parts: unknown[]) => void (stdout += `${parts.join(' ')}\n`);
  console.error = (...parts: unknown[]) => void (stderr += `${parts.join(' ')}\n`);
  Object.assign(process.env, env);
  try {
    const code = await main(args);
    return { code, stdout, stderr };
  } finally {
    console.log = saved.log;
    console.error = saved.error;
    for (const [key, value] of Object.entries(saved.env)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
}

/** Exactly one line on stderr, no stack trace. */
function oneLine(stderr: string): string {
  const lines = stderr.trim().split('\n');
  assert.equal(lines.length, 1, `expected one line, got:\n${stderr}`);
  assert.doesNotMatch(stderr, /^\s+at /m);
  return lines[0]!;
}

describe('jobs submit --wait against a running worker (real engine)', () => {
  test('a failing render reports the engine’s message; the worker keeps serving and --out writes the GIF', async () => {
    // The shapes pack by name: the figures below are its size (not whichever pack is the default).
    const config = testJobsConfig(server, { worker: { modelDir: SHAPES_PACK } });
    // The queue's own limit is raised past the engine's (512 frames), so the engine is the one that refuses.
    const env = { LATENTWALK_MAX_FRAMES: '1000' };
    const worker = spawnLatentwalk(config, ['worker'], env);
    cleanups.push(async () => {
      worker.child.kill('SIGKILL');
      await worker.exited;
    });
    await worker.waitForOutput(/ready:/);

    const failed = await runLatentwalk(config, ['jobs', 'submit', 'walk', 'a lighthouse', '--guild', 'g1', '--frames', '600', '--wait'], env);
    assert.equal(failed.code, 1);
    const line = failed.stderr.trim().split('\n').at(-1)!;
    assert.match(line, /^latentwalk: job j1 failed after 1 attempt\(s\): frames must be an integer from 2 to 512, got 600$/);
    assert.doesNotMatch(failed.stderr, /^\s+at /m);

    const out = join(dir, 'm.gif');
    const done = await runLatentwalk(config, ['jobs', 'submit', 'walk', 'a lighthouse', '--guild', 'g1', '--frames', '6', '--wait', '--out', out], env);
    assert.equal(done.code, 0, done.stderr);
    assert.match(done.stdout, /^queued j2: position 1 overall, 1 in guild g1$/m);
    // The shapes model renders 64x64 and its pack upscales frames x4 for display.
    assert.match(done.stdout, /done: wrote .*m\.gif \(gif, 256x256, 10 frame\(s\), \d+ bytes\)/);
    const gif = await readFile(out);
    assert.equal(gif.subarray(0, 6).toString('latin1'), 'GIF89a');

    worker.child.kill('SIGTERM');
    assert.equal(await worker.exited, 0);
    assert.match(worker.stdout, /job j1 failed: frames must be an integer from 2 to 512, got 600/);
    assert.match(worker.stdout, /job j2 done/);
  });
});

describe('jobs list, cancel, retry', () => {
  test('jobs list shows the fair order: guild B’s job second, behind one of A’s five', async () => {
    const config = testJobsConfig(server);
    const producer = await JobProducer.connect(config);
    cleanups.push(() => producer.close());
    for (let i = 0; i < 5; i++) await producer.submit(walk('A', `a${i}`), { bypassCaps: true });
    const b = await producer.submit(walk('B', 'b0'));

    const listed = await runLatentwalk(config, ['jobs', 'list', '--json']);
    assert.equal(listed.code, 0, listed.stderr);
    const jobs = JSON.parse(listed.stdout) as JobListing[];
    assert.deepEqual(
      jobs.map((job) => [job.jobId, job.guildId, job.position, job.positionInGuild]),
      [
        ['j1', 'A', 1, 1],
        [b.jobId, 'B', 2, 1],
        ['j2', 'A', 3, 2],
        ['j3', 'A', 4, 3],
        ['j4', 'A', 5, 4],
        ['j5', 'A', 6, 5],
      ],
    );

    const table = await runLatentwalk(config, ['jobs', 'list', '--guild', 'B']);
    assert.equal(table.code, 0);
    assert.match(table.stdout, /^ID\s+STATE\s+POS\s+GUILD POS\s+GUILD\s+KIND\s+PROGRESS\s+AGE$/m);
    assert.match(table.stdout, new RegExp(`^${b.jobId}\\s+waiting\\s+2\\s+1\\s+B\\s+walk\\s+-\\s+\\d+s$`, 'm'));

    const cancelled = await runLatentwalk(config, ['jobs', 'cancel', 'j1']);
    assert.equal(cancelled.code, 0, cancelled.stderr);
    assert.equal(cancelled.stdout.trim(), 'j1 cancelled');
    assert.equal((await producer.position(b.jobId))?.position, 1);

    const retried = await runLatentwalk(config, ['jobs', 'retry', 'j1']);
    assert.equal(retried.code, 0, retried.stderr);
    assert.match(retried.stdout, /^queued j7 \(a retry of j1\): position \d overall$/m);
    assert.equal((await producer.get('j7'))?.spec?.prompts[0]?.text, 'a0');
  });

  test('submit --smooth stores the mode on the job; without it the job gets blend', async () => {
    const config = testJobsConfig(server);
    const producer = await JobProducer.connect(config);
    cleanups.push(() => producer.close());
    const env = { REDIS_URL: config.redisUrl, LATENTWALK_REDIS_PREFIX: config.prefix };
    const even = await runMain(['jobs', 'submit', 'walk', 'a dog', '--guild', 'g', '--smooth', 'even', '--json'], env);
    assert.equal(even.code, 0, even.stderr);
    const plain = await runMain(['jobs', 'submit', 'walk', 'a dog', '--guild', 'g', '--json'], env);
    const smoothOf = async (out: string) => (await producer.get((JSON.parse(out) as { jobId: string }).jobId))?.spec?.settings.smooth;
    assert.equal(await smoothOf(even.stdout), 'even');
    assert.equal(await smoothOf(plain.stdout), 'blend');
  });

  test('submit --from-image parks the picture with the job (and --strength); bad pictures are refused before anything is queued', async () => {
    const config = testJobsConfig(server);
    const producer = await JobProducer.connect(config);
    cleanups.push(() => producer.close());
    const env = { REDIS_URL: config.redisUrl, LATENTWALK_REDIS_PREFIX: config.prefix };
    const photo = await sharp(Buffer.alloc(64 * 64 * 3, 120), { raw: { width: 64, height: 64, channels: 3 } }).png().toBuffer();
    const path = join(dir, 'photo.png');
    await writeFile(path, photo);
    const run = await runMain(['jobs', 'submit', 'morph', 'a cat', 'a dog', '--guild', 'g', '--from-image', path, '--strength', '0.3', '--json'], env);
    assert.equal(run.code, 0, run.stderr);
    const spec = (await producer.get((JSON.parse(run.stdout) as { jobId: string }).jobId))?.spec;
    assert.equal(spec?.settings.strength, 0.3);
    assert.deepEqual({ ...spec?.settings.image, key: undefined }, { key: undefined, bytes: photo.length, name: 'photo.png' });
    assert.deepEqual(await producer.inputImages.get(spec!.settings.image!.key), photo);

    const wide = join(dir, 'wide.png');
    await writeFile(wide, await sharp(Buffer.alloc(128 * 64 * 3, 90), { raw: { width: 128, height: 64, channels: 3 } }).png().toBuffer());
    const moving = join(dir, 'moving.gif');
    const frames = Buffer.concat([Buffer.alloc(64 * 64 * 3, 10), Buffer.alloc(64 * 64 * 3, 200)]);
    await writeFile(moving, await sharp(frames, { raw: { width: 64, height: 128, channels: 3, pageHeight: 64 } }).gif({ delay: [100, 100] }).toBuffer());
    const text = join(dir, 'notes.txt');
    await writeFile(text, 'hello');
    const huge = join(dir, 'huge.png');
    await writeFile(huge, Buffer.concat([photo, Buffer.alloc(11 * 1024 * 1024)]));
    const before = (await producer.list()).length;
    const submit = ['jobs', 'submit', 'morph', 'a cat', 'a dog', '--guild', 'g'];
    const cases: [string[], RegExp][] = [
      [['--strength', '0.5'], /--strength needs --from-image FILE/],
      [['--from-image', path, '--strength', '2'], /--strength must be above 0 and at most 1, got 2/],
      [['--from-image', join(dir, 'missing.png')], /cannot read --from-image .*missing\.png: ENOENT/],
      [['--from-image', text], /--from-image notes\.txt is not a PNG, JPEG, WebP or GIF/],
      [['--from-image', moving], /--from-image moving\.gif is animated; use a still image/],
      [['--from-image', wide], /--from-image wide\.png is 128x64; crop it to about the render's shape/],
      [['--from-image', huge], /--from-image huge\.png is 11\.0 MiB; the limit is 10 MiB/],
    ];
    for (const [args, message] of cases) {
      const refused = await runMain([...submit, ...args], env);
      assert.equal(refused.code, 2, `${args.join(' ')}: ${refused.stderr}`);
      assert.match(oneLine(refused.stderr), message);
    }
    assert.equal((await producer.list()).length, before, 'nothing was queued');
  });

  test('bad input gets one readable line and a non-zero exit', async () => {
    const config = testJobsConfig(server);
    const cases: [string[], number, RegExp][] = [
      [['jobs', 'submit', 'morph', 'only one', '--guild', 'g'], 2, /morph takes 2 prompts in quotes, got 1/],
      [['jobs', 'submit', 'walk', 'a dog'], 2, /submit needs --guild ID/],
      [['jobs', 'submit', 'walk', 'a dog', '--guild', 'g', '--frames', '999'], 2, /refused \(INVALID\): 999 frames is more than this bot renders; ask for 60 or fewer/],
      [['jobs', 'submit', 'walk', 'a dog', '--guild', 'g', '--frames', 'many'], 2, /--frames must be an integer, got 'many'/],
      [['jobs', 'submit', 'walk', 'a dog', '--guild', 'g', '--smooth', 'wobbly'], 2, /--smooth must be off, even or blend, got 'wobbly'/],
      [['jobs', 'cancel', 'nope'], 1, /no job nope/],
      [['jobs', 'frobnicate'], 2, /unknown jobs command 'frobnicate'/],
    ];
    // The first through a real process (bin/latentwalk.js), the rest through the same main() in this one.
    const [first, ...rest] = cases;
    const run = await runLatentwalk(config, first![0]);
    assert.equal(run.code, first![1], run.stderr);
    assert.match(oneLine(run.stderr), first![2]);
    for (const [args, code, message] of rest) {
      const inProcess = await runMain(args, { REDIS_URL: config.redisUrl, LATENTWALK_REDIS_PREFIX: config.prefix });
      assert.equal(inProcess.code, code, `${args.join(' ')}: ${inProcess.stderr}`);
      assert.match(oneLine(inProcess.stderr), message);
    }
  });
});
