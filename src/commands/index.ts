/** Every slash command, in the order they are registered. */
import type { SlashCommand } from '../bot/types.ts';
import { cancel } from './cancel.ts';
import { grid } from './grid.ts';
import { loop } from './loop.ts';
import { morph } from './morph.ts';
import { queue } from './queue.ts';
import { settings } from './settings.ts';
import { walk } from './walk.ts';

export const COMMANDS: readonly SlashCommand[] = [morph, grid, loop, walk, queue, cancel, settings];

export function commandPayloads() {
  return COMMANDS.map((command) => command.data.toJSON());
}
