/**
 * The whole bot stack for end-to-end tests, on 127.0.0.1 only:
 * - a private redis-server (AOF, noeviction) from harness/redis.ts;
 * - LocalDiscord (gateway + REST) with an injectable clock, one guild of five members and three channels
 *   (one where the bot may not attach files);
 * - a real `latentwalk worker` process rendering the tiny model pack;
 * - the bot itself (BotApp: the real discord.js client) in this process, restartable against the same Redis.
 *
 * Plus the user's side: run a slash command as a member, click a button, submit a modal, and read what the
 * bot answered.
 */
import assert from 'node:assert/strict';
import { BotApp } from '../../src/bot/BotApp.ts';
import { loadBotConfig, type BotConfig } from '../../src/bot/config.ts';
import { createLogger, silentLogger, type Logger } from '../../src/bot/log.ts';
import type { BotMetricsSink } from '../../src/ops/metrics.ts';
import { registerCommands } from '../../src/cli/register-commands.ts';
import type { JobsConfig, JobsConfigOverrides } from '../../src/jobs/index.ts';
import { LocalDiscord, Permission, type InteractionHandle, type InteractionState, type LocalMessage, type SlashOptionInput } from '../../src/local-discord/index.ts';
import { TINY_PACK } from './packs.ts';
import { TestRedis, spawnLatentwalk, testJobsConfig, waitFor, type CliProcess } from './redis.ts';

export const TOKEN = 'latentwalk-e2e-bot-token.0123456789abcdef';
export const GUILD = '1500000000000000100';
export const GENERAL = '1500000000000000101';
export const RENDERS = '1500000000000000102';
/** The bot lacks Attach Files here. */
export const NO_FILES = '1500000000000000103';
export const BOT_ID = '1500000000000000001';
/** More servers (with `guilds: 3`), each with its own #general and the same members. */
export const GUILD2 = '1500000000000000110';
export const GENERAL2 = '1500000000000000111';
export const GUILD3 = '1500000000000000120';
export const GENERAL3 = '1500000000000000121';
const MORE_GUILDS = [
  { id: GUILD2, name: 'Second Space', general: GENERAL2 },
  { id: GUILD3, name: 'Third Space', general: GENERAL3 },
];

export const USERS = {
  /** Manage Server + Manage Messages. */
  alice: '1500000000000000201',
  bob: '1500000000000000202',
  carol: '1500000000000000203',
  dave: '1500000000000000204',
  erin: '1500000000000000205',
} as const;
export type UserName = keyof typeof USERS;

export interface StackOptions {
  /** Start a render worker (default true). */
  worker?: boolean;
  /** Extra environment for the worker process. */
  workerEnv?: Record<string, string>;
  jobs?: JobsConfigOverrides;
  bot?: Partial<Omit<BotConfig, 'jobs' | 'token'>>;
  /** Print the bot's logs (LATENTWALK_E2E_LOG=1 does too). */
  verbose?: boolean;
  /** The upload limit LocalDiscord states in every interaction (`attachment_size_limit`); default: the boost tier's. */
  attachmentSizeLimit?: number;
  /** Servers the bot is in: GUILD alone (default), or GUILD, GUILD2 and GUILD3. */
  guilds?: 1 | 3;
  /** The bot's logger (default: silent, or debug lines on stderr with LATENTWALK_E2E_LOG=1). */
  log?: Logger;
  /** The bot's metrics. */
  metrics?: BotMetricsSink;
}

export class Stack {
  /** How far LocalDiscord's clock runs ahead of real time (interaction token expiry). */
  skewMs = 0;
  /** How far the bot's clock runs ahead of real time (board expiry). */
  botSkewMs = 0;
  bot: BotApp | undefined;
  worker: CliProcess | undefined;
  readonly botConfig: BotConfig;
  private readonly log: Logger;

  private constructor(
    readonly redis: TestRedis,
    readonly discord: LocalDiscord,
    readonly jobsConfig: JobsConfig,
    private readonly options: StackOptions,
    clockRef: { stack?: Stack },
  ) {
    clockRef.stack = this;
    this.botConfig = loadBotConfig(
      { DISCORD_TOKEN: TOKEN },
      {
        apiUrl: discord.restUrl,
        progressIntervalMs: 250,
        boardSweepMs: 200,
        boardTtlMs: 60_000,
        instance: 'bot-e2e',
        logLevel: 'debug',
        ...options.bot,
        jobs: jobsConfig,
      },
    );
    const verbose = options.verbose || process.env['LATENTWALK_E2E_LOG'] === '1';
    this.log = options.log ?? (verbose ? createLogger({ level: 'debug', token: TOKEN }) : silentLogger);
  }

  static async start(options: StackOptions = {}): Promise<Stack> {
    const redis = await TestRedis.start();
    const clockRef: { stack?: Stack } = {};
    const discord = await LocalDiscord.start({
      token: TOKEN,
      botUser: { id: BOT_ID, username: 'latentwalk' },
      ...(options.attachmentSizeLimit !== undefined ? { attachmentSizeLimit: options.attachmentSizeLimit } : {}),
      now: () => Date.now() + (clockRef.stack?.skewMs ?? 0),
      log: (level, message) => {
        if (level === 'warn' && process.env['LATENTWALK_E2E_LOG'] === '1') process.stderr.write(`${message}\n`);
      },
      guilds: [
        ...(options.guilds === 3
          ? MORE_GUILDS.map((g) => ({ id: g.id, name: g.name, channels: [{ id: g.general, name: 'general' }], members: Object.entries(USERS).map(([username, id]) => ({ id, username })) }))
          : []),
        {
          id: GUILD,
          name: 'Latent Space',
          channels: [
            { id: GENERAL, name: 'general' },
            { id: RENDERS, name: 'renders' },
            {
              id: NO_FILES,
              name: 'no-files',
              permissionOverwrites: [{ id: BOT_ID, type: 1, allow: '0', deny: Permission.AttachFiles.toString() }],
            },
          ],
          members: [
            { id: USERS.alice, username: 'alice', globalName: 'Alice', permissions: (Permission.ManageGuild | Permission.ManageMessages).toString() },
            { id: USERS.bob, username: 'bob', globalName: 'Bob' },
            { id: USERS.carol, username: 'carol', globalName: 'Carol' },
            { id: USERS.dave, username: 'dave', globalName: 'Dave' },
            { id: USERS.erin, username: 'erin', globalName: 'Erin' },
          ],
        },
      ],
    });
    const jobsConfig = testJobsConfig(redis, {
      ...options.jobs,
      caps: { perGuild: 50, perUser: 10, ...options.jobs?.caps },
      worker: { modelDir: TINY_PACK, ...options.jobs?.worker },
      // Live previews only where a test asks for them (bot-e2e-previews): elsewhere a message's first
      // attachment is its result.
      preview: { maxBytes: 0, ...options.jobs?.preview },
    });
    const stack = new Stack(redis, discord, jobsConfig, options, clockRef);
    try {
      for (const guildId of [GUILD, ...(options.guilds === 3 ? MORE_GUILDS.map((g) => g.id) : [])]) {
        await registerCommands({ token: TOKEN, apiUrl: discord.restUrl, applicationId: undefined }, jobsConfig.limits, guildId);
      }
      if (options.worker !== false) await stack.startWorker();
      await stack.startBot();
    } catch (error) {
      await stack.stop();
      throw error;
    }
    return stack;
  }

  /** Starts the render worker (always named e2e-worker) on `model`, by default the tiny pack (any size); `env` over the stack's. */
  async startWorker(model = TINY_PACK, env: Record<string, string> = {}): Promise<CliProcess> {
    const worker = spawnLatentwalk(this.jobsConfig, ['worker', '--model', model, '--name', 'e2e-worker'], {
      LATENTWALK_LOCK_MS: '5000',
      LATENTWALK_STALLED_INTERVAL_MS: '1000',
      ...this.options.workerEnv,
      ...env,
    });
    await worker.waitForOutput(/ready:/, 60_000);
    this.worker = worker;
    return worker;
  }

  async stopWorker(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    if (!worker) return;
    worker.child.kill('SIGKILL');
    await worker.exited;
  }

  async startBot(): Promise<BotApp> {
    this.bot = await BotApp.start(this.botConfig, {
      log: this.log,
      waitGuildTimeoutMs: 2000,
      now: () => Date.now() + this.botSkewMs,
      ...(this.options.metrics ? { metrics: this.options.metrics } : {}),
    });
    return this.bot;
  }

  async stopBot(): Promise<void> {
    const bot = this.bot;
    this.bot = undefined;
    await bot?.stop();
  }

  async stop(): Promise<void> {
    await this.stopBot().catch(() => undefined);
    await this.stopWorker().catch(() => undefined);
    await this.discord.close().catch(() => undefined);
    await this.redis.stop().catch(() => undefined);
  }

  // ---- the user's side --------------------------------------------------------------------------------------

  /** `/name` with options (values only; LocalDiscord takes the types from the registered command). */
  async slash(user: UserName, name: string, options: Record<string, string | number | boolean> = {}, channelId = GENERAL, guildId = GUILD): Promise<InteractionHandle> {
    const list: SlashOptionInput[] = Object.entries(options).map(([key, value]) => ({ name: key, value }));
    return this.discord.slashCommand({ guildId, channelId, userId: USERS[user], name, options: list });
  }

  /** `/settings <sub>` style commands with one subcommand level. */
  async slashSub(user: UserName, name: string, sub: string, options: Record<string, string | number | boolean> = {}): Promise<InteractionHandle> {
    const list: SlashOptionInput[] = Object.entries(options).map(([key, value]) => ({ name: key, value }));
    return this.discord.slashCommand({ guildId: GUILD, channelId: GENERAL, userId: USERS[user], name, options: [{ name: sub, options: list }] });
  }

  async click(user: UserName, messageId: string, customId: string): Promise<InteractionHandle> {
    return this.discord.clickButton({ messageId, customId, userId: USERS[user] });
  }

  /** Clicks the button whose label contains `label` on a message. */
  async clickLabel(user: UserName, messageId: string, label: string): Promise<InteractionHandle> {
    return this.click(user, messageId, buttonId(this.message(messageId), label));
  }

  /** `fields`: text by input id; a file upload takes the ids of files uploaded first (discord.uploadAttachment). */
  async submit(user: UserName, customId: string, fields: Record<string, string | string[]>): Promise<InteractionHandle> {
    return this.discord.submitModal({ customId, userId: USERS[user], fields });
  }

  // ---- reading back ----------------------------------------------------------------------------------------

  message(id: string): LocalMessage {
    const message = this.discord.message(id);
    assert.ok(message, `no message ${id}`);
    return message;
  }

  /** The interaction's state once the bot has acknowledged it. */
  async acknowledged(handle: InteractionHandle, timeoutMs = 5000): Promise<InteractionState> {
    return waitFor(`a response to interaction ${handle.interactionId}`, () => {
      const state = this.discord.interactionResponse(handle.interactionId);
      return state?.acknowledged ? state : undefined;
    }, timeoutMs);
  }

  /** The original response message once it has content (not the "thinking" placeholder). */
  async reply(handle: InteractionHandle, timeoutMs = 5000): Promise<LocalMessage> {
    return waitFor(`the reply to interaction ${handle.interactionId}`, () => {
      const state = this.discord.interactionResponse(handle.interactionId);
      const id = state?.originalMessageId;
      if (!id) return undefined;
      const meta = this.discord.messageMeta(id);
      if (!meta || meta.loading) return undefined;
      return this.discord.message(id);
    }, timeoutMs);
  }

  /**
   * The text of the ephemeral answer the bot gave to an interaction: its reply, or the first follow-up
   * (after a deferred reply), asserted to be ephemeral.
   */
  async ephemeral(handle: InteractionHandle, timeoutMs = 5000): Promise<string> {
    const message = await waitFor(`an ephemeral answer to ${handle.interactionId}`, () => {
      const state = this.discord.interactionResponse(handle.interactionId);
      if (!state) return undefined;
      for (const id of [state.originalMessageId, ...state.followUpIds]) {
        if (!id) continue;
        const meta = this.discord.messageMeta(id);
        if (meta && !meta.loading && meta.visibleTo !== null) return this.discord.message(id);
      }
      return undefined;
    }, timeoutMs);
    return message.content;
  }

  /** Waits until `check` on the message passes (it is re-read each time). */
  async waitForMessage(id: string, what: string, check: (message: LocalMessage) => boolean, timeoutMs = 30_000): Promise<LocalMessage> {
    return waitFor(`message ${id}: ${what}`, () => {
      const message = this.discord.message(id);
      return message && check(message) ? message : undefined;
    }, timeoutMs);
  }

  /**
   * Every message-carrying request the bot sent (creates, edits, replies, updates, follow-ups): its route and
   * the raw `allowed_mentions` it carried. A deferral or a modal carries no message and is left out.
   */
  messageRequests(): { route: string; allowedMentions: unknown }[] {
    type Body = { type?: number; content?: unknown; embeds?: unknown; allowed_mentions?: unknown; data?: Body };
    return this.discord.requests
      .filter((r) => ['POST', 'PATCH'].includes(r.method))
      .map((r) => {
        const body = r.body as Body | undefined;
        const message = r.route.endsWith('/callback') ? ([4, 7].includes(body?.type ?? 0) ? body?.data : undefined) : body;
        return { route: `${r.method} ${r.route}`, message };
      })
      .filter((r) => r.message && (r.message.content !== undefined || r.message.embeds !== undefined))
      .map((r) => ({ route: r.route, allowedMentions: r.message!.allowed_mentions }));
  }
}

/** The custom id of the button whose label contains `label`. */
export function buttonId(message: LocalMessage, label: string): string {
  const found = buttons(message).find((b) => (b.label ?? '').includes(label));
  assert.ok(found, `no button "${label}" on message ${message.id}: ${JSON.stringify(buttons(message).map((b) => b.label))}`);
  return found.custom_id;
}

export function buttons(message: LocalMessage): { label?: string; custom_id: string }[] {
  const out: { label?: string; custom_id: string }[] = [];
  const walk = (components: unknown) => {
    if (!Array.isArray(components)) return;
    for (const c of components as { type?: number; label?: string; custom_id?: string; components?: unknown }[]) {
      if (c.type === 2 && c.custom_id) out.push({ custom_id: c.custom_id, ...(c.label !== undefined ? { label: c.label } : {}) });
      walk(c.components);
    }
  };
  walk(message.components);
  return out;
}

export { waitFor };
