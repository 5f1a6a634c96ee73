/**
 * LocalDiscord's fidelity on text limits: it counts code points as Discord does (an emoji is one), and
 * answers a payload over any limit the bot can meet with 400 / 50035 "Invalid Form Body" naming the field:
 * message content, embed parts and total, button labels, custom ids, select menus, modal titles, labels,
 * descriptions, placeholders and values, command option bounds; and as Discord's client, it refuses option
 * values outside the registered min/max before the bot sees them. Raw REST, no discord.js in between.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { LocalDiscord, UserActionError } from '../src/local-discord/index.ts';

const TOKEN = 'limits-bot-token';
const GUILD = '1600000000000000100';
const GENERAL = '1600000000000000101';
const ALICE = '1600000000000000201';
const APP = '1600000000000000001';

let server: LocalDiscord;

before(async () => {
  server = await LocalDiscord.start({
    token: TOKEN,
    botUser: { id: APP, username: 'limits' },
    guilds: [{ id: GUILD, name: 'Limits', channels: [{ id: GENERAL, name: 'general' }], members: [{ id: ALICE, username: 'alice' }] }],
  });
});
after(async () => {
  await server?.close();
});

interface Answer {
  status: number;
  body: { code?: number; errors?: Record<string, unknown> };
}

async function call(method: string, path: string, body: unknown): Promise<Answer> {
  const res = await fetch(`${server.restUrl}/v10${path}`, {
    method,
    headers: { Authorization: `Bot ${TOKEN}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : {} };
}

const send = (body: unknown) => call('POST', `/channels/${GENERAL}/messages`, body);

/** 400 / 50035 with an `_errors` entry at `path` (dot-separated, as Discord nests them). */
function assertFormError(answer: Answer, path: string): void {
  assert.equal(answer.status, 400, JSON.stringify(answer.body));
  assert.equal(answer.body.code, 50035);
  let node: unknown = answer.body.errors;
  for (const key of path.split('.')) node = (node as Record<string, unknown> | undefined)?.[key];
  assert.ok((node as { _errors?: unknown[] } | undefined)?._errors?.length, `no error at ${path}: ${JSON.stringify(answer.body.errors)}`);
}

const emoji = (n: number) => '😀'.repeat(n);

describe('messages', () => {
  it('content: 2000 emoji pass (4000 UTF-16 units), 2001 do not', async () => {
    assert.equal((await send({ content: emoji(2000) })).status, 200);
    assertFormError(await send({ content: emoji(2001) }), 'content');
  });

  it('embeds: title, description, field name and value, footer, author and the 6000 total', async () => {
    assert.equal((await send({ embeds: [{ title: emoji(256), description: emoji(4096), footer: { text: emoji(1000) } }] })).status, 200);
    assertFormError(await send({ embeds: [{ title: emoji(257) }] }), 'embeds.0.title');
    assertFormError(await send({ embeds: [{ description: emoji(4097) }] }), 'embeds.0.description');
    assertFormError(await send({ embeds: [{ fields: [{ name: emoji(257), value: 'v' }] }] }), 'embeds.0.fields.0.name');
    assertFormError(await send({ embeds: [{ fields: [{ name: 'n', value: emoji(1025) }] }] }), 'embeds.0.fields.0.value');
    assertFormError(await send({ embeds: [{ fields: [{ name: 'n', value: '' }] }] }), 'embeds.0.fields.0.value');
    assertFormError(await send({ embeds: [{ footer: { text: emoji(2049) } }] }), 'embeds.0.footer.text');
    assertFormError(await send({ embeds: [{ author: { name: emoji(257) } }] }), 'embeds.0.author.name');
    const fields = (n: number) => Array.from({ length: 6 }, () => ({ name: 'n', value: emoji(n) }));
    assert.equal((await send({ embeds: [{ fields: fields(999) }] })).status, 200, '6 × 1000 code points = 6000');
    assertFormError(await send({ embeds: [{ title: 'x', fields: fields(999) }] }), 'embeds');
    assertFormError(await send({ embeds: [{ fields: Array.from({ length: 26 }, () => ({ name: 'n', value: 'v' })) }] }), 'embeds.0.fields');
  });

  it('components: button labels, custom ids, select placeholders and options', async () => {
    const row = (component: Record<string, unknown>) => ({ components: [{ type: 1, components: [component] }] });
    assert.equal((await send(row({ type: 2, style: 1, custom_id: 'a', label: emoji(80) }))).status, 200);
    assertFormError(await send(row({ type: 2, style: 1, custom_id: 'a', label: emoji(81) })), 'components.0.components.0.label');
    assertFormError(await send(row({ type: 2, style: 1, custom_id: 'x'.repeat(101), label: 'a' })), 'components.0.components.0.custom_id');
    const select = (extra: Record<string, unknown>) => row({ type: 3, custom_id: 's', options: [{ label: 'a', value: 'a' }], ...extra });
    assert.equal((await send(select({ placeholder: emoji(150) }))).status, 200);
    assertFormError(await send(select({ placeholder: emoji(151) })), 'components.0.components.0.placeholder');
    assertFormError(await send(select({ options: [{ label: emoji(101), value: 'a' }] })), 'components.0.components.0.options.0.label');
    assertFormError(await send(select({ options: [{ label: 'a', value: 'v'.repeat(101) }] })), 'components.0.components.0.options.0.value');
    assertFormError(await send(select({ options: [{ label: 'a', value: 'a', description: emoji(101) }] })), 'components.0.components.0.options.0.description');
    assertFormError(await send(select({ options: [] })), 'components.0.components.0.options');
    assertFormError(await send(select({ max_values: 26 })), 'components.0.components.0.max_values');
  });
});

describe('modals', () => {
  async function showModal(data: Record<string, unknown>): Promise<Answer> {
    const handle = await server.slashCommand({ guildId: GUILD, channelId: GENERAL, userId: ALICE, name: 'probe' });
    return call('POST', `/interactions/${handle.interactionId}/${handle.token}/callback`, { type: 9, data });
  }
  const input = (extra: Record<string, unknown> = {}) => ({ type: 4, custom_id: 'p', style: 2, ...extra });
  const modal = (label: Record<string, unknown> = {}, inner: Record<string, unknown> = {}, title = 'T') => ({
    custom_id: 'm',
    title,
    components: [{ type: 18, label: 'L', component: input(inner), ...label }],
  });

  before(async () => {
    await call('PUT', `/applications/${APP}/commands`, [{ name: 'probe', description: 'probe', type: 1 }]);
  });

  it('title, label, description, placeholder, value and lengths are counted in code points', async () => {
    assert.equal((await showModal(modal({ label: emoji(45), description: emoji(100) }, { placeholder: emoji(100), value: emoji(4000) }, emoji(45)))).status, 204);
    assertFormError(await showModal(modal({}, {}, emoji(46))), 'data.title');
    assertFormError(await showModal(modal({ label: emoji(46) })), 'data.components.0.label');
    assertFormError(await showModal(modal({ description: emoji(101) })), 'data.components.0.description');
    assertFormError(await showModal(modal({}, { placeholder: emoji(101) })), 'data.components.0.component.placeholder');
    assertFormError(await showModal(modal({}, { value: emoji(4001) })), 'data.components.0.component.value');
    assertFormError(await showModal(modal({}, { max_length: 4001 })), 'data.components.0.component.max_length');
    assertFormError(await showModal({ ...modal(), custom_id: 'x'.repeat(101) }), 'data.custom_id');
  });

  it('a submitted value is measured as Discord\'s client measures it', async () => {
    assert.equal((await showModal(modal({}, { max_length: 5 }))).status, 204);
    await assert.rejects(server.submitModal({ customId: 'm', userId: ALICE, fields: { p: emoji(6) } }), UserActionError);
    await server.submitModal({ customId: 'm', userId: ALICE, fields: { p: emoji(5) } });
  });
});

describe('commands', () => {
  const command = (option: Record<string, unknown>) => [{ name: 'walk', description: 'w', options: [{ name: 'o', description: 'd', ...option }] }];
  const put = (body: unknown) => call('PUT', `/applications/${APP}/guilds/${GUILD}/commands`, body);

  it('refuses impossible option bounds at registration', async () => {
    assertFormError(await put(command({ type: 3, max_length: 6001 })), '0.options.0.max_length');
    assertFormError(await put(command({ type: 3, min_length: 10, max_length: 5 })), '0.options.0.min_length');
    assertFormError(await put(command({ type: 4, min_value: 10, max_value: 5 })), '0.options.0.min_value');
    assertFormError(await put(command({ type: 4, max_length: 5 })), '0.options.0.max_length');
    assertFormError(await put(command({ type: 3, choices: [{ name: emoji(101), value: 'a' }] })), '0.options.0.choices.0.name');
  });

  it('refuses option values outside the registered bounds, as Discord\'s client does', async () => {
    const body = [
      {
        name: 'walk',
        description: 'w',
        options: [
          { type: 3, name: 'prompt', description: 'p', required: true, min_length: 1, max_length: 5 },
          { type: 4, name: 'frames', description: 'f', min_value: 2, max_value: 60 },
          { type: 10, name: 'guidance', description: 'g', min_value: 0, max_value: 30 },
        ],
      },
    ];
    assert.equal((await put(body)).status, 200);
    const walk = (options: { name: string; value: string | number }[]) =>
      server.slashCommand({ guildId: GUILD, channelId: GENERAL, userId: ALICE, name: 'walk', options });
    await walk([{ name: 'prompt', value: emoji(5) }, { name: 'frames', value: 60 }, { name: 'guidance', value: 30 }]);
    await assert.rejects(walk([{ name: 'prompt', value: emoji(6) }]), /at most 5 characters/);
    await assert.rejects(walk([{ name: 'prompt', value: 'a' }, { name: 'frames', value: 61 }]), /at most 60/);
    await assert.rejects(walk([{ name: 'prompt', value: 'a' }, { name: 'frames', value: 1 }]), /at least 2/);
    await assert.rejects(walk([{ name: 'prompt', value: 'a' }, { name: 'guidance', value: 30.5 }]), /at most 30/);
  });
});
