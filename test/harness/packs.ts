/** Model packs for tests: the committed tiny packs, and variants written to temp dirs by the generator. */
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_OPTIONS, buildTinyPack, writePack, type TinyPackOptions } from '../../tools/tiny-pack/pack.ts';

export const TINY_PACK = fileURLToPath(new URL('../../models/tiny', import.meta.url));
export const TINY_FP16_PACK = fileURLToPath(new URL('../../models/tiny-fp16', import.meta.url));
export const SHAPES_PACK = fileURLToPath(new URL('../../models/shapes', import.meta.url));

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
