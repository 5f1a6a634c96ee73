/**
 * Discord's rate limits with many results at once (harness/burst.ts): 300 /loop commands from 30 guilds x 2
 * channels, each first answered within Discord's 3 s while every REST call takes 150 ms more; then their 300
 * results finish within 10 s. All are posted, once each, in order per channel, with at most a few 429s and
 * nothing near Discord's ban threshold of 10,000 invalid requests in 10 minutes. Once through the interaction
 * tokens, once as channel messages with the bot token (the tokens ran out), where the channel buckets and the
 * global 50/s bite.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resultBurst, type BurstFigures } from './harness/burst.ts';

/** "A few": discord.js learns a bucket from its first answer, so a burst may meet a handful before it paces. */
const FEW_429S = 5;

function check(figures: BurstFigures): void {
  assert.equal(figures.queued, 300, 'every command answered with its status message');
  assert.equal(figures.firstResponse.over3s, 0, `first responses: p95 ${figures.firstResponse.p95} ms, max ${figures.firstResponse.max} ms`);
  assert.equal(figures.posted, 300);
  assert.equal(figures.postedTwice, 0);
  assert.deepEqual(figures.outOfOrder, [], 'channels with results out of order');
  assert.ok(figures.rateLimited <= FEW_429S, `${figures.rateLimited} 429s (${figures.globalLimited} global)`);
  assert.ok(figures.invalidLast10Min < 100, `${figures.invalidLast10Min} invalid requests in 10 minutes`);
}

function describeFigures(f: BurstFigures): string {
  return (
    `${f.via}: ${f.posted}/${f.commands} results posted in ${(f.drainMs / 1000).toFixed(1)} s from the first publish ` +
    `(${f.postsPerSecond.toFixed(1)} posts/s, published over ${(f.publishMs / 1000).toFixed(1)} s), ${f.requests} REST calls, ` +
    `${f.rateLimited} 429s (${f.globalLimited} global), ${f.invalidLast10Min} invalid in 10 min; first responses at ` +
    `+${f.latencyMs} ms latency: p50 ${f.firstResponse.p50} ms, p95 ${f.firstResponse.p95} ms, max ${f.firstResponse.max} ms`
  );
}

describe('300 results within 10 s across 60 channels, Discord\'s rate limits enforced, 150 ms per call', () => {
  it('through the interaction tokens: all posted, once, in order per channel, no 429 storm, commands answered within 3 s', async (t) => {
    const figures = await resultBurst({ via: 'interaction' });
    t.diagnostic(describeFigures(figures));
    check(figures);
  });

  it('as channel messages once the tokens ran out (bot token: channel buckets and the global 50/s)', async (t) => {
    const figures = await resultBurst({ via: 'channel' });
    t.diagnostic(describeFigures(figures));
    check(figures);
  });
});
