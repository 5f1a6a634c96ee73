/**
 * The "emoji" pack's recognisability (tools/train-emoji/emojiMeasure.ts): top-1 / top-5 over the evaluation
 * list of tools/train-emoji/eval-emoji.json, per category, the misses, and the "a dog" -> "a cat" morph's
 * nearest training image per frame. Figures, not assertions (test/emoji-recognition.test.ts asserts).
 *
 *   node --import tsx bench/emoji.ts [--model DIR] [--threads N] [--json] [--images DIR]
 *
 * --json prints one JSON line at the end (train.py reads it for the model card); --images DIR writes
 * samples.png (the evaluation renders) and morph.png there.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadModel } from '../src/engine/index.ts';
import {
  EMOJI_PACK_DIR,
  checkMorph,
  contactSheet,
  formatRecognition,
  loadEvalSpec,
  loadReference,
  scoreRecognition,
} from '../tools/train-emoji/emojiMeasure.ts';

export async function runEmojiBench(options: { model?: string; threads?: number; images?: string; log?: (line: string) => void } = {}) {
  const log = options.log ?? ((line: string) => console.log(line));
  const model = await loadModel(options.model ?? EMOJI_PACK_DIR, options.threads !== undefined ? { threads: options.threads } : {});
  try {
    const spec = loadEvalSpec();
    const ref = await loadReference();
    const d = model.defaults;
    log(`emoji recognisability: model '${model.name}', ${d.width}x${d.height}, ${d.steps} steps, guidance ${d.guidance}, seed ${spec.seed}; nearest of ${ref.unified.length} training images by MSE on 32x32 RGB thumbnails`);
    const r = await scoreRecognition(model, spec, ref);
    log(`  ${formatRecognition(r)}`);
    const misses = r.items.filter((x) => x.rank > 0);
    log(`  not nearest (${misses.length}): ${misses.map((x) => `${x.prompt} [rank ${x.rank}, nearest ${x.nearestShort}]`).join('; ') || 'none'}`);
    const m = await checkMorph(model, spec, ref);
    log(`  morph "${m.prompts[0]}" -> "${m.prompts[1]}" (${m.frames} frames): nearest per frame ${m.nearest.join(' | ')}`);
    if (options.images) {
      writeFileSync(join(options.images, 'samples.png'), await contactSheet(r.frames, 16));
      writeFileSync(join(options.images, 'morph.png'), await contactSheet(m.images, m.images.length, 2));
    }
    return {
      model: model.name,
      threads: options.threads !== undefined ? `${options.threads} threads` : "onnxruntime's default threads",
      count: r.count,
      top1: r.top1,
      top5: r.top5,
      perCategory: r.perCategory,
      renderMs: r.renderMs,
      items: r.items.map(({ prompt, unified, category, rank, nearestShort }) => ({ prompt, unified, category, rank, nearest: nearestShort })),
      morph: { prompts: m.prompts, frames: m.frames, nearest: m.nearest, rankFirst: m.rankFirst, rankLast: m.rankLast, summary: m.summary },
    };
  } finally {
    await model.dispose();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: { model: { type: 'string' }, threads: { type: 'string' }, json: { type: 'boolean' }, images: { type: 'string' } },
  });
  const fig = await runEmojiBench({
    ...(values.model ? { model: values.model } : {}),
    ...(values.threads ? { threads: Number(values.threads) } : {}),
    ...(values.images ? { images: values.images } : {}),
    ...(values.json ? { log: (line: string) => console.error(line) } : {}),
  });
  if (values.json) console.log(JSON.stringify(fig));
}
