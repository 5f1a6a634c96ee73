/**
 * The playground's one guild: two text channels and four members (alice can manage the server, so she can
 * try /settings), plus the bot user. Fixed snowflakes, so a page reload or a restart keeps the same ids.
 */
import { Permission, type GuildSeed, type UserSeed } from '../local-discord/index.ts';

export const PLAYGROUND_GUILD_ID = '1300000000000000100';
export const PLAYGROUND_BOT: UserSeed = { id: '1300000000000000001', username: 'latentwalk' };

export const PLAYGROUND_CHANNELS = {
  general: '1300000000000000101',
  renders: '1300000000000000102',
} as const;

export const PLAYGROUND_MEMBERS = {
  alice: '1300000000000000201',
  bob: '1300000000000000202',
  carol: '1300000000000000203',
  dave: '1300000000000000204',
} as const;

export function playgroundGuild(): GuildSeed {
  return {
    id: PLAYGROUND_GUILD_ID,
    name: 'Latent Space',
    channels: [
      { id: PLAYGROUND_CHANNELS.general, name: 'general', topic: 'Try /morph, /grid, /loop, /walk or /chain' },
      { id: PLAYGROUND_CHANNELS.renders, name: 'renders', topic: 'More room for renders' },
    ],
    members: [
      {
        id: PLAYGROUND_MEMBERS.alice,
        username: 'alice',
        globalName: 'Alice',
        permissions: (Permission.ManageGuild | Permission.ManageMessages).toString(),
      },
      { id: PLAYGROUND_MEMBERS.bob, username: 'bob', globalName: 'Bob' },
      { id: PLAYGROUND_MEMBERS.carol, username: 'carol', globalName: 'Carol' },
      { id: PLAYGROUND_MEMBERS.dave, username: 'dave', globalName: 'Dave' },
    ],
  };
}
