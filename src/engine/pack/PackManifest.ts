/**
 * `latentwalk.json`: an optional file at a pack's root that overrides tensor names and constants for layouts
 * other than optimum's SD3 export, and declares the pack's own render defaults. Every key is optional.
 */
import { z } from 'zod';

const name = z.string().min(1);

export const PackManifestSchema = z
  .object({
    name: name.optional(),
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
