// Types of slash.js (plain JS, loaded by the page as is) for the TypeScript tests.

export interface CommandOptionDefinition {
  type: number;
  name: string;
  description: string;
  required?: boolean;
  choices?: { name: string; value: string | number }[];
  min_value?: number;
  max_value?: number;
  min_length?: number;
  max_length?: number;
  channel_types?: number[];
  autocomplete?: boolean;
  options?: CommandOptionDefinition[];
}

export interface CommandDefinition {
  name: string;
  description: string;
  type?: number;
  default_member_permissions?: string | null;
  options?: CommandOptionDefinition[];
}

export interface SlashContext {
  channels?: { id: string; name: string; type?: number }[];
  members?: { id: string; username: string; globalName?: string | null }[];
}

export interface Suggestion {
  insert: string;
  label: string;
  description: string;
  value: unknown;
}

export interface Analysis {
  kind: 'text' | 'commands' | 'unknown' | 'subcommands' | 'options';
  name?: string;
  query?: string;
  path?: string[];
  active?: string | null;
  implicit?: string | null;
  suggestions?: Suggestion[];
  range?: [number, number];
  errors?: string[];
  given?: Map<string, { raw: string; start: number; end: number; explicit: boolean }>;
  autocomplete?: { option: string; typed: string; range: [number, number] } | null;
}

export interface AutocompleteQuery {
  name: string;
  options: (BuiltOption & { focused?: boolean })[];
  range: [number, number];
  option: string;
}

export interface BuiltOption {
  name: string;
  value?: string | number | boolean;
  options?: BuiltOption[];
}

export type Built = { ok: true; name: string; options: BuiltOption[] } | { ok: false; errors: string[] };

export const OptionType: Readonly<Record<string, number>>;
export function visibleCommands<T extends CommandDefinition>(commands: T[], memberPermissions: string | undefined): T[];
export function optionHint(option: CommandOptionDefinition): string;
export function analyze(text: string, caret: number | undefined, commands: CommandDefinition[], ctx?: SlashContext): Analysis;
export function autocompleteQuery(text: string, caret: number | undefined, commands: CommandDefinition[], ctx?: SlashContext): AutocompleteQuery | null;
export function buildCommand(text: string, commands: CommandDefinition[], ctx?: SlashContext): Built;
