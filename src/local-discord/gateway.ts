/**
 * The gateway: JSON over WebSocket, no compression (discord.js only asks for zlib-stream when zlib-sync is
 * installed). HELLO, IDENTIFY -> READY + one GUILD_CREATE per guild, HEARTBEAT -> ACK, RESUME answered with
 * INVALID_SESSION(false) so the client identifies afresh. Several sessions may be connected (a restarted bot).
 *
 * Sharding as Discord does it: IDENTIFY's `shard: [id, count]` (absent: [0, 1]) picks the guilds a session
 * carries, those with `(guild_id >> 22) % count == id`; READY lists only those, GUILD_CREATE is sent for only
 * those, and every guild event goes to the sessions of its shard (events without a guild, like DMs, to shard
 * 0). A shard outside its count is closed with 4010; a session that would carry more than
 * `maxGuildsPerSession` guilds with 4011 ("sharding required"; Discord's ceiling is 2,500).
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { shardOf } from './snowflake.ts';
import type { LogFn } from './types.ts';

export const GatewayOp = {
  Dispatch: 0, Heartbeat: 1, Identify: 2, PresenceUpdate: 3, VoiceStateUpdate: 4, Resume: 6, Reconnect: 7,
  RequestGuildMembers: 8, InvalidSession: 9, Hello: 10, HeartbeatAck: 11,
} as const;

export const GatewayClose = {
  UnknownOpcode: 4001, DecodeError: 4002, NotAuthenticated: 4003, AuthenticationFailed: 4004,
  AlreadyAuthenticated: 4005, InvalidShard: 4010, ShardingRequired: 4011, DisallowedIntents: 4014,
} as const;

export const Intent = { Guilds: 1 << 0, GuildMembers: 1 << 1, GuildPresences: 1 << 8, GuildMessages: 1 << 9, MessageContent: 1 << 15 } as const;
const PRIVILEGED = Intent.GuildMembers | Intent.GuildPresences | Intent.MessageContent;

export interface GatewayOptions {
  /** The bot token IDENTIFY must carry (a function: it can be reset). */
  token: () => string;
  heartbeatIntervalMs: number;
  allowedPrivilegedIntents: number;
  /** READY's `d`, less session_id/resume_gateway_url/guilds/shard, which the gateway fills in. */
  ready: () => Record<string, unknown>;
  /** Every guild the bot is in. */
  guildIds: () => string[];
  /** The GUILD_CREATE payload of one guild (sent after READY to the session of its shard). */
  guildCreate: (guildId: string) => Record<string, unknown> | undefined;
  /** Most guilds one session may carry; an IDENTIFY that would carry more is closed with 4011. */
  maxGuildsPerSession: number;
  resumeUrl: () => string;
  log: LogFn;
}

interface Session {
  socket: WebSocket;
  id: string;
  identified: boolean;
  intents: number;
  seq: number;
  /** [shard id, shard count] from IDENTIFY. */
  shard: [number, number];
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

  /** The shards of the identified sessions, as `[id, count]` (one per session). */
  get shards(): [number, number][] {
    return [...this.#sessions].filter((s) => s.identified).map((s) => [...s.shard]);
  }

  /**
   * Sends a dispatch to every identified session that asked for `intent` (if any) and carries `guildId`'s
   * shard (no guild: shard 0); returns how many.
   */
  dispatch(event: string, data: unknown, intent?: number, guildId?: string | null): number {
    let sent = 0;
    for (const session of this.#sessions) {
      if (!session.identified || (intent !== undefined && !(session.intents & intent))) continue;
      const [id, count] = session.shard;
      if ((guildId ? shardOf(guildId, count) : 0) !== id) continue;
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
    const session: Session = { socket, id: randomBytes(16).toString('hex'), identified: false, intents: 0, seq: 0, shard: [0, 1] };
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
    const data = (typeof d === 'object' && d !== null ? d : {}) as { token?: unknown; intents?: unknown; shard?: unknown };
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
    const shard = parseShard(data.shard);
    if (!shard) {
      this.options.log('warn', `gateway: IDENTIFY with an invalid shard ${JSON.stringify(data.shard)}, closing with 4010`);
      session.socket.close(GatewayClose.InvalidShard, 'Invalid shard.');
      return;
    }
    const [shardId, shardCount] = shard;
    const guildIds = this.options.guildIds().filter((id) => shardOf(id, shardCount) === shardId);
    if (guildIds.length > this.options.maxGuildsPerSession) {
      this.options.log('warn', `gateway: shard [${shardId}, ${shardCount}] would carry ${guildIds.length} guilds (most ${this.options.maxGuildsPerSession}), closing with 4011`);
      session.socket.close(GatewayClose.ShardingRequired, 'Sharding required.');
      return;
    }
    session.identified = true;
    session.intents = intents;
    session.shard = shard;
    this.#dispatchTo(session, 'READY', {
      ...this.options.ready(),
      guilds: guildIds.map((id) => ({ id, unavailable: true })),
      shard,
      session_id: session.id,
      resume_gateway_url: this.options.resumeUrl(),
    });
    // Without the Guilds intent Discord still sends GUILD_CREATE for the guilds in READY.
    for (const id of guildIds) {
      const guild = this.options.guildCreate(id);
      if (guild) this.#dispatchTo(session, 'GUILD_CREATE', guild);
    }
  }

  #dispatchTo(session: Session, event: string, data: unknown): void {
    session.seq += 1;
    this.#send(session, { op: GatewayOp.Dispatch, t: event, s: session.seq, d: data });
  }

  #send(session: Session, payload: Record<string, unknown>): void {
    if (session.socket.readyState === session.socket.OPEN) session.socket.send(JSON.stringify(payload));
  }
}

/** IDENTIFY's `shard`: absent is [0, 1]; otherwise two whole numbers with 0 <= id < count. */
function parseShard(value: unknown): [number, number] | undefined {
  if (value === undefined || value === null) return [0, 1];
  if (!Array.isArray(value) || value.length !== 2) return undefined;
  const [id, count] = value as unknown[];
  if (!Number.isInteger(id) || !Number.isInteger(count)) return undefined;
  if ((count as number) < 1 || (id as number) < 0 || (id as number) >= (count as number)) return undefined;
  return [id as number, count as number];
}
