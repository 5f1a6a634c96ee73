/**
 * `latentwalk.json`: an optional file at a pack's root that overrides tensor names and constants for layouts
 * other than optimum's SD3 export, and declares the pack's own render defaults. Every key is optional.
 *
 * A small model trained on a closed set of captions declares what it knows: `vocabulary` (every word its
 * captions used) and `suggestions` (prompts to offer, most common first). With a vocabulary, prompts get told
 * which of their words the model does not know; real SD3 packs declare none and get no note.
 */
import { z } from 'zod';

const name = z.string().min(1);

/** Most words a vocabulary may list, and most suggestions (Discord offers 25 at a time). */
export const MAX_VOCABULARY_WORDS = 100_000;
export const MAX_SUGGESTIONS = 5_000;
/** A suggestion is offered as a Discord autocomplete choice: 1-100 characters. */
export const MAX_SUGGESTION_CHARS = 100;

const word = z
  .string()
  .min(1, { error: 'must not be empty' })
  .max(100, { error: 'must be at most 100 characters' })
  .regex(/^\S+$/u, { error: 'must be one word (no spaces)' });

const suggestion = z
  .string()
  .refine((s) => s.trim().length > 0, { error: 'must not be empty' })
  .refine((s) => [...s].length <= MAX_SUGGESTION_CHARS && s.length <= MAX_SUGGESTION_CHARS, { error: `must be at most ${MAX_SUGGESTION_CHARS} characters` });

export const PackManifestSchema = z
  .object({
    name: name.optional(),
    /** Every word the model's captions used (lowercase); prompts' other words are reported as unknown. */
    vocabulary: z.array(word).max(MAX_VOCABULARY_WORDS, { error: `must list at most ${MAX_VOCABULARY_WORDS} words` }).optional(),
    /** Prompts to suggest as the user types, most common first. */
    suggestions: z.array(suggestion).max(MAX_SUGGESTIONS, { error: `must list at most ${MAX_SUGGESTIONS} prompts` }).optional(),
    defaults: z
      .object({
        width: z.number().int().positive(),
        height: z.number().int().positive(),
        steps: z.number().int().min(1).max(200),
        guidance: z.number().min(0).max(50),
        fps: z.number().positive().max(100),
        frames: z.number().int().min(1),
        batchSize: z.number().int().min(1),
        /** Integer upscale applied to frames for display (tiny packs render small images). */
        displayScale: z.number().int().min(1).max(16),
      })
      .partial()
      .strict()
      .optional(),
    scheduler: z.object({ shift: z.number().positive() }).partial().strict().optional(),
    text: z
      .object({
        /** Zero rows appended on the sequence axis when the pack has no T5 (77 as KerasHub/Stability, 256 as current diffusers). */
        zeroRowsWithoutT5: z.number().int().min(0).max(4096),
        /** Token window of the T5 encoder when the pack has one. */
        t5MaxLength: z.number().int().min(1).max(4096),
      })
      .partial()
      .strict()
      .optional(),
    vae: z
      .object({ scalingFactor: z.number().positive(), shiftFactor: z.number(), scaleFactor: z.number().int().positive() })
      .partial()
      .strict()
      .optional(),
    textEncoder: z.object({ input: name, pooled: name, hiddenState: name }).partial().strict().optional(),
    textEncoder2: z.object({ input: name, pooled: name, hiddenState: name }).partial().strict().optional(),
    textEncoder3: z.object({ input: name, output: name }).partial().strict().optional(),
    transformer: z
      .object({ sample: name, context: name, pooled: name, timestep: name, output: name })
      .partial()
      .strict()
      .optional(),
    vaeDecoder: z.object({ input: name, output: name }).partial().strict().optional(),
    vaeEncoder: z.object({ input: name, output: name }).partial().strict().optional(),
  })
  .strict();

export type PackManifest = z.infer<typeof PackManifestSchema>;

/** "defaults.width: expected number" style summary of the first zod issue, naming the key. */
export function describeZodIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid';
  const key = issue.path.length ? issue.path.join('.') : '(root)';
  return `${key}: ${issue.message}`;
}
