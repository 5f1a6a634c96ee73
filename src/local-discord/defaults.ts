/**
 * What the server starts with when the caller gives nothing: one bot, one guild with two text channels and
 * four members (enough to fill a 2x2 board as four people). Fixed ids, so links and tests stay stable.
 */
import { Permission } from './permissions.ts';
import type { GuildSeed, UserSeed } from './types.ts';

export const DEFAULT_TOKEN = 'local-discord-bot-token';

export const DEFAULT_BOT_USER: UserSeed = { id: '1300000000000000001', username: 'LocalBot' };

export const DEFAULT_GUILD: GuildSeed = {
  id: '1300000000000000100',
  name: 'Local Playground',
  channels: [
    { id: '1300000000000000101', name: 'general', type: 0 },
    { id: '1300000000000000102', name: 'renders', type: 0 },
  ],
  members: [
    { id: '1300000000000000201', username: 'alice', globalName: 'Alice', permissions: (Permission.ManageGuild | Permission.ManageMessages).toString() },
    { id: '1300000000000000202', username: 'bob', globalName: 'Bob' },
    { id: '1300000000000000203', username: 'carol', globalName: 'Carol' },
    { id: '1300000000000000204', username: 'dave', globalName: 'Dave' },
  ],
};

export const DEFAULT_HEARTBEAT_INTERVAL_MS = 41_250;
export const DEFAULT_TOKEN_TTL_MS = 15 * 60_000;
export const DEFAULT_RESPONSE_DEADLINE_MS = 3_000;
export const DEFAULT_ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024;
/** Discord recommends about one shard per 1,000 guilds, and requires sharding past 2,500 guilds a session. */
export const DEFAULT_GUILDS_PER_SHARD = 1000;
export const DEFAULT_MAX_GUILDS_PER_SESSION = 2500;
