/**
 * The T5 tokenizer of packs that have `text_encoder_3` (SD3's third encoder), loaded from `tokenizer.json`
 * through @huggingface/tokenizers. Truncated to the window with the end token kept, padded with the pad id.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { EngineError } from '../errors.ts';

export class T5Tokenizer {
  readonly maxLength: number;
  readonly padId: number;
  readonly eosId: number | undefined;
  private readonly tokenizer: Tokenizer;

  private constructor(tokenizer: Tokenizer, maxLength: number, padId: number, eosId: number | undefined) {
    this.tokenizer = tokenizer;
    this.maxLength = maxLength;
    this.padId = padId;
    this.eosId = eosId;
  }

  static async load(dir: string, options: { maxLength: number }): Promise<T5Tokenizer> {
    const path = join(dir, 'tokenizer.json');
    if (!existsSync(path)) throw new EngineError('PACK_FILE_MISSING', `tokenizer_3/tokenizer.json is missing in ${join(dir, '..')}`);
    let json: Record<string, unknown>;
    let config: Record<string, unknown> = {};
    try {
      json = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
      const configPath = join(dir, 'tokenizer_config.json');
      if (existsSync(configPath)) config = JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>;
    } catch (error) {
      throw new EngineError('PACK_INVALID', `tokenizer_3 in ${join(dir, '..')} is not valid JSON: ${(error as Error).message}`);
    }
    const tokenizer = new Tokenizer(json, config);
    const tokenName = (v: unknown): string | undefined => (typeof v === 'string' ? v : typeof v === 'object' && v && 'content' in v ? String((v as { content: unknown }).content) : undefined);
    const padId = tokenizer.token_to_id(tokenName(config['pad_token']) ?? '<pad>') ?? 0;
    const eosId = tokenizer.token_to_id(tokenName(config['eos_token']) ?? '</s>');
    return new T5Tokenizer(tokenizer, options.maxLength, padId, eosId);
  }

  encode(prompt: string): BigInt64Array {
    const ids = this.tokenizer.encode(prompt, { add_special_tokens: true }).ids;
    const out = new BigInt64Array(this.maxLength).fill(BigInt(this.padId));
    const endsWithEos = this.eosId !== undefined && ids[ids.length - 1] === this.eosId;
    if (ids.length > this.maxLength && endsWithEos) {
      ids.splice(this.maxLength - 1, ids.length - this.maxLength);
    }
    for (let i = 0; i < Math.min(ids.length, this.maxLength); i++) out[i] = BigInt(ids[i]!);
    return out;
  }
}
