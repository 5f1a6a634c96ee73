/**
 * LocalDiscord: a Discord API v10 compatible gateway + REST server, in memory, for the real discord.js
 * client. Tests (and later the playground) drive it from the user's side (slash commands, button clicks,
 * modal submits) and read back what the bot did (messages, interaction responses, requests).
 */
import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  DEFAULT_BOT_USER,
  DEFAULT_GUILD,
  DEFAULT_GUILDS_PER_SHARD,
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  DEFAULT_MAX_GUILDS_PER_SESSION,
  DEFAULT_RESPONSE_DEADLINE_MS,
  DEFAULT_TOKEN,
  DEFAULT_TOKEN_TTL_MS,
} from './defaults.ts';
import { FaultInjector, type FaultHandle, type FaultRule } from './faults.ts';
import { Gateway, Intent } from './gateway.ts';
import { allChannelsId, commandPermissionKey } from './interactions/access.ts';
import { UserActions } from './interactions/create.ts';
import { InteractionRegistry, type InteractionRecord } from './interactions/registry.ts';
import { InteractionResponder } from './interactions/respond.ts';
import { MessageService } from './messages.ts';
import { guildCreate, wireChannel, wireGuild, wireMember, wireUser } from './payloads.ts';
import { parsePermissions, type PermissionOverwrite } from './permissions.ts';
import type { RestContext } from './rest/context.ts';
import { RateLimiter, type RateLimitStats } from './rest/ratelimits.ts';
import { Router } from './rest/router.ts';
import { applicationRoutes } from './rest/routes/application.ts';
import { channelRoutes } from './rest/routes/channels.ts';
import { guildRoutes } from './rest/routes/guilds.ts';
import { interactionRoutes } from './rest/routes/interactions.ts';
import { SnowflakeGenerator } from './snowflake.ts';
import { Store, THREAD_TYPES, type ChannelState, type StoredMessage } from './store.ts';
import type {
  AutocompleteInput,
  CommandPermission,
  ButtonClickInput,
  InteractionHandle,
  InteractionState,
  LocalDiscordEvents,
  LocalDiscordOptions,
  LocalMessage,
  LogFn,
  MessageCommandInput,
  MessageMeta,
  ModalSubmitInput,
  OpenedModal,
  RecordedRequest,
  RegisteredCommand,
  SlashCommandInput,
  StoredFile,
  UserMessageInput,
} from './types.ts';
import { UserActionError } from './errors.ts';
import { guessContentType } from './rest/multipart.ts';

export interface GuildInfo {
  id: string;
  name: string;
  premiumTier: number;
  channels: { id: string; name: string; type: number }[];
  /** Members other than the bot, with their guild-level permissions. */
  members: { id: string; username: string; globalName: string | null; permissions: string }[];
}

const defaultLog: LogFn = (level, message) => {
  if (level === 'warn') process.stderr.write(`${message}\n`);
};

export class LocalDiscord extends EventEmitter<LocalDiscordEvents> {
  /** Starts listening; resolves once `restUrl` and `gatewayUrl` work. */
  static async start(options: LocalDiscordOptions = {}): Promise<LocalDiscord> {
    const server = new LocalDiscord(options);
    await server.#listen(options.port ?? 0, options.host ?? '127.0.0.1');
    return server;
  }

  /** The bot token the gateway and REST accept (changes with `resetToken`). */
  get token(): string {
    return this.#token;
  }
  readonly applicationId: string;
  readonly botUserId: string;
  /** Every REST request, in arrival order. */
  readonly requests: RecordedRequest[] = [];

  readonly #options: LocalDiscordOptions;
  #token: string;
  readonly #faults = new FaultInjector();
  readonly #now: () => number;
  readonly #log: LogFn;
  readonly #ids: SnowflakeGenerator;
  readonly #store: Store;
  readonly #messages: MessageService;
  readonly #registry: InteractionRegistry;
  readonly #actions: UserActions;
  readonly #gateway: Gateway;
  readonly #router: Router;
  readonly #http: Server;
  readonly #rateLimits: RateLimiter | undefined;
  #latencyMs: number;
  #baseUrl = '';
  #closed = false;

  private constructor(options: LocalDiscordOptions) {
    super();
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#log = options.log ?? defaultLog;
    this.#ids = new SnowflakeGenerator(this.#now);
    const bot = options.botUser ?? DEFAULT_BOT_USER;
    this.#token = options.token ?? DEFAULT_TOKEN;
    this.botUserId = bot.id;
    // Applications made since 2016 share the bot user's id.
    this.applicationId = options.applicationId ?? bot.id;
    this.#store = new Store(bot.id, bot, options.guilds ?? [DEFAULT_GUILD], this.#ids, new Date(this.#now()).toISOString());

    this.#messages = new MessageService(this.#store, this.applicationId, this.#ids, this.#now, () => this.#baseUrl, {
      created: (m) => this.#publish('messageCreate', 'MESSAGE_CREATE', m),
      updated: (m) => this.#publish('messageUpdate', 'MESSAGE_UPDATE', m),
      deleted: (m) => {
        const info = { id: m.data.id, channelId: m.data.channel_id, guildId: m.meta.guildId };
        if (m.meta.visibleTo === null) {
          this.#gateway.dispatch('MESSAGE_DELETE', { id: info.id, channel_id: info.channelId, guild_id: info.guildId }, Intent.GuildMessages, info.guildId);
        }
        this.#emit('messageDelete', info);
      },
    }, options.droppedFileTtlMs);
    this.#registry = new InteractionRegistry({
      applicationId: this.applicationId,
      responseDeadlineMs: options.interactionResponseDeadlineMs ?? DEFAULT_RESPONSE_DEADLINE_MS,
      now: this.#now,
    });
    this.#actions = new UserActions({
      store: this.#store,
      registry: this.#registry,
      ids: this.#ids,
      now: this.#now,
      applicationId: this.applicationId,
      tokenTtlMs: options.interactionTokenTtlMs ?? DEFAULT_TOKEN_TTL_MS,
      attachmentSizeLimit: options.attachmentSizeLimit,
      allowUnregisteredCommands: options.allowUnregisteredCommands ?? false,
      dispatch: (payload) => this.#gateway.dispatch('INTERACTION_CREATE', payload, undefined, typeof payload.guild_id === 'string' ? payload.guild_id : null),
    });
    const responder = new InteractionResponder({
      store: this.#store,
      registry: this.#registry,
      messages: this.#messages,
      now: this.#now,
      onResponse: (record: InteractionRecord) => this.#emit('interactionResponse', this.#registry.state(record)),
      onModal: (modal) => this.#emit('modal', structuredClone(modal)),
      channelChanged: (channel) => this.#channelChanged(channel),
    });

    this.#gateway = new Gateway({
      token: () => this.#token,
      heartbeatIntervalMs: options.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS,
      allowedPrivilegedIntents: options.allowedPrivilegedIntents ?? 0,
      resumeUrl: () => this.gatewayUrl,
      ready: () => ({
        v: 10,
        user: { ...wireUser(this.#store.users.get(this.botUserId)!), verified: true, mfa_enabled: false, flags: 0 },
        private_channels: [],
        relationships: [],
        presences: [],
        guild_join_requests: [],
        geo_ordered_rtc_regions: [],
        application: { id: this.applicationId, flags: 0 },
        user_settings: {},
      }),
      guildIds: () => [...this.#store.guilds.keys()],
      guildCreate: (id) => {
        const guild = this.#store.guilds.get(id);
        return guild ? guildCreate(this.#store, guild) : undefined;
      },
      maxGuildsPerSession: options.maxGuildsPerSession ?? DEFAULT_MAX_GUILDS_PER_SESSION,
      log: this.#log,
    });

    const ctx: RestContext = {
      store: this.#store,
      applicationId: this.applicationId,
      messages: this.#messages,
      responder,
      ids: this.#ids,
      now: this.#now,
      gatewayUrl: () => this.gatewayUrl,
      gatewayBot: () => ({
        shards: this.recommendedShards,
        maxConcurrency: options.maxConcurrency ?? 1,
      }),
      commandsChanged: (guildId) => this.#emit('commandsUpdate', { guildId, commands: this.registeredCommands(guildId ?? undefined) }),
      channelChanged: (channel) => this.#channelChanged(channel),
    };
    this.#latencyMs = options.latencyMs ?? 0;
    this.#rateLimits = options.rateLimits ? new RateLimiter(options.rateLimits === true ? {} : options.rateLimits, this.#now) : undefined;
    this.#router = new Router(
      [...applicationRoutes(ctx), ...channelRoutes(ctx), ...guildRoutes(ctx), ...interactionRoutes(ctx)],
      {
        token: () => this.#token,
        now: this.#now,
        log: this.#log,
        maxBodyBytes: 110 * 1024 * 1024,
        faults: this.#faults,
        latencyMs: () => this.#latencyMs,
        ...(this.#rateLimits ? { rateLimits: this.#rateLimits } : {}),
        record: (r) => {
          this.requests.push(r);
          if (this.requests.length > (options.requestLogLimit ?? 10_000)) this.requests.shift();
          this.#emit('request', r);
        },
      },
    );

    this.#http = createServer((req, res) => void this.#onRequest(req, res));
    this.#http.on('upgrade', (req, socket, head) => {
      if (Gateway.handles(req)) this.#gateway.upgrade(req, socket, head);
      else if (!this.#options.onUpgrade?.(req, socket, head)) socket.destroy();
    });
  }

  // ---- addresses ----------------------------------------------------------------------------------------

  /** e.g. `http://127.0.0.1:PORT`: attachments and any embedding feature live here. */
  get baseUrl(): string {
    return this.#baseUrl;
  }

  /** For `new Client({ rest: { api: server.restUrl } })`; @discordjs/rest appends `/v10`. */
  get restUrl(): string {
    return `${this.#baseUrl}/api`;
  }

  /** What `GET /gateway/bot` hands out. */
  get gatewayUrl(): string {
    return `${this.#baseUrl.replace(/^http/, 'ws')}/gateway`;
  }

  get port(): number {
    return (this.#http.address() as AddressInfo | null)?.port ?? 0;
  }

  /** Bot sessions that have identified and are still connected. */
  get connectedSessions(): number {
    return this.#gateway.sessionCount;
  }

  /** The `[id, count]` shard of each identified session. */
  get connectedShards(): [number, number][] {
    return this.#gateway.shards;
  }

  /** The shard count `GET /gateway/bot` recommends: one per `guildsPerShard` guilds (Discord: about 1,000). */
  get recommendedShards(): number {
    return Math.max(1, Math.ceil(this.#store.guilds.size / (this.#options.guildsPerShard ?? DEFAULT_GUILDS_PER_SHARD)));
  }

  /** The server's clock (the injected one, if any). */
  now(): number {
    return this.#now();
  }

  // ---- the user's side ------------------------------------------------------------------------------------

  /** A member runs `/name` with options; the bot receives INTERACTION_CREATE (type 2). */
  async slashCommand(input: SlashCommandInput): Promise<InteractionHandle> {
    return this.#actions.slashCommand(input);
  }

  /** A member types into an option marked `focused`; the bot receives an autocomplete interaction (type 4). */
  async autocomplete(input: AutocompleteInput): Promise<InteractionHandle> {
    return this.#actions.slashCommand(input, true);
  }

  /** A member runs a message context menu command on a message (type 2, data.type 3, the message resolved). */
  async messageCommand(input: MessageCommandInput): Promise<InteractionHandle> {
    return this.#actions.messageCommand(input);
  }

  /** A member posts a message of their own (with files: attachments on the CDN, as a person uploads them). */
  postMessage(input: UserMessageInput): LocalMessage {
    const channel = this.#channel(input.channelId);
    const user = this.#store.users.get(input.userId);
    if (!user || user.bot) throw new UserActionError(`no member ${input.userId}`);
    const files = (input.files ?? []).map((f, i) => ({
      field: `files[${i}]`,
      index: String(i),
      filename: f.filename,
      contentType: f.contentType ?? guessContentType(f.filename),
      data: Buffer.from(f.data),
    }));
    const stored = this.#messages.create(
      { channel, viaInteraction: false, fileSizeLimit: 500 * 1024 * 1024, canMentionEveryone: false, authorId: user.id },
      { body: { content: input.content ?? '' }, files },
    );
    return structuredClone(stored.data);
  }

  /**
   * A member picks a file for a slash command's attachment option: Discord's client uploads it first and the
   * command names it by id (the bot finds it in `resolved.attachments`). Returns that id.
   */
  uploadAttachment(input: { channelId: string; filename: string; data: Buffer | Uint8Array; contentType?: string }): string {
    this.#channel(input.channelId);
    const file = { field: 'files[0]', index: '0', filename: input.filename, contentType: input.contentType ?? guessContentType(input.filename), data: Buffer.from(input.data) };
    return this.#messages.upload(input.channelId, file).id;
  }

  /** A member presses a button on a message (type 3, with the message). */
  async clickButton(input: ButtonClickInput): Promise<InteractionHandle> {
    return this.#actions.clickButton(input);
  }

  /** A member submits a modal the bot opened for them (type 5). */
  async submitModal(input: ModalSubmitInput): Promise<InteractionHandle> {
    return this.#actions.submitModal(input);
  }

  // ---- what admins, moderators and Discord itself do -------------------------------------------------------
  // State changes that make the bot meet Discord's failures the way a real server would: a deleted channel
  // (404/10003), a channel the bot can no longer see (403/50001) or read the history of (a reply refused with
  // 403/160002), an archived or locked thread (400/50083), a boost tier (the upload limit), a reset token.

  /** Creates a text channel (what an admin does); the bot's sessions hear CHANNEL_CREATE. Returns its id. */
  createChannel(guildId: string, input: { name: string; id?: string; permissionOverwrites?: PermissionOverwrite[] }): string {
    const guild = this.#store.guilds.get(guildId);
    if (!guild) throw new Error(`local-discord: no guild ${guildId}`);
    const id = input.id ?? this.#ids.next();
    if (this.#store.channels.has(id)) throw new Error(`local-discord: channel ${id} exists`);
    const channel: ChannelState = {
      id,
      guildId,
      name: input.name,
      type: 0,
      topic: null,
      position: guild.channels.size,
      overwrites: structuredClone(input.permissionOverwrites ?? []),
      messageIds: [],
      lastMessageId: null,
      parentId: null,
    };
    guild.channels.set(id, channel);
    this.#store.channels.set(id, channel);
    this.#gateway.dispatch('CHANNEL_CREATE', wireChannel(channel), Intent.Guilds, guildId);
    return id;
  }

  /** Deletes a channel with its messages (a text channel: its threads too); later requests get 404/10003. */
  deleteChannel(channelId: string): void {
    if (!this.#store.channels.has(channelId)) throw new Error(`local-discord: no channel ${channelId}`);
    for (const channel of this.#store.deleteChannel(channelId).reverse()) {
      if (channel.thread) {
        this.#gateway.dispatch('THREAD_DELETE', { id: channel.id, guild_id: channel.guildId, parent_id: channel.parentId, type: channel.type }, Intent.Guilds, channel.guildId);
      } else {
        this.#gateway.dispatch('CHANNEL_DELETE', wireChannel(channel), Intent.Guilds, channel.guildId);
      }
    }
  }

  /** Sets a channel's permission overwrite for a role (type 0; the guild id is @everyone) or a member (type 1). */
  setPermissionOverwrite(channelId: string, overwrite: { id: string; type: 0 | 1; allow?: bigint | string; deny?: bigint | string }): void {
    const channel = this.#channel(channelId);
    if (channel.thread) throw new Error('local-discord: threads take their overwrites from their parent channel');
    const next: PermissionOverwrite = {
      id: overwrite.id,
      type: overwrite.type,
      allow: parsePermissions(overwrite.allow ?? 0n, 0n).toString(),
      deny: parsePermissions(overwrite.deny ?? 0n, 0n).toString(),
    };
    channel.overwrites = [...channel.overwrites.filter((o) => o.id !== overwrite.id), next];
    this.#channelChanged(channel);
  }

  removePermissionOverwrite(channelId: string, id: string): void {
    const channel = this.#channel(channelId);
    channel.overwrites = channel.overwrites.filter((o) => o.id !== id);
    this.#channelChanged(channel);
  }

  /** Opens a public thread (type 11) under a text channel; returns its id. */
  createThread(parentId: string, input: { name: string; id?: string; archived?: boolean; locked?: boolean }): string {
    const parent = this.#channel(parentId);
    if (parent.thread) throw new Error('local-discord: a thread cannot hold threads');
    const guild = this.#store.guilds.get(parent.guildId)!;
    const id = input.id ?? this.#ids.next();
    const at = new Date(this.#now()).toISOString();
    const thread: ChannelState = {
      id,
      guildId: parent.guildId,
      name: input.name,
      type: 11,
      topic: null,
      position: 0,
      overwrites: [],
      messageIds: [],
      lastMessageId: null,
      parentId,
      thread: { archived: false, locked: input.locked ?? false, archiveTimestamp: at, autoArchiveDuration: 1440, ownerId: this.botUserId },
    };
    guild.channels.set(id, thread);
    this.#store.channels.set(id, thread);
    this.#gateway.dispatch('THREAD_CREATE', { ...wireChannel(thread), newly_created: true }, Intent.Guilds, thread.guildId);
    if (input.archived) this.setThreadState(id, { archived: true });
    return id;
  }

  /** Archives or unarchives a thread, and locks or unlocks it, as a moderator would. */
  setThreadState(threadId: string, state: { archived?: boolean; locked?: boolean }): void {
    const channel = this.#channel(threadId);
    if (!channel.thread || !THREAD_TYPES.includes(channel.type)) throw new Error(`local-discord: ${threadId} is not a thread`);
    if (state.archived !== undefined && state.archived !== channel.thread.archived) {
      channel.thread.archived = state.archived;
      channel.thread.archiveTimestamp = new Date(this.#now()).toISOString();
    }
    if (state.locked !== undefined) channel.thread.locked = state.locked;
    this.#channelChanged(channel);
  }

  /** The guild's boost tier (0-3), which sets the bot's upload limit there (10, 10, 50, 100 MiB). */
  setPremiumTier(guildId: string, tier: 0 | 1 | 2 | 3): void {
    const guild = this.#store.guilds.get(guildId);
    if (!guild) throw new Error(`local-discord: no guild ${guildId}`);
    guild.premiumTier = tier;
    this.#gateway.dispatch('GUILD_UPDATE', wireGuild(guild), Intent.Guilds, guildId);
  }

  /**
   * Developer Portal → Bot → Reset Token: the old token gets 401 on REST and its gateway sessions end with
   * 4004. Interaction tokens are not affected. Returns the new token.
   */
  resetToken(newToken = `${this.#token.split('.')[0]}.${this.#ids.next()}`): string {
    this.#token = newToken;
    this.#gateway.closeSessions();
    return newToken;
  }

  /**
   * Command permission overwrites in a guild (Server Settings → Integrations → the app): for one command by
   * name, or for every command without its own (`'*'`). An empty list removes them.
   */
  setCommandPermissions(guildId: string, command: string, permissions: CommandPermission[]): void {
    let id = this.applicationId;
    if (command !== '*') {
      const found = this.#store.findCommand(guildId, command);
      if (!found) throw new Error(`local-discord: /${command} is not registered for guild ${guildId}`);
      id = found.id;
    }
    const key = commandPermissionKey(guildId, id);
    if (permissions.length === 0) this.#store.commandPermissions.delete(key);
    else this.#store.commandPermissions.set(key, structuredClone(permissions));
  }

  /** The overwrite id that stands for every channel of a guild (for `setCommandPermissions`). */
  static allChannels(guildId: string): string {
    return allChannelsId(guildId);
  }

  /**
   * Makes matching REST requests fail with a Discord error (see faults.ts), e.g. the next file upload with
   * 40005, or every edit of one interaction's response with a 500. Returns a handle to count hits and remove it.
   */
  failRequests(rule: FaultRule): FaultHandle {
    return this.#faults.add(rule);
  }

  clearFailures(): void {
    this.#faults.clear();
  }

  /** Every REST call from now on waits this long before it is handled (0: none). */
  setLatency(ms: number): void {
    this.#latencyMs = Math.max(0, ms);
  }

  /** 429s answered and invalid requests counted (zeros when rate limits are off). */
  rateLimitStats(): RateLimitStats {
    return this.#rateLimits?.stats() ?? { rateLimited: 0, globalLimited: 0, invalidLast10Min: 0, invalidTotal: 0 };
  }

  // ---- reading state ------------------------------------------------------------------------------------------

  /**
   * A channel's messages, oldest first. With `viewer`, what that member sees (others' ephemeral messages
   * left out); without it, everything, ephemeral messages included.
   */
  messages(channelId: string, options: { viewer?: string } = {}): LocalMessage[] {
    return this.#store
      .channelMessages(channelId)
      .filter((m) => options.viewer === undefined || m.meta.visibleTo === null || m.meta.visibleTo === options.viewer)
      .map((m) => structuredClone(m.data));
  }

  message(id: string): LocalMessage | undefined {
    const m = this.#store.messages.get(id);
    return m ? structuredClone(m.data) : undefined;
  }

  /** Ephemeral audience, interaction, loading state and the raw `allowed_mentions` of each create/edit. */
  messageMeta(id: string): MessageMeta | undefined {
    const m = this.#store.messages.get(id);
    return m ? structuredClone(m.meta) : undefined;
  }

  /** An uploaded file by attachment id (also served at the attachment's `url`). */
  attachment(id: string): StoredFile | undefined {
    return this.#store.files.get(id);
  }

  interactionResponse(interactionId: string): InteractionState | undefined {
    const record = this.#registry.get(interactionId);
    return record ? this.#registry.state(record) : undefined;
  }

  /** Modals the bot opened and nobody has submitted yet (for one user, if given). */
  openModals(userId?: string): OpenedModal[] {
    return this.#registry.modals
      .filter((m) => !m.submitted && (userId === undefined || m.userId === userId))
      .map((m) => structuredClone(m));
  }

  /** The commands registered for a guild, or the global ones when no guild is given. */
  registeredCommands(guildId?: string): RegisteredCommand[] {
    return [...this.#store.commandScope(guildId ?? null).values()].map((c) => structuredClone(c));
  }

  /** Guilds, channels and members (not the bot), for a UI that lets one person act as several. */
  guilds(): GuildInfo[] {
    return [...this.#store.guilds.values()].map((g) => ({
      id: g.id,
      name: g.name,
      premiumTier: g.premiumTier,
      channels: [...g.channels.values()].map((c) => ({ id: c.id, name: c.name, type: c.type })),
      members: [...g.members.values()]
        .filter((m) => m.userId !== this.botUserId)
        .map((m) => {
          const user = this.#store.users.get(m.userId)!;
          return { id: user.id, username: user.username, globalName: user.globalName, permissions: this.#store.permissions(g.id, user.id).toString() };
        }),
    }));
  }

  /** Resolves with the arguments of the next `event` that passes `predicate`; rejects after `timeoutMs`. */
  waitFor<K extends keyof LocalDiscordEvents>(
    event: K,
    predicate: (...args: LocalDiscordEvents[K]) => boolean = () => true,
    timeoutMs = 5_000,
  ): Promise<LocalDiscordEvents[K]> {
    return new Promise((resolve, reject) => {
      const emitter = this as EventEmitter;
      const listener = (...args: unknown[]) => {
        const typed = args as LocalDiscordEvents[K];
        if (!predicate(...typed)) return;
        clearTimeout(timer);
        emitter.off(event, listener);
        resolve(typed);
      };
      const timer = setTimeout(() => {
        emitter.off(event, listener);
        reject(new Error(`local-discord: no ${String(event)} within ${timeoutMs} ms`));
      }, timeoutMs);
      emitter.on(event, listener);
    });
  }

  /** Closes the gateway sockets and the HTTP server; safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#gateway.close();
    await new Promise<void>((resolve) => {
      this.#http.close(() => resolve());
      // Keep-alive sockets (undici's pool in @discordjs/rest) would otherwise hold close() open.
      this.#http.closeAllConnections();
    });
  }

  // ---- internals ---------------------------------------------------------------------------------------------

  async #listen(port: number, host: string): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#http.once('error', reject);
      this.#http.listen(port, host, () => {
        this.#http.off('error', reject);
        resolve();
      });
    });
    const address = this.#http.address() as AddressInfo;
    const hostPart = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    this.#baseUrl = `http://${hostPart}:${address.port}`;
  }

  async #onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    try {
      if (url === '/api' || url.startsWith('/api/') || url.startsWith('/api?')) {
        await this.#router.handle(req, res, url.slice('/api'.length) || '/');
      } else if (url.startsWith('/attachments/')) {
        this.#serveAttachment(url, req, res);
      } else if (!this.#options.onHttpRequest?.(req, res)) {
        res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
      }
    } catch (err) {
      this.#log('warn', `local-discord: ${req.method} ${url} failed: ${(err as Error).stack ?? String(err)}`);
      if (!res.headersSent) res.writeHead(500);
      res.end();
    }
  }

  /** `/attachments/{channel}/{attachment}/{filename}`, like Discord's CDN paths. */
  #serveAttachment(url: string, req: IncomingMessage, res: ServerResponse): void {
    const [, , , id] = url.split('?')[0]!.split('/');
    const file = this.#store.files.get(id ?? '');
    if (!file) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
      return;
    }
    const headers = { 'Content-Type': file.contentType, 'Accept-Ranges': 'bytes', 'Cache-Control': 'public, max-age=31536000, immutable' };
    // Byte ranges, as Discord's CDN serves them: video players fetch an MP4 in parts.
    const range = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? '');
    if (range && (range[1] || range[2])) {
      const size = file.data.length;
      const start = range[1] ? Number(range[1]) : Math.max(0, size - Number(range[2]));
      const end = range[1] && range[2] ? Math.min(size - 1, Number(range[2])) : size - 1;
      if (start >= size || start > end) {
        res.writeHead(416, { 'Content-Range': `bytes */${size}` }).end();
        return;
      }
      res.writeHead(206, { ...headers, 'Content-Range': `bytes ${start}-${end}/${size}`, 'Content-Length': end - start + 1 });
      res.end(req.method === 'HEAD' ? undefined : file.data.subarray(start, end + 1));
      return;
    }
    res.writeHead(200, { ...headers, 'Content-Length': file.data.length });
    res.end(req.method === 'HEAD' ? undefined : file.data);
  }

  #channel(channelId: string): ChannelState {
    const channel = this.#store.channels.get(channelId);
    if (!channel) throw new Error(`local-discord: no channel ${channelId}`);
    return channel;
  }

  /** Tells the bot's sessions that a channel or thread changed (overwrites, archive state). */
  #channelChanged(channel: ChannelState): void {
    this.#gateway.dispatch(channel.thread ? 'THREAD_UPDATE' : 'CHANNEL_UPDATE', wireChannel(channel), Intent.Guilds, channel.guildId);
  }

  #publish(event: 'messageCreate' | 'messageUpdate', gatewayEvent: string, m: StoredMessage): void {
    // The bot only hears about messages through the gateway with the GuildMessages intent, and never
    // about ephemeral ones (the deferred placeholder included).
    if (m.meta.visibleTo === null) {
      const guild = this.#store.guilds.get(m.meta.guildId ?? '');
      const member = guild?.members.get(m.data.author.id);
      this.#gateway.dispatch(
        gatewayEvent,
        { ...m.data, guild_id: m.meta.guildId, ...(member && !m.data.webhook_id ? { member: wireMember(this.#store, member, false) } : {}) },
        Intent.GuildMessages,
        m.meta.guildId,
      );
    }
    this.#emit(event, structuredClone(m.data), structuredClone(m.meta));
  }

  /** Listener errors must not turn into failed REST requests for the bot. */
  #emit<K extends keyof LocalDiscordEvents>(event: K, ...args: LocalDiscordEvents[K]): void {
    try {
      (this as EventEmitter).emit(event, ...args);
    } catch (err) {
      this.#log('warn', `local-discord: a '${String(event)}' listener threw: ${(err as Error).stack ?? String(err)}`);
    }
  }
}
