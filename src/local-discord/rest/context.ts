/** What the REST routes need from the server; LocalDiscord builds one. */
import type { InteractionResponder } from '../interactions/respond.ts';
import type { MessageService } from '../messages.ts';
import type { SnowflakeGenerator } from '../snowflake.ts';
import type { ChannelState, Store } from '../store.ts';

export interface RestContext {
  store: Store;
  applicationId: string;
  messages: MessageService;
  responder: InteractionResponder;
  ids: SnowflakeGenerator;
  now: () => number;
  gatewayUrl: () => string;
  /** What `GET /gateway/bot` recommends: the shard count and how many shards may identify at once. */
  gatewayBot: () => { shards: number; maxConcurrency: number };
  /** Called after a command route changed the registered commands of a guild (or global: null). */
  commandsChanged: (guildId: string | null) => void;
  /** Called after a request changed a channel (a message unarchived its thread): tells the bot's sessions. */
  channelChanged: (channel: ChannelState) => void;
}
