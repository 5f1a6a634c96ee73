/**
 * The page <-> LocalDiscord bridge: the playground's own routes next to LocalDiscord's `/api/*`,
 * `/attachments/*` and `/gateway` on the same port (through LocalDiscord's `onHttpRequest` / `onUpgrade`).
 *
 *   GET  /                         the page (static/index.html)
 *   GET  /playground/<file>        its scripts and styles (static/), nothing else
 *   GET  /playground/api/state     guild, members, bot, registered commands, status (JSON)
 *   POST /playground/api/slash     { userId, channelId, name, options }  -> LocalDiscord.slashCommand
 *   POST /playground/api/click     { userId, messageId, customId }       -> LocalDiscord.clickButton
 *   POST /playground/api/modal     { userId, customId, fields }          -> LocalDiscord.submitModal
 *   POST /playground/api/upload    { userId, channelId, filename, contentType, data (base64) }
 *                                  -> LocalDiscord.uploadAttachment (a file for an attachment option); { id }
 *   POST /playground/api/autocomplete { userId, channelId, name, options (one focused) }
 *                                  -> LocalDiscord.autocomplete; answers { choices, answered } once the bot
 *                                  has answered (or after Discord's 3 s, with no choices)
 *   WS   /playground/ws            pushes: hello, snapshot (per member), message, delete, commands, modal,
 *                                  ack, status; the page sends { t: 'viewer', userId } when it switches member
 *
 * Nothing here changes what the bot sees: the page acts through the same user-side API the tests use, and
 * only reads LocalDiscord's state and events. Ephemeral messages go only to sockets viewing as their member.
 */
import { readFileSync, readdirSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join } from 'node:path';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  UserActionError,
  type InteractionState,
  type LocalDiscord,
  type LocalMessage,
  type MessageMeta,
  type OpenedModal,
  type RegisteredCommand,
  type SlashOptionInput,
} from '../local-discord/index.ts';

/** How long an autocomplete waits for the bot: Discord's response deadline. */
const AUTOCOMPLETE_WAIT_MS = 3_000;

export const PLAYGROUND_STATIC_DIR = fileURLToPath(new URL('./static/', import.meta.url));

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

const MAX_BODY_BYTES = 256 * 1024;
/** A 12 MiB file in base64, and its JSON around it. */
const MAX_UPLOAD_BODY_BYTES = 17 * 1024 * 1024;

/** What the page shows about the processes behind it. */
export interface PlaygroundStatus {
  /** The render worker: loading its model, ready, or gone. */
  worker: 'starting' | 'ready' | 'stopped';
  /** Shown under the guild name, e.g. the model's name. */
  detail?: string;
}

export interface PlaygroundBridgeOptions {
  guildId: string;
  /** Default: src/playground/static. */
  staticDir?: string;
  /** Read the files on every request (editing the page without a restart). Default false. */
  liveReload?: boolean;
  log?: (line: string) => void;
}

interface Socket {
  ws: WebSocket;
  viewer: string | null;
}

/** A message as the page receives it: Discord's wire shape, plus who may see it and its loading state. */
export interface PageMessage extends LocalMessage {
  meta: { visibleTo: string | null; loading: boolean; interactionId: string | null };
}

type Json = Record<string, unknown>;

export class PlaygroundBridge {
  readonly #options: PlaygroundBridgeOptions;
  readonly #staticDir: string;
  readonly #files = new Map<string, Buffer>();
  readonly #wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  readonly #sockets = new Set<Socket>();
  #discord: LocalDiscord | undefined;
  #status: PlaygroundStatus = { worker: 'starting' };
  #botOnline = false;
  #poll: NodeJS.Timeout | undefined;
  readonly #detach: (() => void)[] = [];

  constructor(options: PlaygroundBridgeOptions) {
    this.#options = options;
    this.#staticDir = options.staticDir ?? PLAYGROUND_STATIC_DIR;
    // Only the files that are there at start are ever served: no path from a URL reaches the file system.
    for (const name of readdirSync(this.#staticDir)) {
      if (/^[a-z0-9][a-z0-9.-]*$/.test(name) && CONTENT_TYPES[extname(name)]) this.#files.set(name, readFileSync(join(this.#staticDir, name)));
    }
    if (!this.#files.has('index.html')) throw new Error(`playground: no index.html in ${this.#staticDir}`);
  }

  /** Starts relaying LocalDiscord's events to the connected pages. */
  attach(discord: LocalDiscord): void {
    this.#discord = discord;
    const onMessage = (message: LocalMessage, meta: MessageMeta) => this.#pushMessage(message, meta);
    const onDelete = (info: { id: string; channelId: string }) => this.#broadcast({ t: 'delete', id: info.id, channelId: info.channelId });
    const onCommands = (info: { guildId: string | null }) => {
      if (info.guildId === null || info.guildId === this.#options.guildId) this.#broadcast({ t: 'commands', commands: this.#commands() });
    };
    const onModal = (modal: OpenedModal) => this.#broadcast({ t: 'modal', modal }, (s) => s.viewer === modal.userId);
    const onResponse = (state: InteractionState) =>
      this.#broadcast({ t: 'ack', interactionId: state.id, responseType: state.responseType }, (s) => s.viewer === state.userId);
    discord.on('messageCreate', onMessage);
    discord.on('messageUpdate', onMessage);
    discord.on('messageDelete', onDelete);
    discord.on('commandsUpdate', onCommands);
    discord.on('modal', onModal);
    discord.on('interactionResponse', onResponse);
    this.#detach.push(() => {
      discord.off('messageCreate', onMessage);
      discord.off('messageUpdate', onMessage);
      discord.off('messageDelete', onDelete);
      discord.off('commandsUpdate', onCommands);
      discord.off('modal', onModal);
      discord.off('interactionResponse', onResponse);
    });
    // The bot's gateway session coming and going is not an event of LocalDiscord; a cheap poll shows it.
    this.#poll = setInterval(() => {
      const online = discord.connectedSessions > 0;
      if (online !== this.#botOnline) {
        this.#botOnline = online;
        this.#broadcast({ t: 'status', status: this.#statusPayload() });
      }
    }, 250);
    this.#poll.unref();
  }

  setStatus(status: PlaygroundStatus): void {
    this.#status = { ...status };
    this.#broadcast({ t: 'status', status: this.#statusPayload() });
  }

  /** For LocalDiscord's `onHttpRequest`: true when the request was ours. */
  handleHttp(req: IncomingMessage, res: ServerResponse): boolean {
    const path = (req.url ?? '/').split('?')[0]!;
    if (path === '/' || path === '/index.html') {
      this.#serveFile('index.html', req, res);
      return true;
    }
    if (path === '/favicon.ico') {
      res.writeHead(204).end();
      return true;
    }
    if (!path.startsWith('/playground/')) return false;
    const rest = path.slice('/playground/'.length);
    if (rest.startsWith('api/')) {
      void this.#api(rest.slice('api/'.length), req, res).catch((error: Error) => {
        this.#options.log?.(`playground: ${req.method} ${path} failed: ${error.stack ?? error.message}`);
        if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
        else res.end();
      });
      return true;
    }
    if (this.#files.has(rest)) {
      this.#serveFile(rest, req, res);
      return true;
    }
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
    return true;
  }

  /** For LocalDiscord's `onUpgrade`: true when the socket was ours. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/playground/ws') return false;
    if (!sameOrigin(req)) {
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n');
      return true;
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#onConnection(ws));
    return true;
  }

  async close(): Promise<void> {
    if (this.#poll) clearInterval(this.#poll);
    for (const detach of this.#detach.splice(0)) detach();
    for (const socket of this.#sockets) socket.ws.terminate();
    this.#sockets.clear();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
  }

  // ---- WebSocket ---------------------------------------------------------------------------------------------

  #onConnection(ws: WebSocket): void {
    const socket: Socket = { ws, viewer: null };
    this.#sockets.add(socket);
    ws.on('close', () => this.#sockets.delete(socket));
    ws.on('error', () => this.#sockets.delete(socket));
    ws.on('message', (raw) => {
      let message: Json;
      try {
        message = JSON.parse(raw.toString()) as Json;
      } catch {
        return;
      }
      if (message.t === 'viewer' && typeof message.userId === 'string') {
        socket.viewer = this.#isMember(message.userId) ? message.userId : null;
        this.#send(socket, this.#snapshot(socket.viewer));
      } else if (message.t === 'ping') {
        this.#send(socket, { t: 'pong' });
      }
    });
    this.#send(socket, { t: 'hello', ...this.#state() });
  }

  #send(socket: Socket, payload: Json): void {
    if (socket.ws.readyState === socket.ws.OPEN) socket.ws.send(JSON.stringify(payload));
  }

  #broadcast(payload: Json, filter: (socket: Socket) => boolean = () => true): void {
    let text: string | undefined;
    for (const socket of this.#sockets) {
      if (!filter(socket) || socket.ws.readyState !== socket.ws.OPEN) continue;
      text ??= JSON.stringify(payload);
      socket.ws.send(text);
    }
  }

  #pushMessage(message: LocalMessage, meta: MessageMeta): void {
    if (meta.guildId !== this.#options.guildId) return;
    const page = this.#pageMessage(message, meta);
    this.#broadcast({ t: 'message', message: page }, (s) => s.viewer !== null && (meta.visibleTo === null || meta.visibleTo === s.viewer));
  }

  #snapshot(viewer: string | null): Json {
    const discord = this.#requireDiscord();
    const guild = discord.guilds().find((g) => g.id === this.#options.guildId);
    const channels: Record<string, PageMessage[]> = {};
    for (const channel of guild?.channels ?? []) {
      channels[channel.id] = viewer === null
        ? []
        : discord.messages(channel.id, { viewer }).flatMap((m) => {
            const meta = discord.messageMeta(m.id);
            return meta ? [this.#pageMessage(m, meta)] : [];
          });
    }
    return { t: 'snapshot', viewer, channels, modals: viewer ? discord.openModals(viewer) : [] };
  }

  // ---- HTTP API ---------------------------------------------------------------------------------------------

  async #api(route: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const discord = this.#requireDiscord();
    if (route === 'state' && (req.method === 'GET' || req.method === 'HEAD')) {
      sendJson(res, 200, this.#state());
      return;
    }
    if (req.method !== 'POST') {
      sendJson(res, 405, { error: 'use POST' });
      return;
    }
    // A JSON content type makes a cross-site form post impossible without a CORS preflight, which is never
    // answered; a foreign Origin is refused outright.
    if (!sameOrigin(req) || !(req.headers['content-type'] ?? '').startsWith('application/json')) {
      sendJson(res, 403, { error: 'same-origin JSON requests only' });
      return;
    }
    // An upload carries a picture (base64: up to 10 MiB of file and some slack); everything else is small.
    const body = await readJson(req, route === 'upload' ? MAX_UPLOAD_BODY_BYTES : MAX_BODY_BYTES);
    if (!body) {
      sendJson(res, 400, { error: 'the body must be a JSON object' });
      return;
    }
    const userId = str(body.userId);
    if (!userId || !this.#isMember(userId)) {
      sendJson(res, 400, { error: 'userId must be one of the guild members' });
      return;
    }
    try {
      let handle;
      switch (route) {
        case 'slash': {
          const name = str(body.name);
          const channelId = str(body.channelId);
          if (!name || !channelId) throw new UserActionError('name and channelId are required');
          handle = await discord.slashCommand({
            guildId: this.#options.guildId,
            channelId,
            userId,
            name,
            options: toOptions(body.options),
          });
          break;
        }
        case 'click': {
          const messageId = str(body.messageId);
          const customId = str(body.customId);
          if (!messageId || !customId) throw new UserActionError('messageId and customId are required');
          handle = await discord.clickButton({ messageId, customId, userId });
          break;
        }
        case 'autocomplete': {
          const name = str(body.name);
          const channelId = str(body.channelId);
          if (!name || !channelId) throw new UserActionError('name and channelId are required');
          const asked = await discord.autocomplete({ guildId: this.#options.guildId, channelId, userId, name, options: toOptions(body.options) });
          sendJson(res, 200, await this.#autocompleteAnswer(asked.interactionId, asked.delivered));
          return;
        }
        case 'upload': {
          const channelId = str(body.channelId);
          const filename = str(body.filename);
          const data = typeof body.data === 'string' ? body.data : undefined;
          if (!channelId || !filename || data === undefined) throw new UserActionError('channelId, filename and data are required');
          const contentType = str(body.contentType);
          const id = discord.uploadAttachment({ channelId, filename, data: Buffer.from(data, 'base64'), ...(contentType ? { contentType } : {}) });
          sendJson(res, 200, { id });
          return;
        }
        case 'modal': {
          const customId = str(body.customId);
          if (!customId) throw new UserActionError('customId is required');
          handle = await discord.submitModal({ customId, userId, fields: toFields(body.fields) });
          break;
        }
        default:
          sendJson(res, 404, { error: `no route ${route}` });
          return;
      }
      sendJson(res, 200, { interactionId: handle.interactionId, delivered: handle.delivered });
    } catch (error) {
      if (error instanceof UserActionError || (error as Error).name === 'UserActionError') {
        sendJson(res, 400, { error: (error as Error).message });
        return;
      }
      throw error;
    }
  }

  /** The bot's choices for an autocomplete interaction, once it answers (Discord waits 3 s, then shows none). */
  async #autocompleteAnswer(interactionId: string, delivered: number): Promise<{ choices: unknown[]; answered: boolean }> {
    const discord = this.#requireDiscord();
    const answer = () => {
      const state = discord.interactionResponse(interactionId);
      return state?.acknowledged ? { choices: state.autocompleteChoices ?? [], answered: true } : undefined;
    };
    if (delivered === 0) return { choices: [], answered: false };
    const deadline = Date.now() + AUTOCOMPLETE_WAIT_MS;
    for (;;) {
      const got = answer();
      if (got) return got;
      if (Date.now() > deadline) return { choices: [], answered: false };
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  // ---- state ---------------------------------------------------------------------------------------------

  #state(): Json {
    const discord = this.#requireDiscord();
    const guild = discord.guilds().find((g) => g.id === this.#options.guildId);
    return {
      guild: guild ? { id: guild.id, name: guild.name, channels: guild.channels.filter((c) => c.type === 0), members: guild.members } : null,
      bot: { id: discord.botUserId, username: 'latentwalk' },
      commands: this.#commands(),
      status: this.#statusPayload(),
    };
  }

  #statusPayload(): Json {
    return { ...this.#status, bot: this.#botOnline ? 'online' : 'offline' };
  }

  /** Guild commands, plus global ones the guild does not override (as a Discord client lists them). */
  #commands(): RegisteredCommand[] {
    const discord = this.#requireDiscord();
    const guild = discord.registeredCommands(this.#options.guildId);
    const names = new Set(guild.map((c) => c.name));
    return [...guild, ...discord.registeredCommands().filter((c) => !names.has(c.name))].filter((c) => c.type === 1);
  }

  #isMember(userId: string): boolean {
    const guild = this.#requireDiscord().guilds().find((g) => g.id === this.#options.guildId);
    return guild?.members.some((m) => m.id === userId) ?? false;
  }

  /** Attachment and embed image URLs made relative, so they work from whatever host the page was opened on. */
  #pageMessage(message: LocalMessage, meta: MessageMeta): PageMessage {
    const base = this.#requireDiscord().baseUrl;
    const local = (url: unknown) => (typeof url === 'string' && url.startsWith(`${base}/`) ? url.slice(base.length) : url);
    return {
      ...message,
      attachments: message.attachments.map((a) => ({ ...a, url: local(a.url) as string, proxy_url: local(a.proxy_url) as string })),
      embeds: message.embeds.map((embed) => ({
        ...embed,
        ...(embed.image ? { image: { ...embed.image, url: local(embed.image.url) as string } } : {}),
        ...(embed.thumbnail ? { thumbnail: { ...embed.thumbnail, url: local(embed.thumbnail.url) as string } } : {}),
      })),
      meta: { visibleTo: meta.visibleTo, loading: meta.loading, interactionId: meta.interactionId },
    };
  }

  #requireDiscord(): LocalDiscord {
    if (!this.#discord) throw new Error('playground: the bridge is not attached to a LocalDiscord yet');
    return this.#discord;
  }

  #serveFile(name: string, req: IncomingMessage, res: ServerResponse): void {
    let data = this.#files.get(name)!;
    if (this.#options.liveReload) data = readFileSync(join(this.#staticDir, name));
    res.writeHead(200, {
      'Content-Type': CONTENT_TYPES[extname(name)] ?? 'application/octet-stream',
      'Content-Length': data.length,
      'Cache-Control': 'no-cache',
      'X-Content-Type-Options': 'nosniff',
      ...(name === 'index.html'
        ? {
            // Everything the page loads comes from this server; inline script is not needed.
            'Content-Security-Policy': "default-src 'self'; img-src 'self' data: blob:; connect-src 'self' ws: wss:; style-src 'self'; script-src 'self'; frame-ancestors 'none'",
            'Referrer-Policy': 'no-referrer',
          }
        : {}),
    });
    res.end(req.method === 'HEAD' ? undefined : data);
  }
}

// ---- helpers -----------------------------------------------------------------------------------------------

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store' });
  res.end(text);
}

async function readJson(req: IncomingMessage, maxBytes: number): Promise<Json | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) return undefined;
    chunks.push(chunk as Buffer);
  }
  try {
    const value: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : undefined;
  } catch {
    return undefined;
  }
}

/** A browser's request from our own page: no Origin (same-origin GET), or an Origin naming this host. */
function sameOrigin(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 && value.length <= 200 ? value : undefined;
}

function toOptions(value: unknown, depth = 0): SlashOptionInput[] {
  if (!Array.isArray(value) || depth > 2) return [];
  return value.flatMap((raw): SlashOptionInput[] => {
    if (typeof raw !== 'object' || raw === null) return [];
    const o = raw as Json;
    const name = str(o.name);
    if (!name) return [];
    const option: SlashOptionInput = { name };
    if (typeof o.value === 'string' || typeof o.value === 'number' || typeof o.value === 'boolean') option.value = o.value;
    if (o.focused === true) option.focused = true;
    if (Array.isArray(o.options)) option.options = toOptions(o.options, depth + 1);
    return [option];
  });
}

function toFields(value: unknown): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  if (typeof value !== 'object' || value === null) return out;
  for (const [key, v] of Object.entries(value as Json)) {
    if (typeof v === 'string') out[key] = v;
    else if (Array.isArray(v) && v.every((x) => typeof x === 'string')) out[key] = v as string[];
  }
  return out;
}
