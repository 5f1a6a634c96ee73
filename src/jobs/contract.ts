/**
 * The job contract: what the bot (or the operator CLI) puts on the queue and what comes back.
 *
 * One zod schema validates a job twice: at submit time with the configured limits (so the requester gets a
 * message they can act on) and in the worker before rendering (so a malformed job fails readably instead of
 * crashing the engine). The contract is self-contained: it does not import the worker or the engine at
 * runtime, so the bot process never loads onnxruntime.
 */
import { z } from 'zod';
import type { RenderReport } from '../engine/types.ts';
import type { JobLimits } from './config.ts';
import { SubmitRefusedError } from './errors.ts';
import { INPUT_IMAGE_MAX_BYTES } from './inputImages.ts';
import { hasVisibleCharacter, promptLength } from './promptText.ts';

/** Bumped when a field changes meaning; workers refuse versions they do not know. */
export const JOB_SCHEMA_VERSION = 1;

export const JOB_KINDS = ['morph', 'grid', 'loop', 'walk', 'chain'] as const;
export type JobKind = (typeof JOB_KINDS)[number];

/** A chain's stops (one prompt each, usually each from another member): the engine's bounds, repeated here. */
export const CHAIN_STOPS = { min: 2, max: 8 } as const;

/** How many prompts each kind takes, fewest and most (grid: top-left, top-right, bottom-left, bottom-right; chain: its stops in order). */
export const PROMPTS_PER_KIND: Record<JobKind, { min: number; max: number }> = {
  morph: { min: 2, max: 2 },
  grid: { min: 4, max: 4 },
  loop: { min: 1, max: 1 },
  walk: { min: 1, max: 1 },
  chain: CHAIN_STOPS,
};

/** "2 prompts", "2 to 8 prompts". */
export function describePromptCount(kind: JobKind): string {
  const { min, max } = PROMPTS_PER_KIND[kind];
  return `${min === max ? min : `${min} to ${max}`} prompt${max === 1 ? '' : 's'}`;
}

/** The engine's smoothing modes (engine/walks/Refinement.ts), repeated here so the bot never imports the engine. */
export const SMOOTH_MODES = ['off', 'even', 'blend'] as const;
export type JobSmoothMode = (typeof SMOOTH_MODES)[number];
/** What a job gets when its request does not say. */
export const DEFAULT_JOB_SMOOTH: JobSmoothMode = 'blend';

/** Output formats. Animations: GIF (the default, and what a job stored without `format` gets), MP4 (H.264) or
 * animated WebP; a grid: PNG (default) or JPEG. Repeated here (engine/output) so the bot never imports the engine. */
export const OUTPUT_FORMATS = ['gif', 'mp4', 'webp', 'png', 'jpeg'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];
export const ANIMATION_FORMATS = ['gif', 'mp4', 'webp'] as const;
export type AnimationFormat = (typeof ANIMATION_FORMATS)[number];

/** Discord's default upload limit; the bot passes the channel's real one. */
export const DEFAULT_MAX_BYTES = 10 * 1024 * 1024;

/** Discord snowflakes, or short names for operator jobs ("ops", "bench-a"). Safe inside Redis key names. */
const id = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, { error: 'must be 1-64 letters, digits, _ . or -' });

/** A picture parked with InputImageStore (jobs/inputImages.ts) that a render starts from. */
const inputImageSchema = z.strictObject({
  key: z.string().regex(/^img-[a-f0-9]{24}$/, { error: 'must be an input image id' }),
  bytes: z.number().int().min(1).max(INPUT_IMAGE_MAX_BYTES, { error: `an input image is at most ${INPUT_IMAGE_MAX_BYTES / 1048576} MiB` }),
  /** Where it came from (a Discord attachment's file name), for messages. */
  name: z.string().max(200).optional(),
});

const strengthSchema = z.number().gt(0, { error: 'strength must be above 0' }).max(1, { error: 'strength must be at most 1' });

const promptSchema = z.strictObject({
  text: z.string().trim().min(1, { error: 'is empty' }).refine(hasVisibleCharacter, { error: 'has no visible character' }),
  /** The user who wrote this prompt (morphs, grids and chains are collaborative). */
  contributorId: id,
  /** A chain stop's picture: that stop's frame starts from it (the text says what it shows). */
  image: inputImageSchema.optional(),
  /** With `image`: how much of it is redrawn (the engine's default when absent). */
  strength: strengthSchema.optional(),
});

const multipleOf16 = (what: string) =>
  z
    .number()
    .int({ error: `${what} must be a whole number of pixels` })
    .min(16, { error: `${what} must be at least 16 pixels` })
    .refine((value) => value % 16 === 0, { error: `${what} must be a multiple of 16 pixels (SD3 works in 16-pixel patches)` });

const settingsSchema = z.strictObject({
  /** Filled in at submit when absent, so that a retry or a resume renders the same frames. */
  seed: z.number().int().min(0).max(0xffffffff),
  frames: z.number().int().min(2, { error: 'a walk needs at least 2 frames' }).optional(),
  steps: z.number().int().min(1).optional(),
  guidance: z.number().min(0).max(30).optional(),
  width: multipleOf16('width').optional(),
  height: multipleOf16('height').optional(),
  negative: z.string().optional(),
  fps: z.number().min(1).max(50).optional(),
  gridSize: z.number().int().min(2).optional(),
  /** Walk: how far each frame moves the prompt embedding. */
  stepSize: z.number().min(-1).max(1).optional(),
  /** Grid: a different noise per cell as well as a different prompt mix. */
  varyLatents: z.boolean().optional(),
  /** Frames per transformer call; the worker's pack decides when absent. */
  batchSize: z.number().int().min(1).max(64).optional(),
  /** Output format: an animation is a GIF (default), an MP4 or a WebP; a grid is a PNG (default) or a JPEG. */
  format: z.enum(OUTPUT_FORMATS, { error: `must be one of ${OUTPUT_FORMATS.join(', ')}` }).optional(),
  /** Play the animation forwards then backwards. */
  rubberBand: z.boolean().optional(),
  /**
   * How frames are placed and sampled (the engine's RenderSettings.smooth). Filled in at submit ('blend' unless
   * asked otherwise); a job stored before this field existed has none and renders 'off', as it did then.
   */
  smooth: z.enum(SMOOTH_MODES, { error: `must be one of ${SMOOTH_MODES.join(', ')}` }).optional(),
  /** Image input: the picture every frame starts from, stored with InputImageStore (jobs/inputImages.ts). */
  image: inputImageSchema.optional(),
  /** Image input: how much of the picture is redrawn, above 0 and at most 1 (the engine's default when absent). */
  strength: strengthSchema.optional(),
});

/**
 * Where the bot posts the result. Opaque to the worker: it is carried through to the result event untouched.
 * `via: 'cli'` marks operator jobs that no Discord message waits for.
 */
const replySchema = z.looseObject({
  via: z.enum(['discord', 'cli']).optional(),
  applicationId: z.string().optional(),
  interactionToken: z.string().optional(),
  messageId: z.string().optional(),
  channelId: z.string().optional(),
});

export const jobSpecSchema = z
  .strictObject({
    v: z.literal(JOB_SCHEMA_VERSION, { error: `schema version must be ${JOB_SCHEMA_VERSION}` }),
    kind: z.enum(JOB_KINDS, { error: `kind must be one of ${JOB_KINDS.join(', ')}` }),
    prompts: z.array(promptSchema).min(1).max(CHAIN_STOPS.max),
    settings: settingsSchema,
    guildId: id,
    channelId: id,
    requesterId: id,
    reply: replySchema,
    /** The artifact's byte budget (the channel's upload limit); the engine shrinks the output to fit. */
    maxBytes: z.number().int().min(1024, { error: 'must be at least 1024 bytes' }),
    /** Epoch milliseconds. */
    createdAt: z.number().int().nonnegative(),
  })
  .superRefine((spec, ctx) => {
    const wanted = PROMPTS_PER_KIND[spec.kind];
    if (spec.prompts.length < wanted.min || spec.prompts.length > wanted.max) {
      ctx.addIssue({ code: 'custom', path: ['prompts'], message: `a ${spec.kind} takes ${describePromptCount(spec.kind)}, got ${spec.prompts.length}` });
    }
    if (spec.kind === 'chain' && spec.settings.frames !== undefined && spec.settings.frames < spec.prompts.length) {
      ctx.addIssue({
        code: 'custom',
        path: ['settings', 'frames'],
        message: `a chain of ${spec.prompts.length} stops needs at least ${spec.prompts.length} frames (one per stop), got ${spec.settings.frames}`,
      });
    }
    if (spec.kind === 'grid' && spec.settings.frames !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['settings', 'frames'], message: 'a grid has no frames; set gridSize instead' });
    }
    if (spec.kind !== 'grid' && spec.settings.gridSize !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['settings', 'gridSize'], message: `gridSize only applies to grids, not to a ${spec.kind}` });
    }
    const format = spec.settings.format;
    if (spec.kind === 'grid' && format !== undefined && format !== 'png' && format !== 'jpeg') {
      ctx.addIssue({ code: 'custom', path: ['settings', 'format'], message: 'a grid is one still image: png or jpeg' });
    }
    if (spec.kind !== 'grid' && format !== undefined && !(ANIMATION_FORMATS as readonly string[]).includes(format)) {
      ctx.addIssue({ code: 'custom', path: ['settings', 'format'], message: `a ${spec.kind} is an animation: ${ANIMATION_FORMATS.join(', ')}` });
    }
    if (spec.settings.strength !== undefined && spec.settings.image === undefined) {
      ctx.addIssue({ code: 'custom', path: ['settings', 'strength'], message: 'strength needs an image to start from' });
    }
    spec.prompts.forEach((prompt, index) => {
      if (prompt.image !== undefined && spec.kind !== 'chain') {
        ctx.addIssue({ code: 'custom', path: ['prompts', index, 'image'], message: `only a chain's stops take a picture each; a ${spec.kind} starts from settings.image` });
      }
      if (prompt.strength !== undefined && prompt.image === undefined) {
        ctx.addIssue({ code: 'custom', path: ['prompts', index, 'strength'], message: 'strength needs an image to start from' });
      }
    });
    if (spec.settings.image !== undefined && spec.prompts.some((prompt) => prompt.image !== undefined)) {
      ctx.addIssue({ code: 'custom', path: ['settings', 'image'], message: 'a chain starts from pictures at its stops or from one for every frame, not both' });
    }
    if (spec.kind !== 'walk' && spec.settings.stepSize !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['settings', 'stepSize'], message: `stepSize only applies to walks, not to a ${spec.kind}` });
    }
  });

export type JobSpec = z.output<typeof jobSpecSchema>;
export type JobPrompt = JobSpec['prompts'][number];
export type JobRenderSettings = JobSpec['settings'];
export type ReplyTarget = JobSpec['reply'];

/** What a caller hands to `JobProducer.submit`: the spec without the fields the producer fills in. */
export interface SubmitRequest {
  kind: JobKind;
  prompts: JobPrompt[];
  settings?: Partial<JobRenderSettings>;
  guildId: string;
  channelId: string;
  requesterId: string;
  reply: ReplyTarget;
  maxBytes?: number;
  /**
   * Idempotency key: a second submit with the same id returns the first job instead of queueing another
   * (the bot uses `render-<interaction id>`). Must not contain ':' or be all digits (BullMQ's rules).
   */
  jobId?: string;
}

/** Validates a job read back from the queue (worker side): structure only, no configured limits. */
export function parseJobSpec(data: unknown): JobSpec {
  const parsed = jobSpecSchema.safeParse(data);
  if (!parsed.success) throw new SubmitRefusedError('INVALID', describeIssue(parsed.error.issues[0]), { field: fieldOf(parsed.error.issues[0]) });
  return parsed.data;
}

/**
 * Builds and validates the spec for a submit, limits included. Throws SubmitRefusedError('INVALID') with one
 * line that names the field and says what would be accepted.
 */
export function buildJobSpec(request: SubmitRequest, limits: JobLimits, now = Date.now()): JobSpec {
  if (request.jobId !== undefined && !/^(?!\d+$)[A-Za-z0-9_.-]{1,100}$/.test(request.jobId)) {
    throw new SubmitRefusedError('INVALID', `jobId ${JSON.stringify(request.jobId)} must be 1-100 letters, digits, _ . or - and not all digits`, { field: 'jobId' });
  }
  const candidate = {
    v: JOB_SCHEMA_VERSION,
    kind: request.kind,
    prompts: request.prompts,
    settings: { seed: randomSeed(), smooth: DEFAULT_JOB_SMOOTH, ...stripUndefined(request.settings ?? {}) },
    guildId: request.guildId,
    channelId: request.channelId,
    requesterId: request.requesterId,
    reply: request.reply,
    maxBytes: request.maxBytes ?? Math.min(DEFAULT_MAX_BYTES, limits.maxArtifactBytes),
    createdAt: now,
  };
  const spec = parseJobSpec(candidate);
  checkLimits(spec, limits);
  return spec;
}

function checkLimits(spec: JobSpec, limits: JobLimits): void {
  const refuse = (field: string, message: string): never => {
    throw new SubmitRefusedError('INVALID', message, { field });
  };
  spec.prompts.forEach((prompt, index) => {
    const length = promptLength(prompt.text);
    if (length > limits.maxPromptChars) {
      const which = spec.prompts.length === 1 ? 'the prompt' : `prompt ${index + 1}`;
      refuse(`prompts.${index}.text`, `${which} is ${length} characters; the limit is ${limits.maxPromptChars}, so shorten it`);
    }
  });
  const s = spec.settings;
  if (s.negative !== undefined && promptLength(s.negative) > limits.maxPromptChars) {
    refuse('settings.negative', `the negative prompt is ${promptLength(s.negative)} characters; the limit is ${limits.maxPromptChars}, so shorten it`);
  }
  if (s.frames !== undefined && s.frames > limits.maxFrames) {
    refuse('settings.frames', `${s.frames} frames is more than this bot renders; ask for ${limits.maxFrames} or fewer`);
  }
  if (s.steps !== undefined && s.steps > limits.maxSteps) {
    refuse('settings.steps', `${s.steps} steps is more than this bot allows; ask for ${limits.maxSteps} or fewer`);
  }
  for (const side of ['width', 'height'] as const) {
    const value = s[side];
    if (value !== undefined && value > limits.maxSide) {
      refuse(`settings.${side}`, `${side} ${value} is larger than this bot renders; use ${limits.maxSide} pixels or less`);
    }
  }
  if (s.gridSize !== undefined && s.gridSize > limits.maxGridSize) {
    refuse('settings.gridSize', `a ${s.gridSize}x${s.gridSize} grid is too large; use ${limits.maxGridSize}x${limits.maxGridSize} or smaller`);
  }
  if (spec.maxBytes > limits.maxArtifactBytes) {
    refuse('maxBytes', `a ${spec.maxBytes}-byte artifact budget is over this bot's limit of ${limits.maxArtifactBytes} bytes`);
  }
}

function fieldOf(issue: z.core.$ZodIssue | undefined): string {
  return issue ? issue.path.map(String).join('.') : '';
}

/** One readable line from a zod issue: `settings.width: width must be a multiple of 16 pixels (...)`. */
function describeIssue(issue: z.core.$ZodIssue | undefined): string {
  if (!issue) return 'the job is invalid';
  const field = fieldOf(issue);
  if (issue.code === 'unrecognized_keys') {
    return `unknown option${issue.keys.length === 1 ? '' : 's'} ${issue.keys.join(', ')}${field ? ` in ${field}` : ''}`;
  }
  if (issue.code === 'invalid_type' && issue.input === undefined) return `${field || 'a field'} is required`;
  return field ? `${field}: ${issue.message}` : issue.message;
}

function randomSeed(): number {
  return Math.floor(Math.random() * 0xffffffff);
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

// ---------------------------------------------------------------------------------------------------------
// What comes back.

/** Reported with `job.updateProgress` at least once per rendered batch; read by the bot and `jobs list`. */
export interface JobProgress {
  stage: 'starting' | 'encode' | 'denoise' | 'decode' | 'output' | 'storing';
  framesDone: number;
  framesTotal: number;
  step?: number;
  steps?: number;
  /** Seconds left, from the engine's estimate; absent until a batch is done. */
  etaSeconds?: number;
  /** 1 for the first try; higher after a retry or a resume on another worker. */
  attempt: number;
  /** Frames taken from a checkpoint instead of being rendered again. */
  resumedFrames: number;
  /** The newest live preview the worker has published for this job (its bytes: `previews.fetch`). */
  preview?: JobPreviewInfo;
}

/** A live preview still: which one (`seq` grows with each), of which frame, and how big. */
export interface JobPreviewInfo {
  seq: number;
  frame: number;
  bytes: number;
}

/** Where the encoded bytes wait for the bot: fetch with `JobProducer.fetchArtifact(key)`. */
export interface ArtifactRef {
  key: string;
  bytes: number;
  mimeType: string;
  extension: string;
  format: OutputFormat;
  width: number;
  height: number;
  frameCount: number;
  fps?: number;
  /** What the encoder gave up to fit the byte budget (fewer colours, smaller frames...). */
  reductions: string[];
  /** Epoch ms after which Redis drops the bytes. */
  expiresAt: number;
}

export type JobOutcome =
  | { status: 'done'; artifact: ArtifactRef; report: RenderReport; attempts: number; renderMs: number }
  /** `reason` is the engine's (or the worker's) one-line message, never a stack trace. */
  | { status: 'failed'; reason: string; code?: string; attempts: number }
  | { status: 'cancelled'; reason: string };

/** One entry of the result stream: everything the bot needs to post, without another lookup. */
export interface JobResult {
  jobId: string;
  kind: JobKind;
  guildId: string;
  channelId: string;
  requesterId: string;
  reply: ReplyTarget;
  outcome: JobOutcome;
  finishedAt: number;
}

export type JobState = 'waiting' | 'active' | 'retrying' | 'done' | 'failed' | 'cancelled';

export const FINISHED_STATES: readonly JobState[] = ['done', 'failed', 'cancelled'];
