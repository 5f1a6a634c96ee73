/**
 * What commands and interaction handlers get: the services of one running bot. Nothing in here is
 * process-global; a restarted bot builds a new set over the same Redis.
 */
import type { ChatInputCommandInteraction, Client, RESTPostAPIChatInputApplicationCommandsJSONBody } from 'discord.js';
import type { JobLimits, JobProducer } from '../jobs/index.ts';
import type { BoardStore } from './boards/BoardStore.ts';
import type { BotConfig } from './config.ts';
import type { CustomIds } from './customIds.ts';
import type { GuildSettingsStore } from './GuildSettings.ts';
import type { BotMetricsSink } from '../ops/metrics.ts';
import type { Logger } from './log.ts';
import type { PendingReplies } from './PendingReplies.ts';
import type { ModelLexicons } from './PromptSuggestions.ts';
import type { JobMessages } from './replies/JobMessages.ts';

/**
 * The part of the job layer's producer the bot uses (the bot never imports the worker or the engine).
 * JobProducer satisfies it; tests may pass a stand-in.
 */
export type JobsPort = Pick<
  JobProducer,
  | 'submit'
  | 'hold'
  | 'releaseHold'
  | 'position'
  | 'get'
  | 'list'
  | 'cancel'
  | 'fetchArtifact'
  | 'deleteArtifact'
  | 'onProgress'
  | 'resultConsumer'
  | 'config'
  | 'workers'
  | 'inputImages'
  | 'previews'
>;

export interface BotServices {
  config: BotConfig;
  client: Client<true>;
  jobs: JobsPort;
  pending: PendingReplies;
  boards: BoardStore;
  guildSettings: GuildSettingsStore;
  messages: JobMessages;
  ids: CustomIds;
  log: Logger;
  /** The bot's clock (token expiry, board expiry); injectable for tests. */
  now: () => number;
  /** Counters for /metrics (absent when metrics are off). */
  metrics?: BotMetricsSink | undefined;
  /** What the live models know (prompt suggestions, autocomplete). */
  lexicons: ModelLexicons;
}

/** One slash command: its registration data and its handler. Commands validate and queue; they never render. */
export interface SlashCommand {
  name: string;
  /** What is registered with Discord; option bounds come from the limits the bot enforces. */
  definition(limits: JobLimits): RESTPostAPIChatInputApplicationCommandsJSONBody;
  execute(interaction: ChatInputCommandInteraction, bot: BotContext): Promise<void>;
}

/** Services plus the flows built on them (what a command's execute receives). */
export interface BotContext extends BotServices {
  render: import('./RenderService.ts').RenderService;
  boardFlow: import('./boards/BoardFlow.ts').BoardFlow;
  chainFlow: import('./boards/ChainFlow.ts').ChainFlow;
}
