/**
 * `latentwalk start` (npm start) end to end, as an admin runs it: a Discord token pointed at LocalDiscord, no
 * REDIS_URL. It comes up with a private redis-server (AOF, noeviction) in LATENTWALK_DATA_DIR/redis, a worker on
 * the bundled model and the bot; serves a /morph from the slash command to a GIF in the channel; answers
 * /metrics and /healthz with figures that moved; logs JSON with job, guild and worker ids and never the token;
 * and on SIGTERM stops every process it started. Also: bad settings and a missing token stop it before
 * anything runs, naming the variable.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { runStartCommand } from '../src/cli/start.ts';
import { LocalDiscord } from '../src/local-discord/index.ts';
import { DEFAULT_PACK, packModelName, packPrompts } from './harness/packs.ts';
import { waitFor } from './harness/redis.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TOKEN = 'ship-test-bot-token.0123456789abcdefXYZ';
let discord: LocalDiscord;
let scratch: string;

before(async () => {
  discord = await LocalDiscord.start({ token: TOKEN, log: () => undefined });
  scratch = mkdtempSync(join(tmpdir(), 'latentwalk-ship-'));
});
after(async () => {
  await discord?.close();
  rmSync(scratch, { recursive: true, force: true });
});

/** `latentwalk start` as `npm start` runs it (through bin/latentwalk.js once main.ts knows `start`). */
function spawnStart(env: Record<string, string>, cwd: string): { child: ChildProcess; output: () => string; stdout: () => string; exited: Promise<number | null> } {
  const wired = /\bstart:/.test(readFileSync(join(ROOT, 'src/cli/main.ts'), 'utf8'));
  const args = wired
    ? [join(ROOT, 'bin/latentwalk.js'), 'start']
    : ['--import', import.meta.resolve('tsx'), '--input-type=module', '-e', `const m = await import(${JSON.stringify(join(ROOT, 'src/cli/start.ts'))}); process.exitCode = await m.runStartCommand([]);`];
  const child = spawn(process.execPath, args, {
    cwd,
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? cwd, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let all = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    all += chunk.toString();
  });
  child.stderr!.on('data', (chunk: Buffer) => (all += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => all, stdout: () => out, exited };
}

/** Every live process below `root` (from /proc: parent links). */
function descendants(root: number): { pid: number; cmd: string }[] {
  const parents = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(Number(name), ppid);
    } catch {
      // exited meanwhile
    }
  }
  const found: { pid: number; cmd: string }[] = [];
  const queue = [root];
  while (queue.length) {
    const parent = queue.shift()!;
    for (const [pid, ppid] of parents) {
      if (ppid !== parent) continue;
      queue.push(pid);
      found.push({ pid, cmd: cmdline(pid) });
    }
  }
  return found;
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
  } catch {
    return '';
  }
}

function alive(pid: number): boolean {
  try {
    const state = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(state); // a zombie has exited
  } catch {
    return false;
  }
}

function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** The value of one sample in Prometheus text, or undefined. */
function sample(metrics: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of metrics.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const body = /\{(.*)\}/.exec(line)?.[1] ?? '';
    if (Object.entries(labels).every(([k, v]) => body.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

describe('npm start', () => {
  it('comes up with a private Redis, serves /morph end to end, reports it, and SIGTERM leaves no process', async () => {
    const cwd = mkdtempSync(join(scratch, 'run-'));
    const dataDir = join(cwd, 'state');
    const start = spawnStart(
      {
        DISCORD_TOKEN: TOKEN,
        DISCORD_API_URL: discord.restUrl,
        LATENTWALK_DATA_DIR: dataDir,
        LATENTWALK_METRICS_PORT: '0',
        LATENTWALK_LOG_LEVEL: 'debug',
        LATENTWALK_SHUTDOWN_GRACE_MS: '2000',
        LATENTWALK_PROGRESS_INTERVAL_MS: '250',
      },
      cwd,
    );
    try {
      const ready = await waitFor(
        'the stack to be ready',
        () => {
          if (start.child.exitCode !== null) throw new Error(`start exited early:\n${start.output()}`);
          return jsonLines(start.stdout()).find((line) => line['msg'] === 'stack ready');
        },
        90_000,
        100,
      );
      assert.equal(ready['privateRedis'], true);
      const workerOps = String(ready['workerOps']);
      const botOps = String(ready['botOps']);
      assert.match(workerOps, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.match(botOps, /^http:\/\/127\.0\.0\.1:\d+$/);

      // Three processes: redis-server (AOF + noeviction in the data dir), the worker and the bot.
      const children = descendants(start.child.pid!);
      const redis = children.find((p) => p.cmd.includes('redis-server'));
      assert.ok(redis, `a redis-server among ${JSON.stringify(children)}`);
      assert.match(String(ready['redis']), /^redis:\/\/127\.0\.0\.1:\d+$/);
      const client = new Redis(String(ready['redis']), { maxRetriesPerRequest: 1 });
      try {
        assert.deepEqual(await client.config('GET', 'appendonly'), ['appendonly', 'yes']);
        assert.deepEqual(await client.config('GET', 'maxmemory-policy'), ['maxmemory-policy', 'noeviction']);
        assert.deepEqual(await client.config('GET', 'dir'), ['dir', join(dataDir, 'redis')]);
        assert.deepEqual(await client.config('GET', 'bind'), ['bind', '127.0.0.1']);
      } finally {
        client.disconnect();
      }
      assert.ok(children.some((p) => / worker\b/.test(p.cmd)), 'a worker process');
      assert.ok(children.some((p) => / bot\b/.test(p.cmd)), 'a bot process');

      // Healthy, and the commands were registered.
      for (const url of [workerOps, botOps]) {
        const health = await fetch(`${url}/healthz`);
        assert.equal(health.status, 200, await health.clone().text());
        assert.equal(((await health.json()) as { status: string }).status, 'ok');
      }
      assert.ok(discord.registeredCommands().some((c) => c.name === 'morph'));

      // /morph from the slash command to a GIF in the channel, between two prompts the default pack suggests.
      const [from, to] = packPrompts(DEFAULT_PACK.dir, 2) as [string, string];
      const guild = discord.guilds()[0]!;
      const channelId = guild.channels[0]!.id;
      await discord.slashCommand({
        guildId: guild.id,
        channelId,
        userId: guild.members[1]!.id,
        name: 'morph',
        options: [
          { name: 'from', value: from },
          { name: 'to', value: to },
          { name: 'frames', value: 3 },
          { name: 'steps', value: 2 },
        ],
      });
      const posted = await waitFor(
        'a GIF in the channel',
        () => discord.messages(channelId).find((m) => m.attachments.some((a) => a.filename.endsWith('.gif'))),
        60_000,
        100,
      );
      const gif = posted.attachments.find((a) => a.filename.endsWith('.gif'))!;
      assert.ok(gif.size > 0);

      // The figures moved.
      const workerMetrics = await (await fetch(`${workerOps}/metrics`)).text();
      assert.equal(sample(workerMetrics, 'latentwalk_jobs_total', { kind: 'morph', outcome: 'done' }), 1);
      assert.equal(sample(workerMetrics, 'latentwalk_render_seconds_count', { kind: 'morph' }), 1);
      assert.ok(sample(workerMetrics, 'latentwalk_render_seconds_sum', { kind: 'morph' })! > 0);
      assert.equal(sample(workerMetrics, 'latentwalk_frames_rendered_total', { kind: 'morph' }), 3);
      assert.ok(sample(workerMetrics, 'latentwalk_render_frames_per_second', { kind: 'morph' })! > 0);
      assert.ok(sample(workerMetrics, 'latentwalk_artifact_bytes_sum', { kind: 'morph' })! > 0);
      assert.equal(sample(workerMetrics, 'latentwalk_queue_jobs', { state: 'waiting' }), 0);
      assert.equal(sample(workerMetrics, 'latentwalk_queue_jobs', { state: 'active' }), 0);
      const botMetrics = await (await fetch(`${botOps}/metrics`)).text();
      assert.equal(sample(botMetrics, 'latentwalk_jobs_submitted_total', { kind: 'morph' }), 1);
      await waitFor('the bot to count the posted result', async () => {
        const text = await (await fetch(`${botOps}/metrics`)).text();
        return sample(text, 'latentwalk_results_posted_total', { kind: 'morph', outcome: 'done' }) === 1;
      });
      assert.ok(sample(botMetrics, 'latentwalk_queue_jobs', { state: 'completed' })! >= 1);

      // JSON logs with the ids, from every service.
      const lines = jsonLines(start.stdout());
      const done = lines.find((line) => line['service'] === 'worker' && /^job .* done/.test(String(line['msg'])));
      assert.ok(done, 'the worker logged the finished job');
      assert.equal(done['guildId'], guild.id);
      assert.match(String(done['jobId']), /^render-/);
      assert.ok(done['workerId'], 'worker id on worker lines');
      const queued = lines.find((line) => line['service'] === 'bot' && line['msg'] === 'job queued');
      assert.ok(queued && queued['guildId'] === guild.id && queued['jobId'] === done['jobId']);
      assert.ok(lines.some((line) => line['service'] === 'start'));
      // No LATENTWALK_MODEL_DIR: the worker runs the default bundled pack.
      const workerReady = lines.find((line) => line['service'] === 'worker' && String(line['msg']).startsWith('ready: '));
      assert.ok(workerReady, 'the worker logged ready');
      assert.match(String(workerReady['msg']), new RegExp(`^ready: [^,]+, ${packModelName(DEFAULT_PACK.dir)} on \\w+,`));

      const pids = descendants(start.child.pid!).map((p) => p.pid);
      start.child.kill('SIGTERM');
      assert.equal(await start.exited, 0, start.output().slice(-3000));
      await waitFor('every process the stack started to be gone', () => pids.every((pid) => !alive(pid)), 10_000);
      assert.ok(jsonLines(start.stdout()).some((line) => line['msg'] === 'stack stopped'));
      assert.ok(existsSync(join(dataDir, 'redis', 'appendonlydir')), 'AOF files in the data dir');
    } finally {
      if (start.child.exitCode === null) start.child.kill('SIGKILL');
      for (const { pid } of start.child.pid ? descendants(start.child.pid) : []) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
    assert.ok(!start.output().includes(TOKEN), 'the token never reaches any log line');
  });

  it('without DISCORD_TOKEN says what to set and where to get it, exits non-zero, starts nothing', async () => {
    const cwd = mkdtempSync(join(scratch, 'no-token-'));
    const start = spawnStart({ LATENTWALK_DATA_DIR: join(cwd, 'state') }, cwd);
    assert.equal(await start.exited, 1);
    const text = start.output();
    assert.match(text, /DISCORD_TOKEN is not set/);
    assert.match(text, /Developer Portal/);
    assert.match(text, /Bot → Reset Token/);
    assert.match(text, /\.env/);
    assert.match(text, /npm run demo/);
    assert.ok(!existsSync(join(cwd, 'state')), 'no Redis was started');
  });
  it('a token Discord refuses stops the start with the fix, leaving no process', async () => {
    const cwd = mkdtempSync(join(scratch, 'bad-token-'));
    const wrong = 'not-the-right-token.0123456789abcdef';
    const start = spawnStart({ DISCORD_TOKEN: wrong, DISCORD_API_URL: discord.restUrl, LATENTWALK_DATA_DIR: join(cwd, 'state') }, cwd);
    const seen = new Set<number>();
    const poll = setInterval(() => {
      if (start.child.pid) for (const { pid } of descendants(start.child.pid)) seen.add(pid);
    }, 50);
    const code = await start.exited;
    clearInterval(poll);
    assert.equal(code, 1);
    assert.match(start.output(), /the stack did not start: the bot stopped before it was ready .*Discord refused DISCORD_TOKEN \(401 Unauthorized\): reset the token/);
    assert.ok(seen.size >= 1, 'it had started processes');
    await waitFor('every process to be gone', () => [...seen].every((pid) => !alive(pid)), 10_000);
    assert.ok(!start.output().includes(wrong));
  });
});

describe('start-up validation', () => {
  async function run(env: Record<string, string>, cwd = mkdtempSync(join(scratch, 'cfg-'))) {
    let stderr = '';
    const code = await runStartCommand([], { env: { PATH: process.env['PATH'] ?? '', LATENTWALK_LOG_LEVEL: 'silent', ...env }, cwd, stderr: (t) => void (stderr += t) });
    return { code, stderr, cwd };
  }

  it('stops at bad values, naming every key and what it accepts', async () => {
    const { code, stderr, cwd } = await run({
      DISCORD_TOKEN: TOKEN,
      LATENTWALK_MAX_FRAMES: 'lots',
      LATENTWALK_LOG_LEVEL: 'loud',
      LATENTWALK_METRICS_PORT: '70000',
      REDIS_URL: 'localhost:6379',
      LATENTWALK_DATA_DIR: 'state',
    });
    assert.equal(code, 1);
    assert.match(stderr, /LATENTWALK_MAX_FRAMES must be a whole number between 2 and 1000 \(got "lots"\)/);
    assert.match(stderr, /LATENTWALK_LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent/);
    assert.match(stderr, /LATENTWALK_METRICS_PORT must be at most 65535/);
    assert.match(stderr, /REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL/);
    assert.ok(!existsSync(join(cwd, 'state')), 'nothing started');
  });

  it('checks the model directory and the token format without echoing the token', async () => {
    const { code, stderr } = await run({ DISCORD_TOKEN: 'Bot abc', LATENTWALK_MODEL_DIR: '/nowhere/sd3' });
    assert.equal(code, 1);
    assert.match(stderr, /LATENTWALK_MODEL_DIR must be a model pack directory; \/nowhere\/sd3 is missing/);
    assert.match(stderr, /DISCORD_TOKEN does not look like a bot token/);
    assert.ok(!stderr.includes('Bot abc'));
  });

  it('says how to get Redis when redis-server is not on PATH and REDIS_URL is unset', async () => {
    const { code, stderr, cwd } = await run({ DISCORD_TOKEN: TOKEN, PATH: '/nonexistent', LATENTWALK_DATA_DIR: 'state' });
    assert.equal(code, 1);
    assert.match(stderr, /redis-server is not on PATH: install Redis 6\.2 or newer .* or set REDIS_URL/);
    assert.ok(!existsSync(join(cwd, 'state')));
  });

  it('reads .env under the environment', async () => {
    const cwd = mkdtempSync(join(scratch, 'dotenv-'));
    writeFileSync(join(cwd, '.env'), `# settings\nDISCORD_TOKEN=${TOKEN}\nLATENTWALK_MAX_STEPS="zero"\nLATENTWALK_MAX_SIDE=64\n`);
    const { code, stderr } = await run({ LATENTWALK_MAX_SIDE: 'wide' }, cwd);
    assert.equal(code, 1);
    assert.match(stderr, /LATENTWALK_MAX_STEPS must be a whole number between 1 and 200 \(got "zero"\)/);
    // The environment wins over .env.
    assert.match(stderr, /LATENTWALK_MAX_SIDE must be a whole number between 16 and 4096 \(got "wide"\)/);
    assert.doesNotMatch(stderr, /DISCORD_TOKEN/);
  });
});
