/**
 * Collaboration boards in a real redis-server: slot claims, the one-slot-per-member rule, the race for the
 * last slot (exactly one winner, across separate connections as two bot processes would have), cancel and
 * expiry, and the guild settings store.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { BoardStore, type NewBoard } from '../src/bot/boards/BoardStore.ts';
import { DEFAULT_GUILD_SETTINGS, GuildSettingsStore } from '../src/bot/GuildSettings.ts';
import { PendingReplies } from '../src/bot/PendingReplies.ts';
import { TestRedis } from './harness/redis.ts';

let server: TestRedis;
const clients: Redis[] = [];
const client = () => {
  const c = server.client();
  clients.push(c);
  return c;
};

before(async () => {
  server = await TestRedis.start();
});
after(async () => {
  for (const c of clients) c.disconnect();
  await server.stop();
});

function board(id: string, overrides: Partial<NewBoard> = {}): NewBoard {
  return {
    id,
    kind: 'grid',
    guildId: 'g1',
    channelId: 'c1',
    starterId: 'starter',
    slots: [undefined, undefined, undefined, undefined],
    allowMultiple: false,
    ttlMs: 60_000,
    settings: { seed: 1 },
    maxBytes: 1024 * 1024,
    applicationId: 'app',
    interactionToken: 'tok',
    tokenExpiresAt: Date.now() + 60_000,
    ...overrides,
  };
}

describe('BoardStore', () => {
  it('fills slots in order and completes on the last one, once', async () => {
    const store = new BoardStore(client(), 'test');
    await store.create(board('b1', { slots: ['the starter corner', undefined, undefined, undefined] }), 10);
    const a = await store.claim('b1', 'u1', 'one');
    const b = await store.claim('b1', 'u2', 'two');
    const c = await store.claim('b1', 'u3', 'three');
    assert.deepEqual([a.kind, b.kind, c.kind], ['ok', 'ok', 'complete']);
    assert.equal(c.kind === 'complete' && c.slot, 3);
    const d = await store.claim('b1', 'u4', 'four');
    assert.equal(d.kind, 'full');
    const final = await store.get('b1');
    assert.equal(final?.status, 'complete');
    assert.deepEqual(final?.slots.map((s) => s?.userId), ['starter', 'u1', 'u2', 'u3']);
  });

  it('allows one slot per member unless the starter allowed more', async () => {
    const store = new BoardStore(client(), 'test');
    await store.create(board('b2'), 10);
    assert.equal((await store.claim('b2', 'u1', 'one')).kind, 'ok');
    assert.equal((await store.claim('b2', 'u1', 'again')).kind, 'already');
    await store.create(board('b3', { allowMultiple: true }), 10);
    assert.equal((await store.claim('b3', 'u1', 'one')).kind, 'ok');
    assert.equal((await store.claim('b3', 'u1', 'two')).kind, 'ok');
  });

  it('the race for the last slot has exactly one winner, across connections', async () => {
    for (let round = 0; round < 5; round++) {
      const id = `race-${round}`;
      await new BoardStore(client(), 'test').create(board(id, { slots: ['a', 'b', 'c', undefined] }), 100);
      const contenders = Array.from({ length: 6 }, (_, i) => new BoardStore(client(), 'test'));
      const results = await Promise.all(contenders.map((store, i) => store.claim(id, `racer${i}`, `prompt ${i}`)));
      assert.equal(results.filter((r) => r.kind === 'complete').length, 1, JSON.stringify(results.map((r) => r.kind)));
      assert.equal(results.filter((r) => r.kind === 'full').length, 5);
    }
  });

  it('cancel and expiry close the board; later claims are told why', async () => {
    const store = new BoardStore(client(), 'test');
    await store.create(board('b4'), 10);
    assert.equal((await store.close('b4', 'cancelled', 'starter')).kind, 'ok');
    assert.equal((await store.claim('b4', 'u1', 'late')).kind, 'cancelled');
    assert.equal((await store.close('b4', 'cancelled', 'starter')).kind, 'closed');

    const now = Date.now();
    await store.create(board('b5', { ttlMs: 1000 }), 10, now);
    assert.equal((await store.close('b5', 'expired', 'timer', now + 10)).kind, 'open', 'not yet due');
    assert.ok(!(await store.dueForExpiry(now + 10)).includes('b5'));
    assert.ok((await store.dueForExpiry(now + 1000)).includes('b5'));
    assert.equal((await store.claim('b5', 'u1', 'late', now + 1000)).kind, 'expired');
    assert.equal((await store.close('b5', 'expired', 'timer', now + 1000)).kind, 'ok');
    assert.ok(!(await store.dueForExpiry(now + 5000)).includes('b5'));
    assert.equal((await store.claim('nope', 'u1', 'x')).kind, 'gone');
  });
});

describe('GuildSettingsStore and PendingReplies', () => {
  it('keeps settings per guild, defaults for a new one', async () => {
    const store = new GuildSettingsStore(client(), 'test');
    assert.deepEqual(await store.get('g9'), DEFAULT_GUILD_SETTINGS);
    const next = await store.update('g9', (s) => ({ ...s, maxFrames: 12, blocklist: ['x'] }));
    assert.equal(next.maxFrames, 12);
    assert.equal((await store.get('g9')).maxFrames, 12);
    assert.equal((await store.get('g10')).maxFrames, DEFAULT_GUILD_SETTINGS.maxFrames);
    await store.reset('g9');
    assert.equal((await store.get('g9')).maxFrames, DEFAULT_GUILD_SETTINGS.maxFrames);
  });

  it('round-trips a pending reply and its delivery mark', async () => {
    const pending = new PendingReplies(client(), 'test');
    await pending.put({
      jobId: 'render-5',
      kind: 'loop',
      guildId: 'g',
      channelId: 'c',
      requesterId: 'u',
      contributors: ['u'],
      prompts: [{ text: 'p', contributorId: 'u' }],
      settings: { seed: 3, frames: 4 },
      maxBytes: 100,
      applicationId: 'a',
      interactionToken: 't',
      tokenExpiresAt: 5,
      createdAt: 1,
    });
    await pending.setMessageId('render-5', 'm1');
    await pending.dropToken('render-5');
    await pending.markDelivered('render-5', { via: 'channel', channelId: 'c', messageId: 'm2', at: 9 });
    const back = await pending.get('render-5');
    assert.equal(back?.messageId, 'm1');
    assert.equal(back?.interactionToken, undefined);
    assert.equal(back?.delivered?.messageId, 'm2');
    await pending.setMessageId('missing', 'm');
    assert.equal(await pending.get('missing'), undefined);
  });
});
