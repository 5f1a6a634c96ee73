/**
 * The playground end to end: `latentwalk playground` as a child process (private redis-server, a worker on
 * the bundled model, LocalDiscord with the page, the real bot as its own process), driven through the page by
 * Debian's chromium with playwright-core:
 * - `/morph from:A to:B` typed in the message box: the progress edits, then the GIF,
 *   which loads in the page and has more than one frame;
 * - the bot's autocomplete: the model's prompt suggestions listed as `/loop ` is typed, Tab picks one;
 * - `/loop ... format:mp4`: the MP4 result plays in a <video> element (Chromium decodes the H.264);
 * - a `/grid` board filled as four members (switching member, pressing the board's button, filling the modal),
 *   the grid credited to all four; the screenshot for the README (docs/playground.png);
 * - a `/chain` board filled by four members, a stop each: one looping GIF, each stop credited to its member;
 * - a live preview (an <img> of the newest frame) in a /loop's progress message before its GIF replaces it;
 *   the README's docs/previews.png;
 * - Cancel pressed on a running job (a long render), with the ephemeral answer seen only by its member;
 * - SIGINT stops the playground and every process it started.
 * The prompts are the default bundled pack's own suggestions (its latentwalk.json), so the test and the README's
 * screenshots follow DEFAULT_BUNDLED_PACK.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import sharp from 'sharp';
import { DEFAULT_PACK, packPrompts } from './harness/packs.ts';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const CHROMIUM = process.env['LATENTWALK_CHROMIUM'] ?? '/usr/bin/chromium';
// The README's screenshot is rewritten only on request (LATENTWALK_SCREENSHOT=1), so a test run leaves the tree clean.
const SCREENSHOT = process.env['LATENTWALK_SCREENSHOT'] === '1' ? join(REPO_ROOT, 'docs/playground.png') : join(tmpdir(), `latentwalk-playground-${process.pid}.png`);
const PREVIEW_SCREENSHOT = process.env['LATENTWALK_SCREENSHOT'] === '1' ? join(REPO_ROOT, 'docs/previews.png') : join(tmpdir(), `latentwalk-previews-${process.pid}.png`);
// The playground runs the default pack: prompts it knows, in the order the steps below use them.
const [P0, P1, P2, P3, P4] = packPrompts(DEFAULT_PACK.dir, 5) as [string, string, string, string, string];
const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const noChromium = existsSync(CHROMIUM) ? false : `no ${CHROMIUM} (apt-get install chromium, or set LATENTWALK_CHROMIUM)`;

let child: ChildProcess;
let output = '';
let url: string;
let browser: Browser | undefined;
let page: Page;
const pageErrors: string[] = [];

before(async () => {
  const env: NodeJS.ProcessEnv = { ...process.env };
  // Its own redis-server, as `npm run playground` on a machine without REDIS_URL.
  delete env['REDIS_URL'];
  // Room for a render long enough to cancel part-way (the bundled model renders a 64x64 frame step in ms).
  env['LATENTWALK_MAX_STEPS'] = '200';
  // The default model, as `npm run playground` runs it; the prompts below are its own suggestions.
  child = spawn(process.execPath, [join(REPO_ROOT, 'bin/latentwalk.js'), 'playground', '--port', '0'], {
    cwd: REPO_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  url = await until('the playground URL', () => /ready: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(output)?.[1], 90_000, () => child.exitCode !== null);
  assert.equal(output.match(/http:\/\/\S+/g)?.length, 1, `one URL printed:\n${output}`);
});

after(async () => {
  await browser?.close().catch(() => undefined);
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGKILL');
    for (const pid of descendants(child.pid!)) killQuietly(pid.pid);
  }
});

describe('the playground page', { skip: noChromium, timeout: 300_000 }, () => {
  before(async () => {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 860 }, deviceScaleFactor: 1 });
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error') pageErrors.push(message.text());
    });
    await page.goto(`${url}?as=alice`);
    await page.locator('[data-member="alice"].active').waitFor();
    await page.locator('.status-row.ok', { hasText: 'bot online' }).waitFor();
    await page.locator('.status-row.ok', { hasText: /worker ready · model \w+/ }).waitFor();
  });

  it('runs /morph typed in the message box: progress, then the animated GIF', async () => {
    await recordContents();
    const input = page.locator('#input');
    await input.click();
    await input.pressSequentially('/mor');
    // The command list offers /morph with its description.
    await page.locator('#popup .popup-item', { hasText: '/morph' }).filter({ hasText: 'Morph from one prompt to another' }).waitFor();
    // Stop mid-word in the second prompt: the option bar shows while an option is being typed.
    await input.pressSequentially(`ph from:${P0} to:${P1.slice(0, -2)}`);
    // After choosing it, the options the bot registered, with their hints.
    await page.locator('#option-bar .option-chip.required[data-option="from"]').waitFor();
    await page.locator('#option-bar .option-chip[data-option="frames"]').waitFor();
    assert.match(await page.locator('#option-bar .option-detail').innerText(), /to.*Where it ends/s);
    await input.pressSequentially(P1.slice(-2));
    await input.press('Enter');

    const message = page.locator('.message', { has: page.locator('.reply-command', { hasText: '/morph' }) }).last();
    await message.locator('.reply-name', { hasText: 'Alice' }).waitFor();
    const img = message.locator('.embed-image img');
    await img.waitFor({ timeout: 150_000 });
    const seen = await seenContents();
    assert.ok(seen.some((text) => /🎨 Rendering/.test(text) && /[▰▱]+/.test(text) && /\d+\/\d+ frames/.test(text)), `progress shown: ${JSON.stringify(seen)}`);
    assert.match(await message.locator('.message-content').innerText(), new RegExp(`✅ morph from “${escapeRegExp(P0)}” to “${escapeRegExp(P1)}”`));

    const gif = await loadedImage(img);
    assert.equal(gif.format, 'gif');
    assert.ok((gif.pages ?? 0) > 1, `an animated GIF (${gif.pages} frames)`);
    assert.match(await message.locator('[data-field="Contributors"] .embed-field-value').innerText(), /@Alice/);
  });

  it('offers the running model\'s prompt suggestions as a prompt is typed (Discord autocomplete)', async () => {
    const input = page.locator('#input');
    await input.click();
    await input.fill('');
    await input.pressSequentially('/loop ');
    const popup = page.locator('#popup');
    await popup.locator('.popup-title', { hasText: 'Suggestions from latentwalk' }).waitFor();
    const first = (await popup.locator('.popup-item .popup-label').first().innerText()).trim();
    assert.ok(first.length > 0);
    await input.press('Tab');
    assert.equal(await input.inputValue(), `/loop ${first} `);
    await input.fill('');
  });

  it('fills a /grid board as four members and credits all four', async () => {
    const input = page.locator('#input');
    await input.click();
    await input.pressSequentially(`/grid p1:${P0} grid_size:2`);
    await input.press('Enter');
    const board = page.locator('.message', { has: page.locator('.reply-command', { hasText: '/grid' }) }).last();
    await board.locator('.button', { hasText: 'Add a corner (3 open)' }).waitFor();
    const boardId = await board.getAttribute('data-message-id');
    assert.ok(boardId);
    const boardById = page.locator(`.message[data-message-id="${boardId}"]`);

    const corners = [
      ['bob', 'Bob', P1],
      ['carol', 'Carol', P2],
      ['dave', 'Dave', P3],
    ] as const;
    for (const [username, name, prompt] of corners) {
      await page.locator(`[data-member="${username}"]`).click();
      await page.locator(`[data-member="${username}"].active`).waitFor();
      await page.locator('.member.me', { hasText: name }).waitFor();
      await boardById.locator('.button', { hasText: 'Add a corner' }).click();
      const modal = page.locator('.modal');
      await modal.locator('.modal-title', { hasText: 'Add a corner to the grid' }).waitFor();
      await modal.locator('.modal-input').fill(prompt);
      await modal.locator('.modal-submit').click();
      await modal.waitFor({ state: 'detached' });
      await boardById.locator('.message-content', { hasText: prompt }).waitFor();
    }

    const img = boardById.locator('.embed-image img');
    await img.waitFor({ timeout: 150_000 });
    const contributors = await boardById.locator('[data-field="Contributors"] .embed-field-value').innerText();
    for (const name of ['Alice', 'Bob', 'Carol', 'Dave']) assert.ok(contributors.includes(`@${name}`), `${name} credited: ${contributors}`);
    assert.equal((await loadedImage(img)).format, 'png');

    // The README's picture: the channel with the morph and the grid, as alice.
    await page.locator('[data-member="alice"]').click();
    await boardById.locator('.embed-image img').waitFor();
    await loadedImage(boardById.locator('.embed-image img'));
    await page.locator('#messages').evaluate((node) => {
      const box = node as unknown as { scrollTop: number; scrollHeight: number };
      box.scrollTop = box.scrollHeight;
    });
    // Tall enough for both results, the way the channel looks on a big screen.
    const toBottom = () =>
      page.locator('#messages').evaluate((node) => {
        const box = node as unknown as { scrollTop: number; scrollHeight: number };
        box.scrollTop = box.scrollHeight;
      });
    const morphMessage = page.locator('.message', { has: page.locator('.reply-command', { hasText: '/morph' }) }).last();
    await page.setViewportSize({ width: 1280, height: 1200 });
    await toBottom();
    const top = (await morphMessage.boundingBox())?.y ?? 0;
    await page.setViewportSize({ width: 1280, height: Math.min(2000, Math.max(860, Math.round(1200 + 64 - top))) });
    await toBottom();
    mkdirSync(join(REPO_ROOT, 'docs'), { recursive: true });
    await page.screenshot({ path: SCREENSHOT });
    await page.setViewportSize({ width: 1280, height: 860 });
    assert.equal((await sharp(SCREENSHOT).metadata()).width, 1280);
  });

  it('fills a /chain board as four members, one stop each, and credits each with their stop', async () => {
    await page.locator('[data-member="alice"]').click();
    await page.locator('.member.me', { hasText: 'Alice' }).waitFor();
    const input = page.locator('#input');
    await input.click();
    await input.pressSequentially(`/chain prompt:${P0} stops:4 frames:8`);
    await input.press('Enter');
    const board = page.locator('.message', { has: page.locator('.reply-command', { hasText: '/chain' }) }).last();
    await board.locator('.message-content', { hasText: '1 of 4 stops' }).waitFor();
    const boardById = page.locator(`.message[data-message-id="${await board.getAttribute('data-message-id')}"]`);
    const stops = [
      ['bob', 'Bob', P1],
      ['carol', 'Carol', P2],
      ['dave', 'Dave', P3],
    ] as const;
    for (const [username, name, prompt] of stops) {
      await page.locator(`[data-member="${username}"]`).click();
      await page.locator('.member.me', { hasText: name }).waitFor();
      await boardById.locator('.button', { hasText: 'Add or change your stop' }).click();
      const modal = page.locator('.modal');
      await modal.locator('.modal-title', { hasText: 'Your stop on the chain' }).waitFor();
      // The stop's words (the form also has a picture and how much of it to redraw, both optional).
      await modal.locator('.modal-input[name="prompt"]').fill(prompt);
      await modal.locator('.modal-submit').click();
      await modal.waitFor({ state: 'detached' });
      await boardById.locator('.message-content', { hasText: prompt }).waitFor();
    }
    const img = boardById.locator('.embed-image img');
    await img.waitFor({ timeout: 60_000 });
    const gif = await loadedImage(img);
    assert.equal(gif.format, 'gif');
    assert.equal(gif.pages, 8, 'a loop through the four stops, no ping-pong');
    const stopField = (n: number) => boardById.locator(`[data-field="Stop ${n}"] .embed-field-value`).innerText();
    for (const [n, text, name] of [[1, P0, 'Alice'], [2, P1, 'Bob'], [3, P2, 'Carol'], [4, P3, 'Dave']] as const) {
      assert.match(await stopField(n), new RegExp(`${escapeRegExp(text)}.*@${name}`));
    }
  });

  it('plays an MP4 result inline: /loop format:mp4 shows a looping video element that decodes and advances', async () => {
    await page.locator('[data-member="alice"]').click();
    await page.locator('[data-member="alice"].active').waitFor();
    const input = page.locator('#input');
    await input.click();
    await input.pressSequentially(`/loop prompt:${P3} frames:6 format:mp4`);
    await input.press('Enter');
    const message = page.locator('.message', { has: page.locator('.reply-command', { hasText: '/loop' }) }).last();
    const player = message.locator('video.attachment-video');
    await player.waitFor({ timeout: 60_000 });
    assert.equal(await message.locator('.embed-image img').count(), 0, 'the video is not an embed image');
    // Chromium decodes the H.264 stream: frames arrive and playback time moves on.
    const playing = await until('the video to play', async () => {
      const s = await player.evaluate((node) => {
        const v = node as unknown as { readyState: number; currentTime: number; videoWidth: number; error: { message: string } | null; loop: boolean; src: string };
        return { readyState: v.readyState, time: v.currentTime, width: v.videoWidth, error: v.error?.message ?? null, loop: v.loop, src: v.src };
      });
      assert.equal(s.error, null, `video error: ${s.error}`);
      return s.readyState >= 2 && s.time > 0 && s.width > 0 ? s : undefined;
    }, 20_000);
    assert.equal(playing.loop, true);
    const response = await fetch(new URL(playing.src, url));
    assert.equal(response.headers.get('content-type'), 'video/mp4');
    const { readMp4 } = await import('./harness/mp4.ts');
    const info = readMp4(new Uint8Array(await response.arrayBuffer()));
    assert.equal(info.codec, 'avc1');
    assert.equal(info.width, playing.width);
  });

  it('attaches a picture with 📎 for /morph image:: uploaded through the local Discord server, it reaches the worker', async () => {
    await page.locator('[data-member="alice"]').click();
    await page.locator('[data-member="alice"].active').waitFor();
    const W = 64;
    const raw = new Uint8Array(W * W * 3);
    for (let i = 0; i < W * W; i++) raw.set([40 + (i % W) * 3, 200 - Math.floor(i / W) * 2, 120], i * 3);
    const photo = await sharp(raw, { raw: { width: W, height: W, channels: 3 } }).png().toBuffer();
    await page.locator('#attach-file').setInputFiles({ name: 'photo.png', mimeType: 'image/png', buffer: photo });
    await page.locator('#attached', { hasText: 'photo.png' }).waitFor();
    const input = page.locator('#input');
    await input.click();
    await input.pressSequentially(`/morph from:${P0} to:${P1} frames:3 strength:0.25`);
    await input.press('Enter');
    const morphs = page.locator('.message', { has: page.locator('.reply-command', { hasText: '/morph' }) });
    if (existsSync(join(DEFAULT_PACK.dir, 'vae_encoder', 'model.onnx'))) {
      // The picture went all the way: the bot downloaded it from the local CDN, the worker encoded it with the
      // model's vae_encoder, and the result says it started from it.
      const message = morphs.filter({ hasText: 'photo.png' }).last();
      await message.locator('.embed-image img').waitFor({ timeout: 150_000 });
      assert.match(await message.locator('.message-content').innerText(), /✅ morph/);
      assert.match(await message.locator('[data-field="Started from"] .embed-field-value').innerText(), /photo\.png.*strength 0\.25/);
    } else {
      // A model without a vae_encoder: the worker, having read the picture the bot downloaded from the local
      // CDN, refuses it by name: the file went all the way.
      const message = morphs.filter({ hasText: 'vae_encoder' }).last();
      await message.waitFor({ timeout: 120_000 });
      assert.match(await message.locator('.message-content').innerText(), /has no vae_encoder; image input needs a pack exported with its VAE encoder/);
    }
    assert.equal(await page.locator('#attached').isHidden(), true, 'the file is used once');
    // A command without a file option refuses the picked file in the composer, before anything is sent.
    await page.locator('#attach-file').setInputFiles({ name: 'photo.png', mimeType: 'image/png', buffer: photo });
    await input.click();
    await input.pressSequentially(`/loop prompt:${P2}`);
    await input.press('Enter');
    await page.locator('#composer-error', { hasText: '/loop takes no file' }).waitFor();
    await page.locator('#attached-remove').click();
    await input.fill('');
  });

  it('shows a live preview in the progress message, then the GIF in its place', async () => {
    await page.locator('[data-member="alice"]').click();
    await page.locator('.member.me', { hasText: 'Alice' }).waitFor();
    await page.evaluate(`(() => {
      window.__previews = [];
      const record = () => {
        for (const node of document.querySelectorAll('.message[data-message-id]')) {
          window.__previews.push({
            id: node.getAttribute('data-message-id'),
            text: node.querySelector('.message-content')?.innerText ?? '',
            previews: [...node.querySelectorAll('.attachments img')].map((img) => img.getAttribute('src')),
            results: node.querySelectorAll('.embed-image img').length,
          });
        }
      };
      new MutationObserver(record).observe(document.getElementById('messages-inner'), { childList: true, subtree: true, characterData: true });
    })()`);
    const input = page.locator('#input');
    await input.click();
    // Long enough for a few progress edits: 16 frames of 100 steps, several seconds here.
    await input.pressSequentially(`/loop prompt:${P2} frames:16 steps:100`);
    await input.press('Enter');
    const message = page.locator('.message', { has: page.locator('.reply-command', { hasText: '/loop' }) }).last();
    const preview = message.locator('.attachments img');
    await preview.waitFor({ timeout: 60_000 });
    const rendering = await message.locator('.message-content').innerText();
    const still = await loadedImage(preview);
    assert.equal(still.format, 'webp');
    if (/🎨 Rendering/.test(await message.locator('.message-content').innerText())) {
      const box = await message.boundingBox();
      assert.ok(box);
      await page.screenshot({ path: PREVIEW_SCREENSHOT, clip: { x: box.x, y: Math.max(0, box.y - 8), width: Math.min(760, box.width), height: box.height + 16 } });
    }
    assert.match(rendering, /🎨 Rendering/);

    const gif = message.locator('.embed-image img');
    await gif.waitFor({ timeout: 90_000 });
    assert.equal((await loadedImage(gif)).format, 'gif');
    assert.equal(await message.locator('.attachments img').count(), 0, 'the GIF replaced the preview');
    const id = await message.getAttribute('data-message-id');
    const seen = ((await page.evaluate('window.__previews')) as { id: string; text: string; previews: string[]; results: number }[]).filter((s) => s.id === id);
    assert.ok(seen.some((s) => /🎨 Rendering/.test(s.text) && s.previews.length === 1), 'an <img> preview while rendering');
    assert.ok(seen.every((s) => s.previews.length <= 1), 'never more than one preview');
    const firstResult = seen.findIndex((s) => s.results > 0);
    const lastPreview = seen.findLastIndex((s) => s.previews.length > 0);
    assert.ok(lastPreview >= 0 && lastPreview < firstResult, 'the preview came before the GIF, and not after');
  });

  it('cancels a running job with its Cancel button; the answer is only shown to its member', async () => {
    await page.locator('[data-member="carol"]').click();
    await page.locator('[data-channel="renders"]').click();
    await page.locator('#channel-name', { hasText: 'renders' }).waitFor();
    const input = page.locator('#input');
    await input.click();
    // Long enough to be rendering when the Cancel arrives: 24 frames of 200 steps, about 20 s here.
    await input.pressSequentially(`/walk prompt:${P4} frames:24 steps:200`);
    await input.press('Enter');
    const message = page.locator('.message', { has: page.locator('.reply-command', { hasText: '/walk' }) }).last();
    await message.locator('.message-content', { hasText: '🎨 Rendering' }).waitFor({ timeout: 30_000 });
    await message.locator('.button-danger', { hasText: 'Cancel' }).click();

    const answer = page.locator('.message.ephemeral', { hasText: /Stopping/ });
    await answer.waitFor();
    assert.match(await answer.locator('.ephemeral-note').innerText(), /Only you can see this/);
    await message.locator('.message-content', { hasText: '🛑 Cancelled by @Carol' }).waitFor({ timeout: 30_000 });
    assert.equal(await message.locator('.embed-image img').count(), 0);

    // bob sees the cancelled message but not carol's ephemeral answer.
    await page.locator('[data-member="bob"]').click();
    await page.locator('.member.me', { hasText: 'Bob' }).waitFor();
    await message.locator('.message-content', { hasText: '🛑 Cancelled' }).waitFor();
    // The page redraws the channel for the new member; wait for that redraw rather than count mid-way.
    await page.locator('.message.ephemeral', { hasText: /Stopping/ }).waitFor({ state: 'detached', timeout: 5_000 });
    assert.equal(await page.locator('.message.ephemeral', { hasText: /Stopping/ }).count(), 0);
  });

  it('showed no errors in the page', () => {
    assert.deepEqual(pageErrors, []);
  });
});

describe('stopping the playground', { timeout: 60_000 }, () => {
  it('SIGINT stops redis-server, the worker and the bot, and leaves no process behind', async () => {
    const tree = descendants(child.pid!);
    const commands = tree.map((p) => p.cmdline).join('\n');
    assert.match(commands, /redis-server/);
    assert.match(commands, /latentwalk\.js worker/);
    assert.match(commands, /latentwalk\.js bot/);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGINT');
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([exited, new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), 30_000)))]);
    clearTimeout(timer);
    assert.equal(code, 0, `exit code, output:\n${output}`);
    assert.match(output, /stopped/);
    // Every process it had started is gone (or a zombie that only waits to be reaped).
    const left = await until('its processes to be gone', () => {
      const alive = tree.filter((p) => isAlive(p));
      return alive.length === 0 ? [] : undefined;
    }, 10_000).catch(() => tree.filter((p) => isAlive(p)));
    assert.deepEqual(left.map((p) => `${p.pid} ${p.cmdline}`), []);
  });
});

// ---- helpers ------------------------------------------------------------------------------------------------

/** Records every text a message's content had from now on, in the page (progress edits come and go). */
async function recordContents(): Promise<void> {
  await page.evaluate(`(() => {
    window.__seen = [];
    const record = () => { for (const node of document.querySelectorAll('.message .message-content')) window.__seen.push(node.innerText); };
    new MutationObserver(record).observe(document.getElementById('messages-inner'), { childList: true, subtree: true, characterData: true });
  })()`);
}

async function seenContents(): Promise<string[]> {
  return (await page.evaluate('window.__seen')) as string[];
}

/** Waits until the <img> has loaded in the page, then fetches its file and reads it with sharp. */
async function loadedImage(img: Locator): Promise<{ format: string | undefined; pages: number | undefined; width: number | undefined }> {
  const info = await until('the image to load', async () => {
    const state = await img.evaluate((node) => {
      const image = node as unknown as { complete: boolean; naturalWidth: number; currentSrc: string };
      return { complete: image.complete, width: image.naturalWidth, src: image.currentSrc };
    });
    return state.complete && state.width > 0 ? state : undefined;
  }, 20_000);
  const response = await fetch(new URL(info.src, url));
  assert.equal(response.status, 200);
  const meta = await sharp(Buffer.from(await response.arrayBuffer()), { animated: true }).metadata();
  return { format: meta.format, pages: meta.pages, width: meta.width };
}

interface ProcessInfo {
  pid: number;
  ppid: number;
  /** Start time in clock ticks since boot: a reused pid has another. */
  start: string;
  cmdline: string;
}

function readProcess(pid: number): (ProcessInfo & { state: string }) | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces and parentheses).
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
    return { pid, state: rest[0]!, ppid: Number(rest[1]), start: rest[19]!, cmdline };
  } catch {
    return undefined;
  }
}

/** The processes below `root`, now. */
function descendants(root: number): ProcessInfo[] {
  const all = readdirSync('/proc').filter((name) => /^\d+$/.test(name)).map(Number).flatMap((pid) => readProcess(pid) ?? []);
  const out: ProcessInfo[] = [];
  const walk = (parent: number) => {
    for (const p of all) {
      if (p.ppid === parent) {
        out.push(p);
        walk(p.pid);
      }
    }
  };
  walk(root);
  return out;
}

function isAlive(p: ProcessInfo): boolean {
  const now = readProcess(p.pid);
  return now !== undefined && now.start === p.start && now.state !== 'Z';
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function until<T>(what: string, check: () => T | undefined | Promise<T | undefined>, timeoutMs: number, abort?: () => boolean): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== null) return value;
    if (abort?.()) throw new Error(`gave up waiting for ${what}:\n${output}`);
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}:\n${output}`);
    await sleep(50);
  }
}
