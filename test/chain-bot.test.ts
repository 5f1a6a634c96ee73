/**
 * The chain below the end-to-end flows: the job contract (2 to 8 stops, each with its member; a frame per stop
 * at least), the worker's engine request (a seamless loop, no ping-pong), the job's frames when a board
 * closes, the chain store in a real redis-server (a member's stop added, changed and taken out; the race for
 * the last stop has one winner across connections; moves and closes; expiry and cancel are every board's), and
 * the board and its modal with hostile stops at the maximum length, inside Discord's limits by both counts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { BoardStore, type NewBoard } from '../src/bot/boards/BoardStore.ts';
import { chainJobSettings } from '../src/bot/boards/ChainFlow.ts';
import { chainModal } from '../src/bot/boards/chainModal.ts';
import { ChainStore } from '../src/bot/boards/ChainStore.ts';
import { CustomIds } from '../src/bot/customIds.ts';
import { chainBoardView, parseMoveTarget } from '../src/bot/replies/chainViews.ts';
import { buildJobSpec, DEFAULT_JOBS_CONFIG, SubmitRefusedError, type SubmitRequest } from '../src/jobs/index.ts';
import { validateMessageBody, validateModal } from '../src/local-discord/validate.ts';
import { toEngineRequest } from '../src/worker/request.ts';
import { FuzzText, FUZZ_SEED } from './harness/fuzz.ts';
import { TestRedis } from './harness/redis.ts';

const limits = DEFAULT_JOBS_CONFIG.limits;
const stops = (n: number) => Array.from({ length: n }, (_, i) => ({ text: `stop ${i + 1}`, contributorId: `10${i}` }));
const request = (n: number, settings: SubmitRequest['settings'] = {}): SubmitRequest => ({
  kind: 'chain',
  prompts: stops(n),
  settings,
  guildId: 'g',
  channelId: 'c',
  requesterId: '100',
  reply: { via: 'cli' },
});

describe('the chain job', () => {
  it('takes 2 to 8 stops, each with its member, and at least one frame per stop', () => {
    const spec = buildJobSpec(request(8, { frames: 16 }), limits);
    assert.equal(spec.kind, 'chain');
    assert.deepEqual(spec.prompts.map((p) => p.contributorId), ['100', '101', '102', '103', '104', '105', '106', '107']);
    assert.equal(spec.settings.smooth, 'blend', "the engine's default smoothing on every leg");
    const refused = (n: number, settings: SubmitRequest['settings'], pattern: RegExp) =>
      assert.throws(() => buildJobSpec(request(n, settings), limits), (e: unknown) => e instanceof SubmitRefusedError && pattern.test(e.message));
    refused(1, {}, /prompts: a chain takes 2 to 8 prompts, got 1/);
    refused(9, {}, /prompts/);
    refused(4, { frames: 3 }, /settings\.frames: a chain of 4 stops needs at least 4 frames \(one per stop\), got 3/);
    refused(2, { stepSize: 0.1 }, /stepSize only applies to walks/);
    refused(2, { format: 'png' }, /a chain is an animation: gif/);
  });

  it('renders as one seamless loop: the stops in order, no ping-pong, the pack\'s frames per leg unless the job says', () => {
    const defaults = { fps: 10, frames: 16, displayScale: 4 };
    const sized = toEngineRequest(buildJobSpec(request(3, { frames: 12, rubberBand: true }), limits), defaults);
    assert.deepEqual(sized.walk, { kind: 'chain', prompts: ['stop 1', 'stop 2', 'stop 3'], frames: 12 });
    assert.equal(sized.encode.rubberBand, false, 'a chain comes back to its start by itself');
    assert.equal(sized.framesTotal, 12);
    assert.equal(toEngineRequest(buildJobSpec(request(3), limits), defaults).framesTotal, 48);
  });

  it('a closed board asks for 8 frames per stop, at least one per stop, within the server\'s frames', () => {
    assert.equal(chainJobSettings({ seed: 1 }, 3, 60).frames, 24);
    assert.equal(chainJobSettings({ seed: 1 }, 8, 24).frames, 24);
    assert.equal(chainJobSettings({ seed: 1, frames: 6 }, 3, 60).frames, 6);
    assert.equal(chainJobSettings({ seed: 1, frames: 4 }, 6, 60).frames, 6, 'every stop is a frame');
  });
});

describe('the chain store', () => {
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

  const chain = (id: string, overrides: Partial<NewBoard> = {}): NewBoard => ({
    id,
    kind: 'chain',
    guildId: 'g1',
    channelId: 'c1',
    starterId: 'starter',
    slots: ['first'],
    allowMultiple: false,
    maxStops: 4,
    ttlMs: 60_000,
    settings: { seed: 1 },
    maxBytes: 1 << 20,
    applicationId: 'app',
    interactionToken: 'token',
    tokenExpiresAt: Date.now() + 60_000,
    ...overrides,
  });

  it("adds, changes and takes out a member's one stop; the stops after it move up", async () => {
    const boards = new BoardStore(client(), 'test');
    const chains = new ChainStore(client(), boards);
    await boards.create(chain('c1'), 10);
    assert.equal((await chains.setStop('c1', 'bob', 'b')).kind, 'added');
    assert.equal((await chains.setStop('c1', 'carol', 'c "userId":"bob"')).kind, 'added');
    const changed = await chains.setStop('c1', 'bob', 'b2');
    assert.ok(changed.kind === 'changed' && changed.index === 1);
    // carol's text quotes bob's id: his stop is still found by its author, not by its text.
    const removed = await chains.setStop('c1', 'bob', undefined);
    assert.ok(removed.kind === 'removed' && removed.index === 1);
    assert.deepEqual(removed.board.slots.map((s) => s?.text), ['first', 'c "userId":"bob"']);
    assert.deepEqual((await chains.setStop('c1', 'bob', undefined)).kind, 'none');
    // The starter's stop from the command is theirs to change.
    const mine = await chains.setStop('c1', 'starter', 'first again');
    assert.ok(mine.kind === 'changed' && mine.index === 0);
  });

  it('the race for the last stop has one winner across connections, and the chain closes itself', async () => {
    const boards = new BoardStore(client(), 'test');
    await boards.create(chain('c2'), 10);
    const chains = () => new ChainStore(client(), new BoardStore(client(), 'test'));
    await chains().setStop('c2', 'u1', 'b');
    await chains().setStop('c2', 'u2', 'c');
    const results = await Promise.all(['u3', 'u4', 'u5', 'u6'].map((u) => chains().setStop('c2', u, `from ${u}`)));
    assert.equal(results.filter((r) => r.kind === 'complete').length, 1, JSON.stringify(results.map((r) => r.kind)));
    assert.equal(results.filter((r) => r.kind === 'closed' && r.status === 'complete').length, 3);
    const board = (await boards.get('c2'))!;
    assert.equal(board.status, 'complete');
    assert.equal(board.slots.length, 4);
    assert.ok(!(await boards.dueForExpiry(Date.now() + 120_000)).includes('c2'), 'off the expiry set');
  });

  it('moves a stop up, closes with two stops at least, and refuses changes once closed, cancelled or expired', async () => {
    const boards = new BoardStore(client(), 'test');
    const chains = new ChainStore(client(), boards);
    await boards.create(chain('c3', { maxStops: 8 }), 10);
    const tooFew = await chains.close('c3', 'starter');
    assert.deepEqual(tooFew, { kind: 'too-few', stops: 1 });
    await chains.setStop('c3', 'bob', 'b');
    await chains.setStop('c3', 'carol', 'c');
    const moved = await chains.moveUp('c3', 2);
    assert.ok(moved.kind === 'ok');
    assert.deepEqual(moved.board.slots.map((s) => s?.text), ['first', 'c', 'b']);
    assert.deepEqual(await chains.moveUp('c3', 3), { kind: 'no-stop', stops: 3 });
    assert.deepEqual(await chains.moveUp('c3', 0), { kind: 'no-stop', stops: 3 });
    const closed = await chains.close('c3', 'starter');
    assert.ok(closed.kind === 'ok' && closed.board.status === 'complete' && closed.board.closedBy === 'starter');
    assert.deepEqual(await chains.setStop('c3', 'dave', 'd'), { kind: 'closed', status: 'complete' });
    assert.deepEqual(await chains.moveUp('c3', 1), { kind: 'closed', status: 'complete' });

    await boards.create(chain('c4'), 10);
    await boards.close('c4', 'cancelled', 'starter');
    assert.deepEqual(await chains.setStop('c4', 'bob', 'b'), { kind: 'closed', status: 'cancelled' });
    const now = Date.now();
    await boards.create(chain('c5', { ttlMs: 1000 }), 10, now);
    assert.deepEqual(await chains.setStop('c5', 'bob', 'b', now + 2000), { kind: 'closed', status: 'expired' });
    assert.deepEqual(await chains.close('c5', 'starter', now + 2000), { kind: 'closed', status: 'expired' });
    assert.deepEqual(await chains.setStop('nope', 'bob', 'b'), { kind: 'gone' });
  });
});

describe(`the chain board with hostile stops (seed ${FUZZ_SEED})`, () => {
  it('stays inside Discord\'s limits by both counts, open or closed, and its modal is one Discord takes', () => {
    const fuzz = new FuzzText(FUZZ_SEED + 16);
    const ids = new CustomIds('chain-fuzz-secret-0123456789');
    const max = limits.maxPromptChars;
    for (let round = 0; round < 40; round++) {
      const n = fuzz.int(0, 8);
      // Every other stop has a picture whose name is as hostile as a prompt (emoji, zero-width, RTL).
      const slots = Array.from({ length: n }, (_, i) => ({
        text: fuzz.prompt(max),
        userId: `13000000000000000${10 + i}`,
        viaModal: i > 0,
        ...(i % 2 === 1 ? { image: { key: 'img-000000000000000000000000', bytes: 1, name: fuzz.prompt(200) } } : {}),
      }));
      for (const status of ['open', 'complete', 'cancelled', 'expired'] as const) {
        const board = {
          id: String(fuzz.int(1, 1e15)), kind: 'chain' as const, guildId: '1', channelId: '2', starterId: '1300000000000000010', slots,
          allowMultiple: false, maxStops: 8, status, createdAt: 0, expiresAt: 1_900_000_000_000, settings: { seed: 1 }, maxBytes: 10 << 20,
          applicationId: '9', tokenExpiresAt: 0, closedBy: '1300000000000000011',
        };
        const view = chainBoardView(ids, board);
        assert.ok(view.content.length <= 2000, `round ${round} ${status}: ${view.content.length} UTF-16 units`);
        assert.doesNotThrow(() => validateMessageBody({ content: view.content, components: view.components, allowed_mentions: view.allowedMentions }, [], 1 << 30));
        if (status === 'open') {
          // Every stop's number is on the board, and stops 2.. have a move button with a target that parses back.
          slots.forEach((_, i) => assert.ok(view.content.includes(`\n${i + 1}. “`), `stop ${i + 1} listed`));
          const moves = JSON.stringify(view.components).match(/Move \d up/g) ?? [];
          assert.equal(moves.length, Math.max(0, n - 1));
          const modal = chainModal(ids, board, slots[fuzz.int(0, Math.max(0, n - 1))]?.userId ?? 'x', max);
          assert.doesNotThrow(() => validateModal(modal), `round ${round}: Discord would refuse the modal`);
        } else {
          assert.equal(view.components.length, 0, `no buttons once ${status}`);
        }
      }
    }
    assert.deepEqual(parseMoveTarget('1234567890.3'), { boardId: '1234567890', index: 3 });
    assert.equal(parseMoveTarget('1234567890'), undefined);
  });
});
