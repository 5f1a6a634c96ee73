/**
 * The caps under bursts, against a real redis-server: the member-in-guild, user, guild and bot-wide caps are
 * checked and written in one step, so any number of simultaneous submits (or held places for requests still
 * being acknowledged) get exactly what the caps leave; a held place is filled by its submit, given back, or
 * expires when its holder dies.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { JobsConfigOverrides } from '../src/jobs/config.ts';
import type { SubmitRequest } from '../src/jobs/contract.ts';
import { SubmitRefusedError } from '../src/jobs/errors.ts';
import { JobProducer } from '../src/jobs/producer.ts';
import { TestRedis, testJobsConfig } from './harness/redis.ts';

let server: TestRedis;
const producers: JobProducer[] = [];

before(async () => {
  server = await TestRedis.start();
});
after(async () => {
  for (const producer of producers) await producer.close();
  await server.stop();
});

async function producer(overrides: JobsConfigOverrides['caps']): Promise<JobProducer> {
  const p = await JobProducer.connect(testJobsConfig(server, { caps: { perGuild: 100, perUser: 100, total: 1000, ...overrides } }));
  producers.push(p);
  return p;
}

function loop(guildId: string, userId: string, jobId?: string): SubmitRequest {
  return {
    kind: 'loop',
    prompts: [{ text: 'a kite', contributorId: userId }],
    settings: { frames: 2 },
    guildId,
    channelId: `${guildId}-ch`,
    requesterId: userId,
    reply: {},
    ...(jobId ? { jobId } : {}),
  };
}

/** Runs them all at once; returns how many succeeded and the refusal reasons. */
async function burst(calls: (() => Promise<unknown>)[]): Promise<{ ok: number; refused: string[] }> {
  const settled = await Promise.allSettled(calls.map((call) => call()));
  const refused = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected').map((s) => {
    assert.ok(s.reason instanceof SubmitRefusedError, String(s.reason));
    return s.reason.reason;
  });
  return { ok: settled.length - refused.length, refused };
}

describe('caps under a burst', () => {
  test('30 simultaneous submits: exactly the member, user, guild and bot-wide caps get in', async () => {
    const p = await producer({ perUser: 3, perGuild: 5, total: 7 });
    const member = await burst(Array.from({ length: 30 }, () => () => p.submit(loop('G1', 'u1'), { memberCap: 2 })));
    assert.deepEqual([member.ok, new Set(member.refused)], [2, new Set(['MEMBER_CAP'])]);
    const user = await burst(Array.from({ length: 30 }, (_, i) => () => p.submit(loop(`G${2 + (i % 5)}`, 'u2'))));
    assert.deepEqual([user.ok, new Set(user.refused)], [3, new Set(['USER_CAP'])]);
    const guild = await burst(Array.from({ length: 30 }, (_, i) => () => p.submit(loop('G7', `g${i}`))));
    assert.equal(guild.ok, 2, 'the bot-wide cap (7) leaves 2 after 5 jobs'); // 2 + 3 already queued
    assert.deepEqual(new Set(guild.refused), new Set(['QUEUE_FULL']));
    assert.equal((await p.list({ limit: 100 })).length, 7);
  });

  test('the guild cap holds under a burst from many members', async () => {
    const p = await producer({ perGuild: 5 });
    const guild = await burst(Array.from({ length: 30 }, (_, i) => () => p.submit(loop('G', `m${i}`))));
    assert.deepEqual([guild.ok, new Set(guild.refused)], [5, new Set(['GUILD_CAP'])]);
  });

  test('held places count like jobs, are filled by their submit, given back, or expire with their holder', async () => {
    const p = await producer({ perUser: 100 });
    const holds = await burst(Array.from({ length: 20 }, (_, i) => () => p.hold({ holdId: `render-${i}`, guildId: 'G', userId: 'u', memberCap: 2 }, 60_000)));
    assert.deepEqual([holds.ok, new Set(holds.refused)], [2, new Set(['MEMBER_CAP'])]);
    // Without a held place, a submit is refused; the held ones are filled without checking again.
    await assert.rejects(p.submit(loop('G', 'u', 'render-x'), { memberCap: 2 }), (e: unknown) => e instanceof SubmitRefusedError && e.reason === 'MEMBER_CAP');
    const held = (await Promise.allSettled(Array.from({ length: 20 }, (_, i) => p.submit(loop('G', 'u', `render-${i}`), { memberCap: 2 })))).filter((s) => s.status === 'fulfilled');
    assert.equal(held.length, 2);
    assert.equal((await p.list({ guildId: 'G' })).length, 2);

    // Given back: the place is free again at once.
    const q = await producer({});
    await q.hold({ holdId: 'a', guildId: 'H', userId: 'v', memberCap: 1 }, 60_000);
    await assert.rejects(q.hold({ holdId: 'b', guildId: 'H', userId: 'v', memberCap: 1 }, 60_000), SubmitRefusedError);
    await q.releaseHold('a', 'H', 'v');
    await q.hold({ holdId: 'b', guildId: 'H', userId: 'v', memberCap: 1 }, 200);
    // Its holder died (no submit, no release): after its time another request gets the place.
    await assert.rejects(q.hold({ holdId: 'c', guildId: 'H', userId: 'v', memberCap: 1 }, 60_000), SubmitRefusedError);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await q.hold({ holdId: 'c', guildId: 'H', userId: 'v', memberCap: 1 }, 60_000);
    // The late submit of the expired hold is checked again, and refused: 'c' holds the place now.
    await assert.rejects(q.submit(loop('H', 'v', 'b'), { memberCap: 1 }), (e: unknown) => e instanceof SubmitRefusedError && e.reason === 'MEMBER_CAP');
    await q.submit(loop('H', 'v', 'c'), { memberCap: 1 });
  });
});
