/**
 * LocalDiscord past one gateway connection and at Discord's rate limits: the shard count it recommends, guild
 * events routed to `(guild_id >> 22) % shard_count`, 4010/4011 closes, per-route buckets and the global limit
 * with Discord's 429s and headers, the invalid-request count, and an added latency. Checked with raw sockets
 * and fetch, and with the real discord.js client (internal sharding, its REST queue).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client, Events, GatewayIntentBits, type Interaction, type TextChannel } from 'discord.js';
import WebSocket from 'ws';
import { GatewayClose, LocalDiscord, shardOf } from '../src/local-discord/index.ts';
import { scaleGuilds } from './harness/shards.ts';

const TOKEN = 'scale-bot-token';
const quiet = () => undefined;

async function login(server: LocalDiscord, options: { shards?: 'auto' | number[]; shardCount?: number } = {}): Promise<Client> {
  const client = new Client({
    intents: [GatewayIntentBits.Guilds],
    rest: { api: server.restUrl },
    shards: options.shards ?? 'auto',
    ...(options.shardCount ? { shardCount: options.shardCount } : {}),
    waitGuildTimeout: 2000,
  });
  const ready = new Promise<void>((resolve) => client.once(Events.ClientReady, () => resolve()));
  await client.login(TOKEN);
  await ready;
  return client;
}

/** Opens a raw gateway socket, identifies with `shard`, and collects frames until closed or `ms` passed. */
async function identify(server: LocalDiscord, shard: unknown, ms = 300): Promise<{ frames: { op: number; t?: string; d: any }[]; closeCode: number | undefined }> {
  const ws = new WebSocket(`${server.gatewayUrl}?v=10&encoding=json`);
  const frames: { op: number; t?: string; d: any }[] = [];
  let closeCode: number | undefined;
  ws.on('message', (data) => frames.push(JSON.parse(String(data))));
  const closed = new Promise<void>((resolve) => ws.once('close', (code) => ((closeCode = code), resolve())));
  await new Promise((resolve) => ws.once('open', resolve));
  ws.send(JSON.stringify({ op: 2, d: { token: TOKEN, intents: 1, properties: {}, ...(shard === undefined ? {} : { shard }) } }));
  await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, ms))]);
  if (closeCode === undefined) {
    ws.close();
    await closed;
  }
  return { frames, closeCode };
}

describe('LocalDiscord: gateway sharding', () => {
  const { seeds, guilds } = scaleGuilds(12, 4, 1, 1);
  let server: LocalDiscord;

  before(async () => {
    server = await LocalDiscord.start({ token: TOKEN, guilds: seeds, guildsPerShard: 3, maxGuildsPerSession: 5, maxConcurrency: 16, allowUnregisteredCommands: true, log: quiet });
  });
  after(async () => server.close());

  it('recommends one shard per guildsPerShard guilds in GET /gateway/bot', async () => {
    const res = await fetch(`${server.restUrl}/v10/gateway/bot`, { headers: { Authorization: `Bot ${TOKEN}` } });
    const body = (await res.json()) as { shards: number; session_start_limit: { max_concurrency: number } };
    assert.equal(body.shards, 4);
    assert.equal(body.session_start_limit.max_concurrency, 16);
    assert.equal(server.recommendedShards, 4);
    for (const g of guilds) assert.equal(shardOf(g.id, 4), g.shard);
  });

  it('gives a shard only its own guilds in READY and GUILD_CREATE', async () => {
    const { frames, closeCode } = await identify(server, [2, 4]);
    assert.equal(closeCode, 1005);
    const ready = frames.find((f) => f.t === 'READY')!;
    const mine = guilds.filter((g) => g.shard === 2).map((g) => g.id).sort();
    assert.deepEqual(ready.d.shard, [2, 4]);
    assert.deepEqual(ready.d.guilds.map((g: { id: string }) => g.id).sort(), mine);
    assert.deepEqual(frames.filter((f) => f.t === 'GUILD_CREATE').map((f) => f.d.id).sort(), mine);
  });

  it('closes an unsharded session past maxGuildsPerSession with 4011, and a shard outside its count with 4010', async () => {
    assert.equal((await identify(server, undefined)).closeCode, GatewayClose.ShardingRequired);
    assert.equal((await identify(server, [0, 1])).closeCode, GatewayClose.ShardingRequired);
    // Two shards carry 6 guilds each: still more than 5.
    assert.equal((await identify(server, [1, 2])).closeCode, GatewayClose.ShardingRequired);
    assert.equal((await identify(server, [4, 4])).closeCode, GatewayClose.InvalidShard);
    assert.equal((await identify(server, [-1, 4])).closeCode, GatewayClose.InvalidShard);
    assert.equal((await identify(server, [0, 0])).closeCode, GatewayClose.InvalidShard);
    assert.equal((await identify(server, 'x')).closeCode, GatewayClose.InvalidShard);
  });

  it('serves discord.js with shards: auto (4 shards) and routes each interaction to its guild\'s shard only', async () => {
    const client = await login(server);
    try {
      assert.equal(client.ws.shards.size, 4);
      assert.equal(client.guilds.cache.size, 12);
      assert.deepEqual(server.connectedShards.map(([id, count]) => `${id}/${count}`).sort(), ['0/4', '1/4', '2/4', '3/4']);
      const seen = new Map<string, number>();
      client.on(Events.InteractionCreate, (i: Interaction) => {
        seen.set(i.guildId!, i.guild!.shardId);
        if (i.isRepliable()) void i.reply('ok');
      });
      for (const g of guilds) {
        const handle = await server.slashCommand({ guildId: g.id, channelId: g.channels[0]!, userId: g.members[0]!, name: 'ping' });
        assert.equal(handle.delivered, 1, `guild ${g.id} reached exactly one session`);
      }
      const deadline = Date.now() + 5000;
      while (seen.size < guilds.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      for (const g of guilds) assert.equal(seen.get(g.id), g.shard, `guild ${g.id} came in on shard ${g.shard}`);
    } finally {
      await client.destroy();
    }
  });

  it('lets one process hold a range of shards (shards: [2, 3] of 4)', async () => {
    const client = await login(server, { shards: [2, 3], shardCount: 4 });
    try {
      const expected = guilds.filter((g) => g.shard >= 2).map((g) => g.id).sort();
      assert.deepEqual([...client.guilds.cache.keys()].sort(), expected);
      const outside = guilds.find((g) => g.shard === 0)!;
      const handle = await server.slashCommand({ guildId: outside.id, channelId: outside.channels[0]!, userId: outside.members[0]!, name: 'ping' });
      assert.equal(handle.delivered, 0);
    } finally {
      await client.destroy();
    }
  });
});

describe('LocalDiscord: rate limits', () => {
  const { seeds, guilds } = scaleGuilds(2, 1, 2, 1);
  const [a, b] = guilds[0]!.channels as [string, string];
  let server: LocalDiscord;
  const post = (channelId: string, content: string, token = TOKEN) =>
    fetch(`${server.restUrl}/v10/channels/${channelId}/messages`, {
      method: 'POST',
      headers: { Authorization: `Bot ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ content }),
    });

  before(async () => {
    server = await LocalDiscord.start({
      token: TOKEN,
      guilds: seeds,
      log: quiet,
      rateLimits: {
        global: { limit: 20, windowMs: 1000 },
        buckets: [{ name: 'create', routes: ['POST /channels/:channelId/messages'], limit: 5, windowMs: 400 }],
      },
    });
  });
  after(async () => server.close());

  it('answers past a bucket with Discord\'s 429 (retry_after, headers), per channel', async () => {
    const answers = [];
    for (let i = 0; i < 6; i++) answers.push(await post(a, `m${i}`));
    assert.deepEqual(answers.map((r) => r.status), [200, 200, 200, 200, 200, 429]);
    assert.equal(answers[0]!.headers.get('x-ratelimit-limit'), '5');
    assert.equal(answers[0]!.headers.get('x-ratelimit-remaining'), '4');
    assert.equal(answers[4]!.headers.get('x-ratelimit-remaining'), '0');
    assert.ok(Number(answers[0]!.headers.get('x-ratelimit-reset-after')) > 0);
    assert.match(answers[0]!.headers.get('x-ratelimit-bucket') ?? '', /^[0-9a-f]{32}$/);
    const limited = answers[5]!;
    const body = (await limited.json()) as { message: string; retry_after: number; global: boolean };
    assert.equal(body.global, false);
    assert.ok(body.retry_after > 0 && body.retry_after <= 0.4, `retry_after ${body.retry_after}`);
    assert.equal(limited.headers.get('x-ratelimit-scope'), 'user');
    assert.equal(limited.headers.get('retry-after'), '1');
    assert.equal(limited.headers.get('x-ratelimit-global'), null);
    // Another channel is another bucket.
    assert.equal((await post(b, 'other')).status, 200);
    assert.equal(server.messages(a).length, 5);
    await new Promise((r) => setTimeout(r, 450));
    assert.equal((await post(a, 'after the reset')).status, 200);
  });

  it('limits requests with the bot token globally, and counts 401/403/429 as invalid requests', async () => {
    await new Promise((r) => setTimeout(r, 1000));
    const before = server.rateLimitStats();
    const answers = await Promise.all(Array.from({ length: 25 }, () => fetch(`${server.restUrl}/v10/users/@me`, { headers: { Authorization: `Bot ${TOKEN}` } })));
    const limited = answers.filter((r) => r.status === 429);
    assert.equal(limited.length, 5);
    assert.equal(limited[0]!.headers.get('x-ratelimit-global'), 'true');
    assert.equal(limited[0]!.headers.get('x-ratelimit-scope'), 'global');
    assert.equal(((await limited[0]!.json()) as { global: boolean }).global, true);
    assert.equal((await post(a, 'no token', 'wrong')).status, 401);
    const stats = server.rateLimitStats();
    assert.equal(stats.globalLimited - before.globalLimited, 5);
    assert.equal(stats.invalidLast10Min - before.invalidLast10Min, 6);
    assert.equal(server.requests.filter((r) => r.status === 429).length, stats.rateLimited);
  });

  it('lets discord.js post 15 messages to one channel in order with no 429 (it reads the headers)', async () => {
    await new Promise((r) => setTimeout(r, 1000));
    const client = await login(server);
    try {
      const before = server.rateLimitStats().rateLimited;
      const channel = (await client.channels.fetch(b)) as TextChannel;
      const started = Date.now();
      await Promise.all(Array.from({ length: 15 }, (_, i) => channel.send(`n${i}`)));
      const took = Date.now() - started;
      assert.equal(server.rateLimitStats().rateLimited - before, 0);
      assert.deepEqual(server.messages(b).map((m) => m.content).filter((c) => c.startsWith('n')), Array.from({ length: 15 }, (_, i) => `n${i}`));
      // Three windows of five: at least two resets waited for.
      assert.ok(took >= 700, `took ${took} ms`);
    } finally {
      await client.destroy();
    }
  });

  it('adds the configured latency to every call', async () => {
    server.setLatency(150);
    try {
      const started = Date.now();
      await fetch(`${server.restUrl}/v10/gateway`);
      assert.ok(Date.now() - started >= 145);
    } finally {
      server.setLatency(0);
    }
  });
});
