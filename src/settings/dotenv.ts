/** A `.env` file (KEY=value lines, # comments, quotes) read under the process environment; only `start` reads one. */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseEnv } from 'node:util';

export interface DotEnv {
  /** The environment with the file's variables under the process's own (the environment wins). */
  env: NodeJS.ProcessEnv;
  /** The file, when there was one. */
  path: string | undefined;
  /** Variables taken from the file. */
  keys: string[];
}

/** Reads `<cwd>/.env` under `env`; variables already set win. */
export function loadDotEnv(cwd: string, env: NodeJS.ProcessEnv = process.env): DotEnv {
  const path = resolve(cwd, '.env');
  if (!existsSync(path)) return { env, path: undefined, keys: [] };
  const file = parseEnv(readFileSync(path, 'utf8')) as Record<string, string>;
  const keys = Object.keys(file).filter((key) => env[key] === undefined);
  return { env: { ...file, ...env }, path, keys };
}
