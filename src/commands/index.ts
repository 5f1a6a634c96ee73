/** Every slash command, in the order they are registered. */
import type { RESTPostAPIChatInputApplicationCommandsJSONBody } from 'discord.js';
import type { SlashCommand } from '../bot/types.ts';
import type { JobLimits } from '../jobs/index.ts';
import { cancel } from './cancel.ts';
import { chain } from './chain.ts';
import { grid } from './grid.ts';
import { loop } from './loop.ts';
import { morph } from './morph.ts';
import { queue } from './queue.ts';
import { settings } from './settings.ts';
import { walk } from './walk.ts';

export const COMMANDS: readonly SlashCommand[] = [morph, grid, loop, walk, chain, queue, cancel, settings];

/** The definitions to register, with the option bounds of these limits (the bot's configured ones). */
export function commandPayloads(limits: JobLimits): RESTPostAPIChatInputApplicationCommandsJSONBody[] {
  return COMMANDS.map((command) => command.definition(limits));
}
