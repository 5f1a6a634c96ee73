/** Every slash command, in the order they are registered. */
import type { RESTPostAPIApplicationCommandsJSONBody, RESTPostAPIChatInputApplicationCommandsJSONBody } from 'discord.js';
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
import { morphFromImageDefinition } from './morphFromImage.ts';

export const COMMANDS: readonly SlashCommand[] = [morph, grid, loop, walk, chain, queue, cancel, settings];

/** The slash command definitions, with the option bounds of these limits (the bot's configured ones). */
export function commandPayloads(limits: JobLimits): RESTPostAPIChatInputApplicationCommandsJSONBody[] {
  return COMMANDS.map((command) => command.definition(limits));
}

/** Everything to register: the slash commands, then the message context menu ("Morph from this image"). */
export function applicationCommandPayloads(limits: JobLimits): RESTPostAPIApplicationCommandsJSONBody[] {
  return [...commandPayloads(limits), morphFromImageDefinition(limits)];
}
