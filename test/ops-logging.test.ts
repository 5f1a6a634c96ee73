/**
 * Structured logs: one JSON object per line with the service and the ids a line is about; the bot token never
 * appears, whether it sits in a message, a field, a field named like a secret, a child logger's fields or a
 * webhook URL; Redis passwords neither.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { createLogger as createBotLogger } from '../src/bot/log.ts';
import { createLogger } from '../src/ops/log.ts';

const TOKEN = 'MTE5.logging-test-token.0123456789abcdefghij';

function capture(): { stream: Writable; lines: () => Record<string, unknown>[]; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  return { stream, text: () => text, lines: () => text.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>) };
}

describe('logs', () => {
  it('are JSON lines with service, level, time and the ids', () => {
    const out = capture();
    const log = createLogger({ service: 'worker', level: 'debug', destination: out.stream, base: { workerId: 'gpu-1' } });
    log.info('job j1 started', { jobId: 'j1', guildId: 'g1', kind: 'morph', attempt: 1 });
    log.child({ jobId: 'j2', guildId: 'g2' }).warn('job j2 failed: out of memory');
    log.debug('details', { skipped: undefined, ok: true });
    const [first, second, third] = out.lines();
    assert.equal(first!['service'], 'worker');
    assert.equal(first!['level'], 'info');
    assert.match(String(first!['time']), /^\d{4}-\d\d-\d\dT/);
    assert.deepEqual([first!['workerId'], first!['jobId'], first!['guildId'], first!['kind'], first!['msg']], ['gpu-1', 'j1', 'g1', 'morph', 'job j1 started']);
    assert.deepEqual([second!['level'], second!['workerId'], second!['jobId'], second!['guildId']], ['warn', 'gpu-1', 'j2', 'g2']);
    assert.equal(third!['ok'], true);
    assert.ok(!('skipped' in third!));
  });

  it('never carry the token or a Redis password', () => {
    const out = capture();
    const log = createLogger({ service: 'bot', level: 'debug', token: TOKEN, destination: out.stream });
    log.info(`login with ${TOKEN}`, { header: `Bot ${TOKEN}`, note: `the token is ${TOKEN}.` });
    log.warn('webhook failed', { url: 'https://discord.com/api/v10/webhooks/123/aW50ZXJhY3Rpb24tdG9rZW4/messages/@original' });
    log.error('bad config', { token: 'some-other-secret-value', password: 'hunter2', redis: 'redis://default:s3cret@redis:6379' });
    log.child({ token: TOKEN, jobId: 'j1' }).info('child line');
    const text = out.text();
    for (const secret of [TOKEN, 'aW50ZXJhY3Rpb24tdG9rZW4', 'some-other-secret-value', 'hunter2', 's3cret']) {
      assert.ok(!text.includes(secret), `${secret} leaked: ${text}`);
    }
    const lines = out.lines();
    assert.equal(lines.length, 4);
    assert.match(String(lines[0]!['msg']), /login with \[token\]/);
    assert.equal(lines[2]!['token'], '[redacted]');
    assert.equal(lines[2]!['redis'], 'redis://***@redis:6379');
    assert.equal(lines[3]!['jobId'], 'j1');
  });

  it('the bot logger is the same logger with service "bot"', () => {
    const out = capture();
    createBotLogger({ level: 'info', token: TOKEN, destination: out.stream }).info(`ready as ${TOKEN}`, { guildId: 'g1' });
    const [line] = out.lines();
    assert.equal(line!['service'], 'bot');
    assert.equal(line!['guildId'], 'g1');
    assert.ok(!out.text().includes(TOKEN));
  });
});
