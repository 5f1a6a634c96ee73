/**
 * The model packs that ship in `models/`, and the one place that says which of them is the default. A model
 * can be named by its bundled name (`shapes`, `emoji`) wherever a pack directory is taken: `--model`,
 * `LATENTWALK_MODEL_DIR`, `loadModel()`.
 *
 * Pure and free of onnxruntime: the bot and the stack's config import it to check LATENTWALK_MODEL_DIR.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Packs bundled in the repository (and the worker image), by name. */
export const BUNDLED_PACKS = ['shapes', 'emoji'] as const;
export type BundledPackName = (typeof BUNDLED_PACKS)[number];

/** The pack the CLI, the demo, the playground, `npm start` and the worker use when none is named. */
export const DEFAULT_BUNDLED_PACK: BundledPackName = 'emoji';

const MODELS_DIR = fileURLToPath(new URL('../../../models/', import.meta.url));

export function isBundledPackName(value: string): value is BundledPackName {
  return (BUNDLED_PACKS as readonly string[]).includes(value);
}

/** The directory of a bundled pack (whether or not it is installed). */
export function bundledPackDir(name: BundledPackName): string {
  return resolve(MODELS_DIR, name);
}

/** The default pack's directory. */
export function defaultPackDir(): string {
  return bundledPackDir(DEFAULT_BUNDLED_PACK);
}

/**
 * A pack directory from what a user gave: nothing (the default pack), a bundled name, or a path (relative to
 * `cwd`). A bare bundled name wins over a directory of that name in `cwd`; write `./shapes` for that one.
 */
export function resolveModelDir(nameOrDir: string | undefined, cwd = process.cwd()): string {
  const given = nameOrDir?.trim();
  if (!given) return defaultPackDir();
  if (isBundledPackName(given)) return bundledPackDir(given);
  return resolve(cwd, given);
}

/** Names of the bundled packs present on this machine (`models/<name>` exists). */
export function installedBundledPacks(): BundledPackName[] {
  return BUNDLED_PACKS.filter((name) => existsSync(bundledPackDir(name)));
}
