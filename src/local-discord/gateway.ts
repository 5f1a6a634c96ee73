/**
 * The gateway: JSON over WebSocket, no compression (discord.js only asks for zlib-stream when zlib-sync is
 * installed). HELLO, IDENTIFY -> READY + one GUILD_CREATE per guild, HEARTBEAT -> ACK, RESUME answered with
 * INVALID_SESSION(false) so the client identifies afresh. Several sessions may be connected (a restarted bot).
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { LogFn } from './types.ts';

export const GatewayOp = {
  Dispatch: 0, Heartbeat: 1, Identify: 2, PresenceUpdate: 3, VoiceStateUpdate: 4, Resume: 6, Reconnect: 7,
  RequestGuildMembers: 8, InvalidSession: 9, Hello: 10, HeartbeatAck: 11,
} as const;

export const GatewayClose = {
  UnknownOpcode: 4001, DecodeError: 4002, NotAuthenticated: 4003, AuthenticationFailed: 4004,
  AlreadyAuthenticated: 4005, DisallowedIntents: 4014,
} as const;

export const Intent = { Guilds: 1 << 0, GuildMembers: 1 << 1, GuildPresences: 1 << 8, GuildMessages: 1 << 9, MessageContent: 1 << 15 } as const;
const PRIVILEGED = Intent.GuildMembers | Intent.GuildPresences | Intent.MessageContent;

export interface GatewayOptions {
  /** The bot token IDENTIFY must carry (a function: it can be reset). */
  token: () => string;
  heartbeatIntervalMs: number;
  allowedPrivilegedIntents: number;
  /** READY's `d`, less session_id/resume_gateway_url, which the gateway fills in. */
  ready: () => Record<string, unknown>;
  /** The GUILD_CREATE payloads to send after READY. */
  guildCreates: () => Record<string, unknown>[];
  resumeUrl: () => string;
  log: LogFn;
}

interface Session {
  socket: WebSocket;
  id: string;
  identified: boolean;
  intents: number;
  seq: number;
}

export class Gateway {
  readonly #wss = new WebSocketServer({ noServer: true });
  readonly #sessions = new Set<Session>();

  constructor(private readonly options: GatewayOptions) {
    this.#wss.on('connection', (socket) => this.#open(socket));
  }

  /** Whether an HTTP upgrade request is for the gateway (`/gateway` or `/gateway/`, any query). */
  static handles(req: IncomingMessage): boolean {
    const path = (req.url ?? '').split('?')[0] ?? '';
    return path === '/gateway' || path === '/gateway/';
  }

  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#wss.emit('connection', ws, req));
  }

  /** Identified sessions (connected bot clients). */
  get sessionCount(): number {
    let n = 0;
    for (const s of this.#sessions) if (s.identified) n += 1;
    return n;
  }

  /** Sends a dispatch to every identified session that asked for `intent` (if any); returns how many. */
  dispatch(event: string, data: unknown, intent?: number): number {
    let sent = 0;
    for (const session of this.#sessions) {
      if (!session.identified || (intent !== undefined && !(session.intents & intent))) continue;
      this.#dispatchTo(session, event, data);
      sent += 1;
    }
    return sent;
  }

  /** Ends every session as Discord does when the bot token is reset (4004: the client must not resume). */
  closeSessions(code: number = GatewayClose.AuthenticationFailed, reason = 'Authentication failed.'): void {
    for (const session of this.#sessions) session.socket.close(code, reason);
  }

  async close(): Promise<void> {
    for (const session of this.#sessions) session.socket.terminate();
    this.#sessions.clear();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
  }

  #open(socket: WebSocket): void {
    const session: Session = { socket, id: randomBytes(16).toString('hex'), identified: false, intents: 0, seq: 0 };
    this.#sessions.add(session);
    socket.on('close', () => this.#sessions.delete(session));
    socket.on('error', (err) => this.options.log('debug', `gateway socket error: ${err.message}`));
    socket.on('message', (raw, isBinary) => this.#receive(session, raw.toString(), isBinary));
    this.#send(session, { op: GatewayOp.Hello, d: { heartbeat_interval: this.options.heartbeatIntervalMs }, s: null, t: null });
  }

  #receive(session: Session, text: string, isBinary: boolean): void {
    let payload: { op?: unknown; d?: unknown };
    try {
      if (isBinary) throw new Error('binary frames need a compression this server does not speak');
      payload = JSON.parse(text) as { op?: unknown; d?: unknown };
    } catch {
      session.socket.close(GatewayClose.DecodeError, 'Error while decoding payload.');
      return;
    }
    switch (payload.op) {
      case GatewayOp.Heartbeat:
        this.#send(session, { op: GatewayOp.HeartbeatAck });
        return;
      case GatewayOp.Identify:
        this.#identify(session, payload.d);
        return;
      case GatewayOp.Resume:
        // Sessions are not kept across connections; the client falls back to a fresh IDENTIFY.
        this.#send(session, { op: GatewayOp.InvalidSession, d: false, s: null, t: null });
        return;
      case GatewayOp.PresenceUpdate:
      case GatewayOp.VoiceStateUpdate:
      case GatewayOp.RequestGuildMembers:
        if (!session.identified) session.socket.close(GatewayClose.NotAuthenticated, 'Not authenticated.');
        return;
      default:
        this.options.log('warn', `gateway: unknown opcode ${String(payload.op)}`);
        session.socket.close(GatewayClose.UnknownOpcode, 'Unknown opcode.');
    }
  }

  #identify(session: Session, d: unknown): void {
    if (session.identified) {
      session.socket.close(GatewayClose.AlreadyAuthenticated, 'Already authenticated.');
      return;
    }
    const data = (typeof d === 'object' && d !== null ? d : {}) as { token?: unknown; intents?: unknown };
    const token = typeof data.token === 'string' ? data.token.replace(/^Bot\s+/i, '') : '';
    if (token !== this.options.token()) {
      this.options.log('warn', 'gateway: IDENTIFY with a wrong token, closing with 4004');
      session.socket.close(GatewayClose.AuthenticationFailed, 'Authentication failed.');
      return;
    }
    const intents = typeof data.intents === 'number' ? data.intents : 0;
    if (intents & PRIVILEGED & ~this.options.allowedPrivilegedIntents) {
      this.options.log('warn', `gateway: privileged intents requested (${intents}), closing with 4014`);
      session.socket.close(GatewayClose.DisallowedIntents, 'Disallowed intent(s).');
      return;
    }
    session.identified = true;
    session.intents = intents;
    this.#dispatchTo(session, 'READY', {
      ...this.options.ready(),
      session_id: session.id,
      resume_gateway_url: this.options.resumeUrl(),
    });
    // Without the Guilds intent Discord still sends GUILD_CREATE for the guilds in READY.
    for (const guild of this.options.guildCreates()) this.#dispatchTo(session, 'GUILD_CREATE', guild);
  }

  #dispatchTo(session: Session, event: string, data: unknown): void {
    session.seq += 1;
    this.#send(session, { op: GatewayOp.Dispatch, t: event, s: session.seq, d: data });
  }

  #send(session: Session, payload: Record<string, unknown>): void {
    if (session.socket.readyState === session.socket.OPEN) session.socket.send(JSON.stringify(payload));
  }
}
