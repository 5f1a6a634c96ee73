/**
 * Public types of the local Discord server: its options, the wire objects it hands out (Discord API v10
 * shapes, typed loosely where the bot supplies the content) and the records that tests and the playground read.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { APIEmbed, APIModalInteractionResponseCallbackData } from 'discord.js';
import type { PermissionOverwrite } from './permissions.ts';
import type { RateLimitOptions } from './rest/ratelimits.ts';

export type { PermissionOverwrite };

// ---- options -------------------------------------------------------------------------------------------

export interface UserSeed {
  id: string;
  username: string;
  globalName?: string | null;
  avatar?: string | null;
}

export interface MemberSeed extends UserSeed {
  /** Guild-level permission bitfield (decimal string). Becomes a role of its own; unset: only @everyone. */
  permissions?: string;
  /** Extra role ids (from `GuildSeed.roles`). */
  roles?: string[];
  nick?: string | null;
  joinedAt?: string;
  locale?: string;
}

export interface ChannelSeed {
  id: string;
  name: string;
  /** 0 guild text, 11 public thread (needs `parentId`). Other types are stored and listed only. */
  type?: number;
  topic?: string | null;
  position?: number;
  permissionOverwrites?: PermissionOverwrite[];
  /** A thread's text channel (listed before it); the thread takes its permissions from there. */
  parentId?: string;
  /** Threads: archived (a message unarchives it unless it is also locked). */
  archived?: boolean;
  locked?: boolean;
}

/** An application command permission overwrite (Server Settings → Integrations), as Discord stores it. */
export interface CommandPermission {
  /** A role id (the guild id is @everyone), a user id, or a channel id (guild id - 1: all channels). */
  id: string;
  /** 1 role, 2 user, 3 channel */
  type: 1 | 2 | 3;
  permission: boolean;
}

export interface RoleSeed {
  id: string;
  name: string;
  permissions: string;
}

export interface GuildSeed {
  id: string;
  name: string;
  channels: ChannelSeed[];
  members: MemberSeed[];
  roles?: RoleSeed[];
  /** 0-3; sets the bot's upload limit in this guild (10, 10, 50, 100 MiB). */
  premiumTier?: number;
  /** Permissions of @everyone; default: what a fresh server grants. */
  everyonePermissions?: string;
  /** Permissions of the bot's managed role; default: no Administrator, the usual send/embed/attach set. */
  botPermissions?: string;
  /** The owner has every permission; default: a user that is not one of the seeded members. */
  ownerId?: string;
  preferredLocale?: string;
}

export type LogLevel = 'debug' | 'info' | 'warn';
export type LogFn = (level: LogLevel, message: string) => void;

export interface LocalDiscordOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  /** Default 127.0.0.1: the server is not reachable from other machines unless asked. */
  host?: string;
  /** The bot token the gateway and `Authorization: Bot` accept. */
  token?: string;
  applicationId?: string;
  botUser?: UserSeed;
  guilds?: GuildSeed[];
  /** How long interaction tokens (webhook routes) live; Discord: 15 minutes. */
  interactionTokenTtlMs?: number;
  /** Deadline for the initial interaction response; Discord: 3 seconds. */
  interactionResponseDeadlineMs?: number;
  /** Injectable clock (ms since epoch) for token expiry, deadlines, timestamps and snowflakes. */
  now?: () => number;
  /** Sent in every interaction as `attachment_size_limit`; default: the guild's boost-tier limit. */
  attachmentSizeLimit?: number;
  /** How long the URL of an attachment an edit dropped (or of a deleted message) keeps working; default 30 s, 0: not at all. */
  droppedFileTtlMs?: number;
  heartbeatIntervalMs?: number;
  /** `GET /gateway/bot` recommends one shard per this many guilds (default 1000, as Discord). */
  guildsPerShard?: number;
  /** A gateway session that would carry more guilds is closed with 4011 "sharding required" (default 2500, as Discord). */
  maxGuildsPerSession?: number;
  /** `session_start_limit.max_concurrency`: shards that may identify at once (default 1; Discord gives big bots 16). */
  maxConcurrency?: number;
  /**
   * Enforce Discord's REST rate limits (per-route buckets, the global 50/s, 429s with `retry_after`), and count
   * invalid requests: true for Discord's defaults, or the buckets to use. Default off: headers that never
   * make a client wait.
   */
  rateLimits?: boolean | RateLimitOptions;
  /** Milliseconds every REST call waits before it is handled (a slow network); changeable with `setLatency`. */
  latencyMs?: number;
  /** Privileged intents the application is allowed (bits of GuildMembers, GuildPresences, MessageContent). */
  allowedPrivilegedIntents?: number;
  /** Oldest entries of `requests` are dropped beyond this many (a long playground session). Default 10000. */
  requestLogLimit?: number;
  /** Accept slash commands whose name was never registered (Discord would not offer them). */
  allowUnregisteredCommands?: boolean;
  /** Default: warnings to stderr, nothing else. */
  log?: LogFn;
  /**
   * Lets an embedding feature (the playground) serve its own pages and sockets on the same port. Called
   * for paths outside `/api`, `/attachments` and `/gateway`; return true when handled.
   */
  onHttpRequest?: (req: IncomingMessage, res: ServerResponse) => boolean;
  onUpgrade?: (req: IncomingMessage, socket: Duplex, head: Buffer) => boolean;
}

// ---- wire objects ---------------------------------------------------------------------------------------

export interface WireUser {
  id: string;
  username: string;
  discriminator: string;
  global_name: string | null;
  avatar: string | null;
  bot?: boolean;
  public_flags: number;
}

export interface LocalAttachment {
  id: string;
  filename: string;
  size: number;
  url: string;
  proxy_url: string;
  content_type: string;
  width?: number;
  height?: number;
  description?: string;
  title?: string;
  ephemeral?: boolean;
}

export interface WireInteractionMetadata {
  id: string;
  type: number;
  user: WireUser;
  authorizing_integration_owners: Record<string, string>;
  name?: string;
  command_type?: number;
  original_response_message_id?: string;
  interacted_message_id?: string;
  triggering_interaction_metadata?: WireInteractionMetadata;
}

export interface WireMessageReference {
  type: number;
  message_id: string;
  channel_id: string;
  guild_id?: string;
}

/** A message as the bot receives it from REST (and the playground renders it). */
export interface LocalMessage {
  id: string;
  type: number;
  channel_id: string;
  author: WireUser;
  content: string;
  timestamp: string;
  edited_timestamp: string | null;
  tts: boolean;
  mention_everyone: boolean;
  mentions: WireUser[];
  mention_roles: string[];
  attachments: LocalAttachment[];
  embeds: APIEmbed[];
  /** Action rows (or Components V2), as the bot sent them. */
  components: unknown[];
  pinned: boolean;
  flags: number;
  nonce?: string | number;
  webhook_id?: string;
  application_id?: string;
  interaction_metadata?: WireInteractionMetadata;
  message_reference?: WireMessageReference;
  referenced_message?: LocalMessage | null;
}

export interface AllowedMentionsRecord {
  at: 'create' | 'edit';
  /** Exactly what the request carried; `undefined` when the field was absent (Discord then parses everything). */
  value: unknown;
}

/** What the server knows about a message beyond its wire form. */
export interface MessageMeta {
  id: string;
  channelId: string;
  guildId: string | null;
  /** Ephemeral messages are seen only by this user (and never by the bot's channel routes). */
  visibleTo: string | null;
  interactionId: string | null;
  /** The deferred "thinking" placeholder that no edit has filled yet. */
  loading: boolean;
  allowedMentions: AllowedMentionsRecord[];
  editCount: number;
}

export interface StoredFile {
  id: string;
  filename: string;
  contentType: string;
  data: Buffer;
}

// ---- interactions -----------------------------------------------------------------------------------------

export interface SlashOptionInput {
  name: string;
  /** Optional when the command is registered: taken from its option definition. */
  type?: number;
  value?: string | number | boolean;
  options?: SlashOptionInput[];
  focused?: boolean;
}

export interface SlashCommandInput {
  guildId: string;
  channelId: string;
  userId: string;
  name: string;
  options?: SlashOptionInput[];
}

/** A member runs a message context menu command ("Apps" on a message): INTERACTION_CREATE type 2, data.type 3. */
export interface MessageCommandInput {
  userId: string;
  /** The command's name as registered (type 3), e.g. "Morph from this image". */
  name: string;
  messageId: string;
}

/** A member posts a message of their own, with files. */
export interface UserMessageInput {
  channelId: string;
  userId: string;
  content?: string;
  files?: { filename: string; data: Buffer | Uint8Array; contentType?: string }[];
}

export interface ButtonClickInput {
  messageId: string;
  customId: string;
  userId: string;
}

export interface ModalSubmitInput {
  customId: string;
  userId: string;
  /** Values by text input custom id; string arrays for selects inside labels. */
  fields: Record<string, string | string[]>;
  channelId?: string;
  guildId?: string;
  /** The message whose component opened the modal; default: the one recorded when it was opened. */
  messageId?: string;
}

export interface AutocompleteInput extends SlashCommandInput {}

export interface InteractionHandle {
  interactionId: string;
  token: string;
  /** How many connected bot sessions received the INTERACTION_CREATE (0: the bot is offline). */
  delivered: number;
}

export interface InteractionState {
  id: string;
  token: string;
  /** 2 command, 3 component, 4 autocomplete, 5 modal submit */
  type: number;
  guildId: string;
  channelId: string;
  userId: string;
  commandName: string | null;
  customId: string | null;
  /** The message a component sat on (type 3), or that a modal was opened from. */
  sourceMessageId: string | null;
  createdAt: number;
  tokenExpiresAt: number;
  acknowledged: boolean;
  /** Milliseconds between creation and the initial callback. */
  acknowledgedAfterMs: number | null;
  /** The callback type used (4 reply, 5 defer, 6 deferred update, 7 update, 8 autocomplete, 9 modal). */
  responseType: number | null;
  deferred: boolean;
  ephemeral: boolean;
  modalShown: boolean;
  modal: APIModalInteractionResponseCallbackData | null;
  originalMessageId: string | null;
  followUpIds: string[];
  autocompleteChoices: unknown[] | null;
}

export interface OpenedModal {
  interactionId: string;
  userId: string;
  guildId: string;
  channelId: string;
  messageId: string | null;
  openedAt: number;
  modal: APIModalInteractionResponseCallbackData;
  submitted: boolean;
}

// ---- requests and events ----------------------------------------------------------------------------------

export interface RecordedFile {
  field: string;
  filename: string;
  size: number;
  contentType: string;
}

export interface RecordedRequest {
  method: string;
  /** The route template, e.g. `/webhooks/:applicationId/:token/messages/:messageId`. */
  route: string;
  /** The path after the version prefix, decoded (interaction tokens included). */
  path: string;
  query: Record<string, string>;
  status: number;
  /** The JSON body (`payload_json` for multipart). */
  body: unknown;
  files: RecordedFile[];
  /** Whether a valid `Authorization: Bot` header came with it. */
  authorized: boolean;
  /** Server clock when it arrived. */
  at: number;
  /** The JSON error code, when it failed. */
  errorCode?: number;
}

export interface RegisteredCommand {
  id: string;
  application_id: string;
  version: string;
  type: number;
  name: string;
  description: string;
  options?: unknown[];
  default_member_permissions: string | null;
  nsfw: boolean;
  contexts: number[] | null;
  integration_types: number[];
  guild_id?: string;
  [key: string]: unknown;
}

export interface LocalDiscordEvents {
  messageCreate: [message: LocalMessage, meta: MessageMeta];
  messageUpdate: [message: LocalMessage, meta: MessageMeta];
  messageDelete: [info: { id: string; channelId: string; guildId: string | null }];
  interactionResponse: [state: InteractionState];
  modal: [modal: OpenedModal];
  commandsUpdate: [info: { guildId: string | null; commands: RegisteredCommand[] }];
  request: [request: RecordedRequest];
}
