/** Guild reads: the guild, its channels, roles and members (what `guilds.fetch` and friends call). */
import { Errors } from '../../errors.ts';
import { wireChannel, wireGuild, wireMember, wireRole } from '../../payloads.ts';
import type { GuildState } from '../../store.ts';
import type { RestContext } from '../context.ts';
import { ok, type Route, type RouteRequest } from '../router.ts';

export function guildRoutes(ctx: RestContext): Route[] {
  const { store } = ctx;
  const guildOf = (req: RouteRequest): GuildState => {
    const guild = store.guilds.get(req.params.guildId ?? '');
    if (!guild) throw Errors.unknownGuild();
    return guild;
  };
  return [
    {
      method: 'GET',
      pattern: '/guilds/:guildId',
      auth: true,
      handle: (req) => {
        const guild = guildOf(req);
        const counts = req.query.get('with_counts') === 'true'
          ? { approximate_member_count: guild.members.size, approximate_presence_count: guild.members.size }
          : {};
        return ok({ ...wireGuild(guild), ...counts });
      },
    },
    { method: 'GET', pattern: '/guilds/:guildId/channels', auth: true, handle: (req) => ok([...guildOf(req).channels.values()].map(wireChannel)) },
    { method: 'GET', pattern: '/guilds/:guildId/roles', auth: true, handle: (req) => ok([...guildOf(req).roles.values()].map(wireRole)) },
    {
      method: 'GET',
      pattern: '/guilds/:guildId/members/:userId',
      auth: true,
      handle: (req) => {
        const member = guildOf(req).members.get(req.params.userId ?? '');
        if (!member) throw Errors.unknownMember();
        return ok(wireMember(store, member));
      },
    },
    {
      method: 'GET',
      pattern: '/guilds/:guildId/members',
      auth: true,
      handle: (req) => {
        const limit = Math.min(Math.max(Number(req.query.get('limit') ?? 1) || 1, 1), 1000);
        return ok([...guildOf(req).members.values()].slice(0, limit).map((m) => wireMember(store, m)));
      },
    },
  ];
}
