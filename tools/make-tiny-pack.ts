/**
 * Writes the tiny random-weight SD3-family test pack(s).
 *
 *   node --import tsx tools/make-tiny-pack.ts                 # regenerates models/tiny and models/tiny-fp16
 *   node --import tsx tools/make-tiny-pack.ts --out DIR [--fp16] [--t5] [--transformer-output NAME] [--seed N]
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildTinyPack, DEFAULT_OPTIONS, writePack, type TinyPackOptions } from './tiny-pack/pack.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

async function dirSize(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += (await stat(path.join(entry.parentPath, entry.name))).size;
  }
  return total;
}

async function make(outDir: string, opts: TinyPackOptions): Promise<void> {
  await writePack(outDir, buildTinyPack(opts));
  const kb = ((await dirSize(outDir)) / 1024).toFixed(0);
  console.log(`wrote ${path.relative(process.cwd(), outDir) || '.'} (${kb} KiB)`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      out: { type: 'string' },
      fp16: { type: 'boolean', default: false },
      t5: { type: 'boolean', default: false },
      'transformer-output': { type: 'string' },
      seed: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log('usage: make-tiny-pack [--out DIR] [--fp16] [--t5] [--transformer-output NAME] [--seed N]');
    return;
  }
  const seed = values.seed === undefined ? DEFAULT_OPTIONS.seed : Number(values.seed);
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new Error(`--seed must be an integer in 0..4294967295, got ${values.seed}`);
  const output = values['transformer-output'] ?? DEFAULT_OPTIONS.transformerOutput;
  if (!/^[A-Za-z_][\w.]*$/.test(output)) throw new Error(`--transformer-output must be a plain tensor name, got "${output}"`);
  const opts: TinyPackOptions = { fp16: values.fp16, t5: values.t5, transformerOutput: output, seed };

  if (values.out !== undefined) {
    await make(path.resolve(values.out), opts);
    return;
  }
  const customised = values.fp16 || values.t5 || values.seed !== undefined || values['transformer-output'] !== undefined;
  if (customised) throw new Error('options other than --out need --out DIR (without --out the committed packs are regenerated)');
  await make(path.join(repoRoot, 'models/tiny'), { ...DEFAULT_OPTIONS });
  await make(path.join(repoRoot, 'models/tiny-fp16'), { ...DEFAULT_OPTIONS, fp16: true });
}

main().catch((err: unknown) => {
  console.error(`make-tiny-pack: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
