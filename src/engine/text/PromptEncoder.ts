/**
 * SD3's text conditioning: the penultimate hidden states of CLIP-L and CLIP-G side by side, zero-padded to
 * the transformer's context width, then T5's output (or zero rows when the pack has no T5) appended on the
 * sequence axis; the pooled vector is the two CLIP `text_embeds` side by side. Prompts are cached (LRU), so
 * a prompt used by many frames or many jobs is encoded once per process.
 */
import type { ClipComponent, ModelPack } from '../pack/ModelPack.ts';
import type { PromptTruncation } from '../types.ts';
import type { PromptEmbedding } from '../walks/WalkPlan.ts';

export interface EncodedPrompt {
  embedding: PromptEmbedding;
  /** Rows of the context (77 CLIP rows + T5 or zero rows). */
  rows: number;
  truncation?: PromptTruncation;
}

export class LruCache<K, V> {
  private readonly map = new Map<K, V>();
  constructor(private readonly capacity: number) {}

  get(key: K): V | undefined {
    const value = this.map.get(key);
    if (value !== undefined) {
      this.map.delete(key);
      this.map.set(key, value);
    }
    return value;
  }

  set(key: K, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    while (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value as K);
  }

  /** Removes `key`, only while it still maps to `expected` when given. */
  delete(key: K, expected?: V): void {
    if (expected === undefined || this.map.get(key) === expected) this.map.delete(key);
  }

  get size(): number {
    return this.map.size;
  }

  clear(): void {
    this.map.clear();
  }
}

export class PromptEncoder {
  private readonly cache: LruCache<string, Promise<EncodedPrompt>>;
  /** How many prompts went through the encoders (cache misses); for tests and the report. */
  encodedCount = 0;

  constructor(
    private readonly pack: ModelPack,
    capacity = 64,
  ) {
    this.cache = new LruCache(capacity);
  }

  /** Forgets every encoded prompt (the bench times text encoding as a new prompt costs it). */
  clear(): void {
    this.cache.clear();
  }

  encode(prompt: string): Promise<EncodedPrompt> {
    const hit = this.cache.get(prompt);
    if (hit) return hit;
    const pending = this.encodeNow(prompt);
    this.cache.set(prompt, pending);
    // A failed encode must not stay cached.
    pending.catch(() => this.cache.delete(prompt, pending));
    return pending;
  }

  private async encodeNow(prompt: string): Promise<EncodedPrompt> {
    this.encodedCount++;
    const { clipL, clipG, t5, transformer } = this.pack;
    const width = transformer.contextWidth;
    const [l, g] = await Promise.all([runClip(clipL, prompt), runClip(clipG, prompt)]);
    const clipRows = clipL.tokenizer.maxLength;
    const extraRows = t5 ? t5.tokenizer.maxLength : this.pack.zeroRowsWithoutT5;
    const rows = clipRows + extraRows;
    const context = new Float32Array(rows * width);
    for (let r = 0; r < clipRows; r++) {
      context.set(l.hidden.subarray(r * clipL.width, (r + 1) * clipL.width), r * width);
      context.set(g.hidden.subarray(r * clipG.width, (r + 1) * clipG.width), r * width + clipL.width);
    }
    if (t5) {
      const ids = t5.tokenizer.encode(prompt);
      const out = await t5.session.run({ [t5.input]: { type: 'int64', data: ids, dims: [1, ids.length] } }, [t5.output]);
      const hidden = out[t5.output]!;
      if (hidden.dims[2] !== width) {
        throw new Error(`text_encoder_3 output '${t5.output}' is ${hidden.dims[2]} wide; the transformer context is ${width}`);
      }
      context.set(hidden.data, clipRows * width);
    }
    const pooled = new Float32Array(clipL.pooledWidth + clipG.pooledWidth);
    pooled.set(l.pooled, 0);
    pooled.set(g.pooled, clipL.pooledWidth);

    const dropped = l.droppedWords.length >= g.droppedWords.length ? l.droppedWords : g.droppedWords;
    return {
      embedding: { context, pooled },
      rows,
      ...(dropped.length > 0 ? { truncation: { prompt, droppedWords: dropped } } : {}),
    };
  }
}

async function runClip(clip: ClipComponent, prompt: string): Promise<{ hidden: Float32Array; pooled: Float32Array; droppedWords: string[] }> {
  const tokens = clip.tokenizer.encode(prompt);
  const out = await clip.session.run({ [clip.input]: { type: 'int64', data: tokens.ids, dims: [1, tokens.ids.length] } }, [clip.hiddenOutput, clip.pooledOutput]);
  return { hidden: out[clip.hiddenOutput]!.data, pooled: out[clip.pooledOutput]!.data, droppedWords: tokens.droppedWords };
}
