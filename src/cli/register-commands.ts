/**
 * `latentwalk register-commands [--guild ID] [--print]`: registers the slash commands with Discord, globally
 * (can take up to an hour to show everywhere) or in one guild (at once; handy while developing). Reads
 * DISCORD_TOKEN, and DISCORD_API_URL / DISCORD_APPLICATION_ID when set; the application id is otherwise asked
 * from Discord. The option bounds come from the configured limits (LATENTWALK_MAX_*), the ones the bot
 * enforces. What Discord has is compared with what is wanted first; the commands are replaced as a set (PUT)
 * only when they differ, so removed commands disappear and an unchanged start registers nothing.
 */
import { parseArgs } from 'node:util';
import {
  REST,
  Routes,
  type RESTGetAPIApplicationCommandsResult,
  type RESTGetCurrentApplicationResult,
  type RESTPutAPIApplicationCommandsResult,
} from 'discord.js';
import { loadDiscordSettings, type DiscordSettings } from '../bot/config.ts';
import { applicationCommandPayloads } from '../commands/index.ts';
import { commandDifferences } from '../commands/registration.ts';
import { loadJobsConfig, type JobLimits } from '../jobs/index.ts';
import { CliUsageError } from './CliError.ts';

export const REGISTER_USAGE = `usage: latentwalk register-commands [--guild ID] [--print]
  --guild ID   register in this guild only (instant) instead of globally
  --print      print the command definitions as JSON and exit (no Discord call)
environment: DISCORD_TOKEN (required), DISCORD_APPLICATION_ID, DISCORD_API_URL, LATENTWALK_MAX_* (option bounds)`;

export interface RegisterResult {
  applicationId: string;
  guildId: string | undefined;
  names: string[];
  /** Commands that differed from Discord's copy (empty: nothing was registered). */
  changed: string[];
}

/**
 * Makes Discord's commands (global, or one guild's) the ones `limits` call for: a PUT of the whole set when
 * any differs, nothing otherwise. Usable from tests against LocalDiscord.
 */
export async function registerCommands(settings: DiscordSettings, limits: JobLimits, guildId?: string): Promise<RegisterResult> {
  const rest = new REST({ version: '10', api: settings.apiUrl }).setToken(settings.token);
  const applicationId = settings.applicationId ?? ((await rest.get(Routes.currentApplication())) as RESTGetCurrentApplicationResult).id;
  const route = guildId ? Routes.applicationGuildCommands(applicationId, guildId) : Routes.applicationCommands(applicationId);
  const wanted = applicationCommandPayloads(limits);
  const current = (await rest.get(route)) as RESTGetAPIApplicationCommandsResult;
  const changed = commandDifferences(wanted, current);
  if (changed.length === 0) return { applicationId, guildId, names: current.map((command) => command.name), changed };
  const registered = (await rest.put(route, { body: wanted })) as RESTPutAPIApplicationCommandsResult;
  return { applicationId, guildId, names: registered.map((command) => command.name), changed };
}

export async function runRegisterCommandsCommand(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { guild: { type: 'string' }, print: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new CliUsageError((error as Error).message.split('\n')[0] ?? 'bad arguments');
  }
  if (values.help) {
    console.log(REGISTER_USAGE);
    return 0;
  }
  if (values.print) {
    console.log(JSON.stringify(applicationCommandPayloads(loadJobsConfig().limits), null, 2));
    return 0;
  }
  if (values.guild !== undefined && !/^\d{5,25}$/.test(values.guild)) {
    throw new CliUsageError(`--guild must be a numeric guild id, got '${values.guild}'`);
  }
  const result = await registerCommands(loadDiscordSettings(), loadJobsConfig().limits, values.guild);
  const where = result.guildId ? `in guild ${result.guildId}` : 'globally';
  if (result.changed.length === 0) {
    console.log(`the ${result.names.length} commands ${where} are up to date: ${result.names.map((n) => `/${n}`).join(' ')}`);
  } else {
    const when = result.guildId ? '(available now)' : '(may take up to an hour to appear everywhere)';
    console.log(`registered ${result.names.length} commands ${where} ${when}: ${result.names.map((n) => `/${n}`).join(' ')}; changed: ${result.changed.map((n) => `/${n}`).join(' ')}`);
  }
  return 0;
}
