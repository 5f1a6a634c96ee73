/** Model packs for tests: the committed tiny packs, and variants written to temp dirs by the generator. */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_BUNDLED_PACK, defaultPackDir } from '../../src/engine/pack/bundled.ts';
import { DEFAULT_OPTIONS, buildTinyPack, writePack, type TinyPackOptions } from '../../tools/tiny-pack/pack.ts';

export const TINY_PACK = fileURLToPath(new URL('../../models/tiny', import.meta.url));
export const TINY_FP16_PACK = fileURLToPath(new URL('../../models/tiny-fp16', import.meta.url));
export const SHAPES_PACK = fileURLToPath(new URL('../../models/shapes', import.meta.url));

/**
 * The default bundled pack (what the CLI, demo, playground, `npm start` and the worker load when no model is
 * named). Tests about the default read its name and prompts from here rather than hard-coding one pack's words,
 * so they hold whichever pack DEFAULT_BUNDLED_PACK names.
 */
export const DEFAULT_PACK = { name: DEFAULT_BUNDLED_PACK, dir: defaultPackDir() } as const;

export interface PackManifest {
  name?: string;
  vocabulary?: string[];
  suggestions?: string[];
}

export function readPackManifest(dir: string): PackManifest {
  return JSON.parse(readFileSync(join(dir, 'latentwalk.json'), 'utf8')) as PackManifest;
}

/** The name a pack's model goes by (ModelPack: latentwalk.json's name, else the directory's). */
export function packModelName(dir: string): string {
  return readPackManifest(dir).name ?? basename(dir);
}

/**
 * `count` distinct prompts the pack suggests, plain words and spaces only (they are typed into option strings
 * and matched in message text, where commas, colons or markdown would need escaping).
 */
export function packPrompts(dir: string, count: number): string[] {
  const plain = [...new Set(readPackManifest(dir).suggestions ?? [])].filter((s) => /^[\p{L}\p{N} '-]+$/u.test(s));
  if (plain.length < count) throw new Error(`${dir}/latentwalk.json suggests ${plain.length} plain prompts; this test needs ${count}`);
  return plain.slice(0, count);
}

const made: string[] = [];

export async function makeTinyPackVariant(options: Partial<TinyPackOptions>): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'latentwalk-pack-'));
  made.push(dir);
  await writePack(dir, buildTinyPack({ ...DEFAULT_OPTIONS, ...options }));
  return dir;
}

/** A copy of the tiny pack to break in a test. */
export function copyTinyPack(): string {
  const dir = mkdtempSync(join(tmpdir(), 'latentwalk-pack-'));
  made.push(dir);
  cpSync(TINY_PACK, dir, { recursive: true });
  return dir;
}

export function writeJson(path: string, value: unknown): void {
  writeFileSync(path, JSON.stringify(value));
}

export function removeTestPacks(): void {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}
