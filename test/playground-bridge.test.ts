/**
 * The playground's server side and its message box, without a browser or a bot: the page's routes next to
 * LocalDiscord's on one port, the WebSocket pushes (ephemeral messages only to their member, modals to the
 * member they were opened for), the same-origin checks, and the slash-command text parser against the
 * commands the bot registers.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { registerCommands } from '../src/cli/register-commands.ts';
import { commandPayloads } from '../src/commands/index.ts';
import { DEFAULT_JOBS_CONFIG } from '../src/jobs/index.ts';
import { LocalDiscord } from '../src/local-discord/index.ts';
import { PlaygroundBridge } from '../src/playground/bridge.ts';
import { PLAYGROUND_BOT, PLAYGROUND_CHANNELS, PLAYGROUND_GUILD_ID, PLAYGROUND_MEMBERS, playgroundGuild } from '../src/playground/seed.ts';
import { analyze, buildCommand, optionHint, visibleCommands, type CommandDefinition } from '../src/playground/static/slash.js';

const TOKEN = 'playground-bridge-test-token.0123456789';
let discord: LocalDiscord;
let bridge: PlaygroundBridge;
let base: string;

before(async () => {
  bridge = new PlaygroundBridge({ guildId: PLAYGROUND_GUILD_ID });
  discord = await LocalDiscord.start({
    token: TOKEN,
    botUser: PLAYGROUND_BOT,
    guilds: [playgroundGuild()],
    onHttpRequest: (req, res) => bridge.handleHttp(req, res),
    onUpgrade: (req, socket, head) => bridge.handleUpgrade(req, socket, head),
  });
  bridge.attach(discord);
  base = discord.baseUrl;
  await registerCommands({ token: TOKEN, apiUrl: discord.restUrl, applicationId: PLAYGROUND_BOT.id }, DEFAULT_JOBS_CONFIG.limits, PLAYGROUND_GUILD_ID);
});

after(async () => {
  await bridge?.close();
  await discord?.close();
});

type Push = { t: string; [key: string]: unknown };

/** A page's socket as a member: every push it received, and a way to wait for the next of a kind. */
async function pageSocket(userId: string | null, origin?: string): Promise<{ ws: WebSocket; pushes: Push[]; next: (t: string, test?: (p: Push) => boolean) => Promise<Push> }> {
  const ws = new WebSocket(`${base.replace('http', 'ws')}/playground/ws`, origin ? { headers: { Origin: origin } } : {});
  const pushes: Push[] = [];
  const waiters: { t: string; test: (p: Push) => boolean; resolve: (p: Push) => void }[] = [];
  ws.on('message', (raw) => {
    const push = JSON.parse(raw.toString()) as Push;
    pushes.push(push);
    for (const waiter of [...waiters]) {
      if (waiter.t === push.t && waiter.test(push)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(push);
      }
    }
  });
  const next = (t: string, test: (p: Push) => boolean = () => true) =>
    new Promise<Push>((resolve, reject) => {
      const seen = pushes.find((p) => p.t === t && test(p));
      if (seen) return resolve(seen);
      waiters.push({ t, test, resolve });
      setTimeout(() => reject(new Error(`no ${t} push`)), 3000).unref();
    });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
  await next('hello');
  if (userId) {
    ws.send(JSON.stringify({ t: 'viewer', userId }));
    await next('snapshot', (p) => p.viewer === userId);
  }
  return { ws, pushes, next };
}

async function post(route: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: { interactionId?: string; delivered?: number; error?: string } }> {
  const response = await fetch(`${base}/playground/api/${route}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as { interactionId?: string; error?: string } };
}

/** What the bot would answer, through LocalDiscord's interaction callback route. */
async function respond(interactionId: string, body: unknown): Promise<void> {
  const token = discord.interactionResponse(interactionId)!.token;
  const response = await fetch(`${discord.restUrl}/v10/interactions/${interactionId}/${token}/callback`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  assert.equal(response.status, 204, await response.text());
}

describe('the playground server', () => {
  it('serves the page and its files on the same port as the Discord API, and nothing else from disk', async () => {
    const page = await fetch(`${base}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /text\/html/);
    assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    assert.match(await page.text(), /<script type="module" src="\/playground\/app\.js">/);
    for (const file of ['app.js', 'slash.js', 'markdown.js', 'style.css']) {
      const response = await fetch(`${base}/playground/${file}`);
      assert.equal(response.status, 200, file);
    }
    for (const path of ['/playground/../package.json', '/playground/%2e%2e/package.json', '/playground/slash.d.ts', '/playground/nope.js', '/elsewhere']) {
      assert.equal((await fetch(`${base}${path}`)).status, 404, path);
    }
    // LocalDiscord's own routes are untouched.
    const gateway = await fetch(`${discord.restUrl}/v10/gateway`);
    assert.equal(gateway.status, 200);
    const state = (await (await fetch(`${base}/playground/api/state`)).json()) as { guild: { channels: { name: string }[]; members: { username: string }[] }; commands: { name: string }[] };
    assert.deepEqual(state.guild.channels.map((c) => c.name), ['general', 'renders']);
    assert.deepEqual(state.guild.members.map((m) => m.username), ['alice', 'bob', 'carol', 'dave']);
    assert.ok(state.commands.some((c) => c.name === 'morph'));
  });

  it('turns page actions into interactions, and refuses what Discord would not offer', async () => {
    const ok = await post('slash', {
      userId: PLAYGROUND_MEMBERS.bob,
      channelId: PLAYGROUND_CHANNELS.general,
      name: 'morph',
      options: [{ name: 'from', value: 'a red circle' }, { name: 'frames', value: 8 }],
    });
    assert.equal(ok.status, 200);
    assert.equal(ok.body.delivered, 0, 'no bot connected in this test');
    const state = discord.interactionResponse(ok.body.interactionId!);
    assert.equal(state?.commandName, 'morph');
    assert.equal(state?.userId, PLAYGROUND_MEMBERS.bob);

    const tooMany = await post('slash', { userId: PLAYGROUND_MEMBERS.bob, channelId: PLAYGROUND_CHANNELS.general, name: 'morph', options: [{ name: 'from', value: 'x' }, { name: 'frames', value: 1000 }] });
    assert.equal(tooMany.status, 400);
    assert.match(tooMany.body.error!, /at most 60/);
    const unknown = await post('slash', { userId: PLAYGROUND_MEMBERS.bob, channelId: PLAYGROUND_CHANNELS.general, name: 'nope' });
    assert.match(unknown.body.error!, /not registered/);
    const stranger = await post('slash', { userId: '999', channelId: PLAYGROUND_CHANNELS.general, name: 'queue' });
    assert.equal(stranger.status, 400);
    assert.match(stranger.body.error!, /guild members/);
    // Another site cannot act through a browser that has the page open.
    const foreign = await post('slash', { userId: PLAYGROUND_MEMBERS.bob, channelId: PLAYGROUND_CHANNELS.general, name: 'queue' }, { Origin: 'http://evil.example' });
    assert.equal(foreign.status, 403);
    const form = await fetch(`${base}/playground/api/slash`, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: '{}' });
    assert.equal(form.status, 403);
    await assert.rejects(pageSocket(null, 'http://evil.example'), /403|Unexpected server response/);
  });

  it('pushes messages live; an ephemeral one only to its member; modals to the member they are for', async () => {
    const alice = await pageSocket(PLAYGROUND_MEMBERS.alice);
    const bob = await pageSocket(PLAYGROUND_MEMBERS.bob);
    const carol = await pageSocket(PLAYGROUND_MEMBERS.carol);

    const run = await post('slash', { userId: PLAYGROUND_MEMBERS.alice, channelId: PLAYGROUND_CHANNELS.general, name: 'queue' });
    await respond(run.body.interactionId!, { type: 4, data: { content: 'only for alice', flags: 64 } });
    const seen = await alice.next('message', (p) => (p.message as { content: string }).content === 'only for alice');
    assert.equal((seen.message as { meta: { visibleTo: string } }).meta.visibleTo, PLAYGROUND_MEMBERS.alice);
    await alice.next('ack', (p) => p.interactionId === run.body.interactionId);

    const open = await post('slash', { userId: PLAYGROUND_MEMBERS.bob, channelId: PLAYGROUND_CHANNELS.general, name: 'queue' });
    await respond(open.body.interactionId!, { type: 4, data: { content: 'for everyone <@' + PLAYGROUND_MEMBERS.bob + '>' } });
    await bob.next('message', (p) => (p.message as { content: string }).content.startsWith('for everyone'));
    await alice.next('message', (p) => (p.message as { content: string }).content.startsWith('for everyone'));
    assert.ok(!bob.pushes.some((p) => p.t === 'message' && (p.message as { content: string }).content === 'only for alice'), 'bob never gets alice’s ephemeral');

    // Switching member: the snapshot holds what that member sees.
    bob.ws.send(JSON.stringify({ t: 'viewer', userId: PLAYGROUND_MEMBERS.alice }));
    const snapshot = await bob.next('snapshot', (p) => p.viewer === PLAYGROUND_MEMBERS.alice);
    const general = (snapshot.channels as Record<string, { content: string }[]>)[PLAYGROUND_CHANNELS.general]!;
    assert.ok(general.some((m) => m.content === 'only for alice'));
    carol.ws.send(JSON.stringify({ t: 'viewer', userId: PLAYGROUND_MEMBERS.carol }));
    const carolView = await carol.next('snapshot', (p) => p.viewer === PLAYGROUND_MEMBERS.carol && p !== carol.pushes.find((q) => q.t === 'snapshot'));
    const carolGeneral = (carolView.channels as Record<string, { content: string }[]>)[PLAYGROUND_CHANNELS.general]!;
    assert.ok(!carolGeneral.some((m) => m.content === 'only for alice'));
    assert.ok(carolGeneral.some((m) => m.content.startsWith('for everyone')));

    // A modal reaches carol's page, and her submit goes back as a modal interaction.
    const click = await post('slash', { userId: PLAYGROUND_MEMBERS.carol, channelId: PLAYGROUND_CHANNELS.general, name: 'queue' });
    await respond(click.body.interactionId!, {
      type: 9,
      data: {
        custom_id: 'corner',
        title: 'Add a corner',
        components: [{ type: 18, label: 'Your prompt', component: { type: 4, custom_id: 'prompt', style: 2, required: true } }],
      },
    });
    const modal = await carol.next('modal');
    assert.equal((modal.modal as { modal: { title: string } }).modal.title, 'Add a corner');
    assert.ok(!alice.pushes.some((p) => p.t === 'modal'), 'not to alice');
    const submit = await post('modal', { userId: PLAYGROUND_MEMBERS.carol, customId: 'corner', fields: { prompt: 'a yellow star' } });
    assert.equal(submit.status, 200);
    assert.equal(discord.interactionResponse(submit.body.interactionId!)?.type, 5);
    const empty = await post('modal', { userId: PLAYGROUND_MEMBERS.carol, customId: 'corner', fields: { prompt: 'again' } });
    assert.match(empty.body.error!, /no modal/);

    for (const socket of [alice, bob, carol]) socket.ws.close();
  });
});

describe('the message box', () => {
  const commands: CommandDefinition[] = commandPayloads(DEFAULT_JOBS_CONFIG.limits).map((c) => ({ ...(c as unknown as CommandDefinition), type: 1 }));
  const ctx = {
    channels: [
      { id: PLAYGROUND_CHANNELS.general, name: 'general', type: 0 },
      { id: PLAYGROUND_CHANNELS.renders, name: 'renders', type: 0 },
    ],
    members: [{ id: PLAYGROUND_MEMBERS.bob, username: 'bob', globalName: 'Bob' }],
  };

  it('offers the commands a member may use, then the options with their hints', () => {
    const everyone = visibleCommands(commands, '0').map((c) => c.name);
    assert.ok(everyone.includes('morph') && !everyone.includes('settings'), 'settings needs Manage Server');
    assert.ok(visibleCommands(commands, (1n << 5n).toString()).some((c) => c.name === 'settings'));

    const list = analyze('/mo', 3, commands, ctx);
    assert.equal(list.kind, 'commands');
    assert.deepEqual(list.suggestions!.map((s) => s.label), ['/morph']);
    assert.match(list.suggestions![0]!.description, /Morph from one prompt/);

    const typing = analyze('/morph from:a red circle t', 26, commands, ctx);
    assert.equal(typing.kind, 'options');
    assert.equal(typing.active, 'from');
    assert.deepEqual(typing.suggestions!.map((s) => s.insert), ['to:']);

    const frames = commands.find((c) => c.name === 'morph')!.options!.find((o) => o.name === 'frames')!;
    assert.equal(optionHint(frames), 'whole number, 2–60');
    const action = commands.find((c) => c.name === 'settings')!.options!.find((o) => o.name === 'channels')!.options!.find((o) => o.name === 'action')!;
    assert.equal(optionHint(action), 'one of: allow, disallow, clear');

    const sub = analyze('/settings ch', 12, commands, ctx);
    assert.equal(sub.kind, 'subcommands');
    assert.deepEqual(sub.suggestions!.map((s) => s.label), ['channels']);
    const value = analyze('/settings channels action:allow channel:#re', 44, commands, ctx);
    assert.deepEqual(value.suggestions!.map((s) => s.label), ['#renders']);
  });

  it('builds the interaction options, checked as Discord checks them', () => {
    assert.deepEqual(buildCommand('/morph from:a red circle to:a blue square', commands, ctx), {
      ok: true,
      name: 'morph',
      options: [{ name: 'from', value: 'a red circle' }, { name: 'to', value: 'a blue square' }],
    });
    // Text before any option goes to the first required one; words with colons stay in a prompt.
    assert.deepEqual(buildCommand('/loop a clock at 12:30 steps:3', commands, ctx), {
      ok: true,
      name: 'loop',
      options: [{ name: 'prompt', value: 'a clock at 12:30' }, { name: 'steps', value: 3 }],
    });
    assert.deepEqual(buildCommand('/grid p1:x allow_multiple:yes grid_size:2', commands, ctx), {
      ok: true,
      name: 'grid',
      options: [{ name: 'p1', value: 'x' }, { name: 'grid_size', value: 2 }, { name: 'allow_multiple', value: true }],
    });
    assert.deepEqual(buildCommand('/settings channels action:Allow channel:#renders', commands, ctx), {
      ok: true,
      name: 'settings',
      options: [{ name: 'channels', options: [{ name: 'action', value: 'allow' }, { name: 'channel', value: PLAYGROUND_CHANNELS.renders }] }],
    });
    assert.deepEqual(buildCommand('/queue', commands, ctx), { ok: true, name: 'queue', options: [] });

    const fails: [string, RegExp][] = [
      ['/morph to:a blue square', /from is required/],
      ['/morph from:x frames:200', /frames must be at most 60/],
      ['/morph from:x frames:2.5', /frames must be a whole number/],
      ['/morph from:x from:y', /from is given twice/],
      ['/grid vary_latents:maybe', /true or false/],
      ['/settings channels action:nuke', /one of: allow, disallow, clear/],
      ['/settings', /needs one of: show, limits/],
      ['/nope', /not a command/],
      ['hello there', /Only slash commands/],
    ];
    for (const [text, error] of fails) {
      const built = buildCommand(text, commands, ctx);
      assert.equal(built.ok, false, text);
      if (!built.ok) assert.match(built.errors[0]!, error, text);
    }
  });
});
