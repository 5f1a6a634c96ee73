/**
 * End to end, results Discord will not take: one poisoned result (every post of it answered with an error
 * code the bot has never seen) ahead of ten good ones from three servers. The ten are posted within seconds,
 * in order per server, before and after a bot restart; the poisoned one gets exactly its bounded number of
 * tries across the restart (counted in Redis), then is given up with a log line (job id, Discord code), a
 * metric, and a note on its request message. Real discord.js client, LocalDiscord, redis-server; the jobs
 * are finished by the test (no worker), so the timings are the bot's own.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { JobProducer } from '../src/jobs/index.ts';
import { keyPrefix } from '../src/jobs/keys.ts';
import type { JobOutcome } from '../src/jobs/contract.ts';
import { ApiError, DiscordErrors, invalidFormBody } from '../src/local-discord/index.ts';
import type { LogFields, Logger } from '../src/ops/log.ts';
import { BotMetrics } from '../src/ops/metrics.ts';
import { runLatentwalk } from './harness/redis.ts';
import { buttons, GENERAL, GENERAL2, GENERAL3, GUILD, GUILD2, GUILD3, Stack, waitFor, type UserName } from './harness/stack.ts';

const GIF = Buffer.concat([
  Buffer.from('GIF89a', 'latin1'),
  Buffer.from([1, 0, 1, 0, 0x80, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x44, 0x01, 0, 0x3b]),
]);
const ATTEMPTS = 5;
const RETRY_MS = 250;

const lines: { level: string; message: string; fields: LogFields }[] = [];
const capture: Logger = {
  debug: () => undefined,
  info: (message, fields = {}) => lines.push({ level: 'info', message, fields }),
  warn: (message, fields = {}) => lines.push({ level: 'warn', message, fields }),
  error: (message, fields = {}) => lines.push({ level: 'error', message, fields }),
};
const metrics = new BotMetrics();
let stack: Stack;
let producer: JobProducer;

before(async () => {
  stack = await Stack.start({ worker: false, guilds: 3, log: capture, metrics, bot: { resultAttempts: ATTEMPTS, resultRetryMs: RETRY_MS } });
  producer = await JobProducer.connect(stack.jobsConfig);
});
after(async () => {
  await producer?.close();
  await stack?.stop();
});

interface Queued {
  jobId: string;
  guildId: string;
  messageId: string;
  token: string;
}

const WHERE: [string, string][] = [
  [GUILD, GENERAL],
  [GUILD2, GENERAL2],
  [GUILD3, GENERAL3],
];
const MEMBERS: UserName[] = ['bob', 'carol', 'dave', 'erin'];

/** A /loop queued (no worker takes it); `n` picks the server and member. */
async function queue(n: number, guildIndex = n % 3): Promise<Queued> {
  const [guildId, channelId] = WHERE[guildIndex]!;
  const handle = await stack.slash(MEMBERS[n % MEMBERS.length]!, 'loop', { prompt: `a lighthouse number ${n}`, frames: 2, steps: 1 }, channelId, guildId);
  const message = await stack.reply(handle);
  assert.match(message.content, /^⏳ Queued/);
  return { jobId: `render-${handle.interactionId}`, guildId, messageId: message.id, token: stack.discord.interactionResponse(handle.interactionId)!.token };
}

/** What a worker would publish for a finished job: a tiny GIF and its report. Returns the stream entry id. */
async function finish(jobId: string): Promise<string> {
  const artifact = await producer.artifacts.store(jobId, {
    bytes: GIF,
    format: 'gif',
    mimeType: 'image/gif',
    extension: 'gif',
    width: 1,
    height: 1,
    frameCount: 2,
    fps: 10,
    reductions: [],
  });
  const outcome: JobOutcome = {
    status: 'done',
    attempts: 1,
    renderMs: 50,
    artifact,
    report: {
      kind: 'loop', prompts: [], negative: '', seed: 7, steps: 1, guidance: 5, width: 64, height: 64, frames: 2, batchSize: 1,
      provider: 'cpu', model: 'tiny', modelPath: '/m', sigmas: [], timesteps: [], timings: { textEncodingMs: 1, denoisingMs: 1, decodingMs: 1 },
      truncations: [], resumedFrames: 0,
    },
  };
  const published = await producer.publishOutcome(jobId, outcome);
  assert.equal(published.kind, 'delivered');
  return published.kind === 'delivered' ? published.entryId : '';
}

/** Records when each message first shows a file. */
function watchPosts(): Map<string, number> {
  const posted = new Map<string, number>();
  stack.discord.on('messageUpdate', (message) => {
    if (message.attachments.length > 0 && !posted.has(message.id)) posted.set(message.id, Date.now());
  });
  return posted;
}

/** Every guild's results were posted in the order they were published. */
function assertOrderPerGuild(good: Queued[], posted: Map<string, number>): void {
  for (const [guildId] of WHERE) {
    const mine = good.filter((q) => q.guildId === guildId);
    const times = mine.map((q) => posted.get(q.messageId)!);
    assert.deepEqual([...times].sort((a, b) => a - b), times, `guild ${guildId}: posted out of order`);
  }
}

function poison(target: Queued) {
  // A code Discord might add tomorrow: the bot must neither loop on it nor let it block the others.
  return stack.discord.failRequests({ params: { token: target.token }, times: Infinity, error: () => new ApiError(400, 99_999, 'Something the bot never saw') });
}

/** Failed tries of a result stream entry, as recorded in Redis (0: none recorded, or done with). */
async function tries(entryId: string): Promise<number> {
  const redis = stack.redis.client();
  try {
    const value = await redis.hget(`${keyPrefix(stack.jobsConfig.prefix)}:jobs:results:tries:bot`, entryId);
    return value ? Number(value.split(':')[0]) : 0;
  } finally {
    redis.disconnect();
  }
}

describe('a result Discord will not take', () => {
  it('never holds back the others, across a restart; it is given up after its tries, and says so', async (t) => {
    const poisoned = await queue(0, 0);
    const first: Queued[] = [];
    for (let i = 1; i <= 10; i++) first.push(await queue(i));
    const second: Queued[] = [];
    for (let i = 11; i <= 20; i++) second.push(await queue(i));
    const fault = poison(poisoned);
    const posted = watchPosts();

    // Round one: the poisoned result first, then ten good ones.
    const startedAt = Date.now();
    const poisonedEntry = await finish(poisoned.jobId);
    for (const q of first) await finish(q.jobId);
    await waitFor('the ten results posted', () => first.every((q) => posted.has(q.messageId)), 10_000);
    const roundOne = Math.max(...first.map((q) => posted.get(q.messageId)!)) - startedAt;
    assert.ok(roundOne < 5000, `ten results took ${roundOne} ms`);
    assertOrderPerGuild(first, posted);
    assert.equal(stack.message(poisoned.messageId).attachments.length, 0);
    t.diagnostic(`ten results behind a poisoned one posted within ${roundOne} ms of being published`);

    // A restart while the poisoned entry waits for its next try: its count goes on from Redis.
    await waitFor('two failed tries of the poisoned result', async () => (await tries(poisonedEntry)) >= 2, 10_000);
    await stack.stopBot();
    const triedBeforeRestart = fault.hits;
    assert.ok(triedBeforeRestart >= 2 && triedBeforeRestart < ATTEMPTS, `tries before the restart: ${triedBeforeRestart}`);
    for (const q of second) await finish(q.jobId);
    const restartedAt = Date.now();
    await stack.startBot();
    await waitFor('the next ten results posted', () => second.every((q) => posted.has(q.messageId)), 15_000);
    const roundTwo = Math.max(...second.map((q) => posted.get(q.messageId)!)) - restartedAt;
    assert.ok(roundTwo < 8000, `ten results after the restart took ${roundTwo} ms (login included)`);
    assertOrderPerGuild(second, posted);
    t.diagnostic(`after a restart: ten results posted within ${roundTwo} ms of the bot starting (login included); the poisoned one had ${triedBeforeRestart} tries before it`);

    // Given up after exactly ATTEMPTS tries in all, then the request says so (through the bot token: the
    // poisoned webhook refuses that edit too).
    const note = await stack.waitForMessage(poisoned.messageId, 'the undeliverable note', (m) => /could not post it here/.test(m.content), 20_000);
    assert.match(note.content, /Discord kept refusing it \(error 99999\)/);
    assert.equal(fault.hits, ATTEMPTS + 1, 'ATTEMPTS posts, plus one try to note it through the token');
    // The note can land before the log line is written: wait for it rather than look once.
    const line = await undeliverableLine(poisoned.jobId);
    assert.equal(line.fields['code'], 99_999);
    assert.equal(line.fields['attempts'], ATTEMPTS);
    assert.equal(line.level, 'warn');
    assert.match(await metrics.text(), /latentwalk_results_undeliverable_total\{kind="loop",code="99999",service="bot"\} 1/);
    const reply = await stack.bot!.context.pending.get(poisoned.jobId);
    assert.equal(reply?.delivered?.via, 'undeliverable');
    assert.equal(await tries(poisonedEntry), 0, 'its try count is gone with it');
    fault.remove();
  });
});

/** A /loop by `user` in a channel (thread) of GUILD, queued; no worker takes it. */
async function queueIn(channelId: string, user: UserName = 'bob'): Promise<Queued> {
  const handle = await stack.slash(user, 'loop', { prompt: 'a red circle', frames: 2, steps: 1 }, channelId);
  const message = await stack.reply(handle);
  assert.match(message.content, /^⏳ Queued/);
  return { jobId: `render-${handle.interactionId}`, guildId: GUILD, messageId: message.id, token: stack.discord.interactionResponse(handle.interactionId)!.token };
}

function undeliverableLine(jobId: string) {
  return waitFor(`the undeliverable log line of ${jobId}`, () => lines.find((l) => l.message.startsWith('result undeliverable') && l.fields['jobId'] === jobId));
}

const FIFTEEN_MINUTES = 16 * 60_000;

describe('each failure Discord can answer, met the way a real server answers it', () => {
  it('late, in a channel without Read Message History: a plain message naming the requester, not a reply', async () => {
    const channelId = stack.discord.createChannel(GUILD, {
      name: 'no-history',
      permissionOverwrites: [{ id: stack.discord.botUserId, type: 1, allow: '0', deny: (1n << 16n).toString() }],
    });
    await waitFor('the channel in the bot cache', () => stack.bot!.context.client.channels.cache.has(channelId));
    const job = await queueIn(channelId, 'carol');
    stack.skewMs = FIFTEEN_MINUTES;
    try {
      await finish(job.jobId);
      const posted = await waitFor('the late result', () => stack.discord.messages(channelId).find((m) => m.attachments.length > 0), 10_000);
      assert.equal(posted.message_reference, undefined, 'not a reply (that needs Read Message History)');
      assert.match(posted.content, /^✅ <@\d+>, your loop is ready/);
      assert.deepEqual(posted.mentions.map((u) => u.username), ['carol']);
      await stack.waitForMessage(job.messageId, 'pointing at the result', (m) => m.content.startsWith('➡️'));
      assert.ok(!stack.discord.requests.some((r) => r.errorCode === 160002), 'the bot knew not to reply from its cache');
    } finally {
      stack.skewMs = 0;
    }
  });

  it('a refused reply (403/160002) is sent again as a plain message', async () => {
    const job = await queueIn(GENERAL, 'dave');
    stack.skewMs = FIFTEEN_MINUTES;
    // The cache says the bot may read the history; Discord disagrees once.
    const refusal = stack.discord.failRequests({ method: 'POST', route: '/channels/:channelId/messages', params: { channelId: GENERAL }, match: (r) => !!(r.body as { message_reference?: unknown })?.message_reference, error: () => new ApiError(403, 160002, 'Cannot reply without permission to read message history') });
    try {
      await finish(job.jobId);
      const posted = await waitFor('the late result', () => stack.discord.messages(GENERAL).find((m) => m.attachments.length > 0 && m.content.includes('your loop is ready') && m.mentions.some((u) => u.username === 'dave')), 10_000);
      assert.equal(posted.message_reference, undefined);
      assert.equal(refusal.hits, 1);
    } finally {
      refusal.remove();
      stack.skewMs = 0;
    }
  });

  it('a refused body (50035) posts the same result without the long fields', async () => {
    const job = await queueIn(GENERAL);
    const refusal = stack.discord.failRequests({ params: { token: job.token }, withFiles: true, error: () => invalidFormBody([{ path: 'embeds.0.fields.0.value', code: 'BASE_TYPE_MAX_LENGTH', message: 'Must be 1024 or fewer in length.' }]) });
    try {
      await finish(job.jobId);
      const final = await stack.waitForMessage(job.messageId, 'the compact result', (m) => m.attachments.length > 0, 10_000);
      assert.equal(refusal.hits, 1);
      assert.match(final.content, new RegExp(`^✅ Your loop is ready \\(job \`${job.jobId}\`\\)`));
      const names = final.embeds[0]!.fields!.map((f) => f.name);
      assert.ok(names.includes('Seed') && !names.includes('Prompt') && !names.includes('Contributors'), names.join(', '));
    } finally {
      refusal.remove();
    }
  });

  it('a refused file (413/40005) becomes text saying how to get it, and `latentwalk jobs show --out` gets it', async () => {
    const job = await queueIn(GENERAL);
    const refusal = stack.discord.failRequests({ params: { token: job.token }, withFiles: true, times: Infinity, error: () => DiscordErrors.tooLarge() });
    try {
      await finish(job.jobId);
      const final = await stack.waitForMessage(job.messageId, 'the text instead of the file', (m) => m.content.startsWith('⚠️'), 10_000);
      assert.equal(final.attachments.length, 0);
      assert.match(final.content, /Discord refused the file here \(error 40005\)/);
      const command = new RegExp(`\`latentwalk jobs show ${job.jobId} --out (latentwalk-loop-\\d+\\.gif)\``).exec(final.content);
      assert.ok(command, final.content);
      assert.ok(buttons(final).some((b) => b.label === 'Reroll'));
      const dir = await mkdtemp(join(tmpdir(), 'latentwalk-show-'));
      try {
        const out = join(dir, command[1]!);
        const shown = await runLatentwalk(stack.jobsConfig, ['jobs', 'show', job.jobId, '--out', out]);
        assert.equal(shown.code, 0, shown.stderr);
        assert.deepEqual(await readFile(out), GIF);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    } finally {
      refusal.remove();
    }
  });

  it('an archived thread: the edit is refused (50083), the result goes to the thread as a new message, which unarchives it', async () => {
    const threadId = stack.discord.createThread(GENERAL, { name: 'loops' });
    await waitFor('the thread in the bot cache', () => stack.bot!.context.client.channels.cache.has(threadId));
    const job = await queueIn(threadId);
    stack.discord.setThreadState(threadId, { archived: true });
    await finish(job.jobId);
    const posted = await waitFor('the result in the thread', () => stack.discord.messages(threadId).find((m) => m.attachments.length > 0), 10_000);
    assert.equal(posted.message_reference?.message_id, job.messageId, 'a reply to the request');
    assert.ok(stack.discord.requests.some((r) => r.errorCode === 50083 && r.path.includes(job.token)));
    await stack.waitForMessage(job.messageId, 'pointing at the result', (m) => m.content.startsWith('➡️'));
  });

  it('an archived and locked thread: given up at once (50083), and the log says the request could not be updated either', async () => {
    const threadId = stack.discord.createThread(GENERAL, { name: 'locked loops' });
    await waitFor('the thread in the bot cache', () => stack.bot!.context.client.channels.cache.has(threadId));
    const job = await queueIn(threadId);
    stack.discord.setThreadState(threadId, { archived: true, locked: true });
    await finish(job.jobId);
    const line = await undeliverableLine(job.jobId);
    assert.equal(line.fields['code'], 50083);
    assert.equal(line.fields['attempts'], 1, 'no retries for a channel that cannot take it');
    assert.match(line.message, /could not be updated either/);
    assert.match(stack.message(job.messageId).content, /^⏳ Queued/);
  });

  it('a deleted channel (10003): given up at once, with a log line', async () => {
    const channelId = stack.discord.createChannel(GUILD, { name: 'doomed' });
    await waitFor('the channel in the bot cache', () => stack.bot!.context.client.channels.cache.has(channelId));
    const job = await queueIn(channelId);
    stack.discord.deleteChannel(channelId);
    await finish(job.jobId);
    const line = await undeliverableLine(job.jobId);
    assert.equal(line.fields['code'], 10003);
    assert.equal(line.fields['attempts'], 1);
    assert.match(await metrics.text(), /latentwalk_results_undeliverable_total\{kind="loop",code="10003",service="bot"\} 1/);
  });

  it('late, in a channel the bot lost (50001): given up, and the request message says so while the token lives', async () => {
    const channelId = stack.discord.createChannel(GUILD, { name: 'hidden' });
    await waitFor('the channel in the bot cache', () => stack.bot!.context.client.channels.cache.has(channelId));
    const late = await queueIn(channelId);
    const early = await queueIn(channelId);
    stack.discord.setPermissionOverwrite(channelId, { id: stack.discord.botUserId, type: 1, deny: 1n << 10n });
    // Late: the token has expired, so the bot must post with its own token, which the channel refuses.
    stack.skewMs = FIFTEEN_MINUTES;
    try {
      await finish(late.jobId);
      const line = await undeliverableLine(late.jobId);
      assert.equal(line.fields['code'], 50001);
      assert.match(line.message, /could not be updated either/);
    } finally {
      stack.skewMs = 0;
    }
    // In time: the interaction token needs no channel permission, so the result itself is posted.
    await finish(early.jobId);
    await stack.waitForMessage(early.messageId, 'the result', (m) => m.attachments.length > 0, 10_000);
  });
});
