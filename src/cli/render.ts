/**
 * `latentwalk render <morph|grid|walk|loop|chain> <prompts...> [options]`: one render through the engine to a file,
 * with an optional JSON report.
 */
import { accessSync, constants, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, extname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  BUNDLED_MODEL_DIR,
  ENGINE_LIMITS,
  EngineError,
  composeGrid,
  encodeArtifact,
  loadModel,
  render,
  type Artifact,
  type AnimationFormat,
  type ArtifactFormat,
  ANIMATION_FORMATS,
  type LoadedModel,
  type ProviderName,
  type RenderResult,
  type SmoothMode,
  type WalkKind,
  type WalkSpec,
  describeSmoothness,
} from '../engine/index.ts';
import { CliUsageError, RENDER_ARG_OPTIONS, parseNumberOption, parseSmoothOption } from './CliError.ts';
import { ProgressBar } from './ProgressBar.ts';

export const RENDER_USAGE = `usage: latentwalk render <morph|grid|walk|loop|chain> <prompts...> [options]
  morph "<A>" "<B>"            slerp from A to B (rubber-band animation)
  grid "<p1>" "<p2>" "<p3>" "<p4>"  4-way interpolation grid (PNG or JPEG)
  walk "<prompt>"              walk around one prompt (rubber-band animation)
  loop "<prompt>"              seamless circular noise walk (animation)
  chain "<p1>" "<p2>" ...      seamless loop through 2 to 8 prompts and back to the first (animation)
options: --model NAME|DIR (a bundled model: shapes, emoji; or a pack directory) --frames N --grid-size N --steps N --guidance G --width W --height H --seed N
         --negative TEXT --batch-size N --fps N --step-size X --vary-latents --no-rubber-band
         --smooth off|even|blend (default blend) --threads N
         --provider cpu|webgpu|cuda (or a list tried in order: cuda,webgpu,cpu) --max-bytes N
         --format gif|mp4|webp (animations; default: from --out, else gif) --out FILE --report FILE
         --from-image FILE [--strength S]  start every frame from a picture (img2img; S 0..1, default 0.6)`;

/** Prompts each kind takes, fewest and most. */
const PROMPT_COUNT: Record<WalkKind, { min: number; max: number }> = {
  morph: { min: 2, max: 2 },
  grid: { min: 4, max: 4 },
  walk: { min: 1, max: 1 },
  loop: { min: 1, max: 1 },
  chain: ENGINE_LIMITS.chainStops,
};
const PROVIDERS: readonly ProviderName[] = ['cpu', 'webgpu', 'cuda'];
export const DEFAULT_SEED = 42;

export interface RenderJob {
  spec: UnsizedSpec;
  modelDir: string;
  /** Tried in order; the first that starts is used (`--provider cuda,webgpu,cpu`). */
  providers: ProviderName[];
  seed: number;
  steps?: number;
  guidance?: number;
  width?: number;
  height?: number;
  negative?: string;
  batchSize?: number;
  smooth?: SmoothMode;
  /** onnxruntime intra-op threads (default: onnxruntime's). */
  threads?: number;
  fps?: number;
  /** Image input: every frame starts from this picture (img2img). */
  fromImage?: string;
  strength?: number;
  rubberBand: boolean;
  maxBytes?: number;
  out: string;
  report?: string;
}

export function parseRenderArgs(argv: string[]): RenderJob {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        model: { type: 'string' },
        ...RENDER_ARG_OPTIONS,
        provider: { type: 'string' },
        report: { type: 'string' },
        threads: { type: 'string' },
        format: { type: 'string' },
        'from-image': { type: 'string' },
        strength: { type: 'string' },
      },
    });
  } catch (error) {
    throw new CliUsageError((error as Error).message.split('\n')[0] ?? 'bad arguments');
  }
  const { values: v, positionals } = parsed;
  const kind = positionals[0] as WalkKind | undefined;
  if (!kind || !Object.hasOwn(PROMPT_COUNT, kind)) throw new CliUsageError(`render needs a kind: morph, grid, walk, loop or chain${kind ? ` (got '${kind}')` : ''}`);
  const prompts = positionals.slice(1);
  const { min, max } = PROMPT_COUNT[kind];
  if (prompts.length < min || prompts.length > max) {
    const want = min === max ? String(min) : `${min} to ${max}`;
    throw new CliUsageError(`${kind} takes ${want} prompt${max > 1 ? 's' : ''} in quotes, got ${prompts.length}`);
  }
  const providers = parseProviders(v.provider);

  const frames = parseNumberOption('frames', v.frames, { integer: true });
  const gridSize = parseNumberOption('grid-size', v['grid-size'], { integer: true });
  const stepSize = parseNumberOption('step-size', v['step-size']);
  const spec = makeSpec(kind, prompts, { frames, gridSize, stepSize, varyLatents: v['vary-latents'] ?? false });
  const seed = parseNumberOption('seed', v.seed, { integer: true }) ?? DEFAULT_SEED;
  const maxBytes = parseNumberOption('max-bytes', v['max-bytes'], { integer: true });
  if (maxBytes !== undefined && maxBytes <= 0) throw new CliUsageError(`--max-bytes must be a positive number of bytes, got ${maxBytes}`);
  const fps = parseNumberOption('fps', v.fps);
  if (fps !== undefined && !(fps > 0 && fps <= 100)) throw new CliUsageError(`--fps must be above 0 and at most 100, got ${fps}`);
  const threads = parseNumberOption('threads', v.threads, { integer: true });
  const strength = parseNumberOption('strength', v.strength);
  if (strength !== undefined && v['from-image'] === undefined) throw new CliUsageError('--strength needs --from-image FILE (how much of that picture is redrawn)');
  if (strength !== undefined && !(strength > 0 && strength <= 1)) throw new CliUsageError(`--strength must be above 0 and at most 1, got ${strength}`);
  if (threads !== undefined && !(threads >= 1 && threads <= 256)) throw new CliUsageError(`--threads must be from 1 to 256, got ${threads}`);

  const format = parseFormatOption(kind, v.format);
  const job: RenderJob = {
    spec,
    modelDir: v.model ?? BUNDLED_MODEL_DIR,
    providers,
    seed,
    rubberBand: !(v['no-rubber-band'] ?? false),
    out: resolve(v.out ?? `out/${kind}.${kind === 'grid' ? 'png' : EXTENSIONS[format ?? 'gif']}`),
  };
  if (format !== undefined) {
    // --format and --out must agree: a file named .gif that holds an MP4 would mislead whoever opens it.
    const fromPath = formatForPath(kind, job.out);
    if (fromPath !== format) throw new CliUsageError(`--format ${format} writes a .${EXTENSIONS[format]} file, but --out is '${extname(job.out) || job.out}'`);
  }
  const optional = {
    steps: parseNumberOption('steps', v.steps, { integer: true }),
    guidance: parseNumberOption('guidance', v.guidance),
    width: parseNumberOption('width', v.width, { integer: true }),
    height: parseNumberOption('height', v.height, { integer: true }),
    batchSize: parseNumberOption('batch-size', v['batch-size'], { integer: true }),
    smooth: parseSmoothOption(v.smooth),
    threads,
    negative: v.negative,
    fromImage: v['from-image'] !== undefined ? resolve(v['from-image']) : undefined,
    strength,
    fps,
    maxBytes,
    report: v.report ? resolve(v.report) : undefined,
  };
  for (const [key, value] of Object.entries(optional)) if (value !== undefined) (job as unknown as Record<string, unknown>)[key] = value;
  return job;
}

export function parseProviders(raw: string | undefined): ProviderName[] {
  const names = (raw ?? 'cpu').split(',').map((p) => p.trim());
  for (const name of names) {
    if (!PROVIDERS.includes(name as ProviderName)) throw new CliUsageError(`--provider must be one of ${PROVIDERS.join(', ')} (or a comma list tried in order), got '${name}'`);
  }
  return names as ProviderName[];
}

function makeSpec(
  kind: WalkKind,
  prompts: string[],
  o: { frames: number | undefined; gridSize: number | undefined; stepSize: number | undefined; varyLatents: boolean },
): UnsizedSpec {
  switch (kind) {
    case 'morph':
      return { kind, prompts: [prompts[0]!, prompts[1]!], frames: o.frames };
    case 'grid':
      return { kind, prompts: [prompts[0]!, prompts[1]!, prompts[2]!, prompts[3]!], gridSize: o.gridSize, varyLatents: o.varyLatents };
    case 'walk':
      return { kind, prompts: [prompts[0]!], frames: o.frames, ...(o.stepSize !== undefined ? { stepSize: o.stepSize } : {}) };
    case 'loop':
      return { kind, prompts: [prompts[0]!], frames: o.frames };
    case 'chain':
      return { kind, prompts: [...prompts], frames: o.frames };
  }
}

/** A walk spec whose frame count (grid size) may be left to the pack's defaults. */
export type UnsizedSpec =
  | (Omit<Extract<WalkSpec, { kind: 'grid' }>, 'gridSize'> & { gridSize: number | undefined })
  | (Omit<Exclude<WalkSpec, { kind: 'grid' }>, 'frames'> & { frames: number | undefined; kind: Exclude<WalkKind, 'grid'> });

/** Fills in frames / grid size the command line left out from the pack's defaults; a given value (0 too) is the engine's to check. */
function withPackDefaults(spec: UnsizedSpec, model: LoadedModel): WalkSpec {
  if (spec.kind === 'grid') return { ...spec, gridSize: spec.gridSize ?? Math.max(2, Math.round(Math.sqrt(model.defaults.frames))) };
  // A chain's default: the pack's frames per leg.
  if (spec.kind === 'chain') return { ...spec, frames: spec.frames ?? model.defaults.frames * spec.prompts.length } as WalkSpec;
  return { ...spec, frames: spec.frames ?? model.defaults.frames } as WalkSpec;
}

const EXTENSIONS: Record<AnimationFormat, string> = { gif: 'gif', mp4: 'mp4', webp: 'webp' };

/** `--format gif|mp4|webp` (animations only; a grid's format comes from its --out). */
export function parseFormatOption(kind: WalkKind, raw: string | undefined): AnimationFormat | undefined {
  if (raw === undefined) return undefined;
  if (kind === 'grid') throw new CliUsageError(`a grid is one still image: leave out --format and name --out .png or .jpg`);
  if (!(ANIMATION_FORMATS as readonly string[]).includes(raw)) throw new CliUsageError(`--format must be gif, mp4 or webp, got '${raw}'`);
  return raw as AnimationFormat;
}

export function formatForPath(kind: WalkKind, path: string): ArtifactFormat {
  const ext = extname(path).toLowerCase();
  if (kind === 'grid') {
    if (ext === '.png') return 'png';
    if (ext === '.jpg' || ext === '.jpeg') return 'jpeg';
    throw new CliUsageError(`a grid is written as .png or .jpg, not '${ext || path}'`);
  }
  if (ext === '.gif') return 'gif';
  if (ext === '.mp4') return 'mp4';
  if (ext === '.webp') return 'webp';
  throw new CliUsageError(`a ${kind} is written as .gif, .mp4 or .webp, not '${ext || path}'`);
}

/** Fails before any rendering when a file cannot be written there. */
export function checkWritable(path: string, what: string): void {
  const dir = dirname(path);
  try {
    if (!existsSync(dir)) mkdirSync(dir, { recursive: true });
    else if (!statSync(dir).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    if (existsSync(path)) {
      if (statSync(path).isDirectory()) throw new Error('it is a directory');
      accessSync(path, constants.W_OK);
    } else {
      accessSync(dir, constants.W_OK);
    }
  } catch (error) {
    throw new EngineError('OUTPUT_UNWRITABLE', `cannot write the ${what} to ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

/** Morphs and walks play forth and back; a loop and a chain come back to their start by themselves, a grid is a still. */
function playsBackAndForth(kind: WalkKind): boolean {
  return kind === 'morph' || kind === 'walk';
}

export interface RenderOutcome {
  result: RenderResult;
  artifact: Artifact;
  report: Record<string, unknown>;
}

/** Renders and encodes one job with an already loaded model (the demo reuses one model for several jobs). */
export async function renderToFile(model: LoadedModel, job: RenderJob, progress?: ProgressBar): Promise<RenderOutcome> {
  const format = formatForPath(job.spec.kind, job.out);
  checkWritable(job.out, 'output');
  if (job.report) checkWritable(job.report, 'report');
  const spec = withPackDefaults(job.spec, model);
  const settings = {
    seed: job.seed,
    ...(job.steps !== undefined ? { steps: job.steps } : {}),
    ...(job.guidance !== undefined ? { guidance: job.guidance } : {}),
    ...(job.width !== undefined ? { width: job.width } : {}),
    ...(job.height !== undefined ? { height: job.height } : {}),
    ...(job.negative !== undefined ? { negative: job.negative } : {}),
    ...(job.batchSize !== undefined ? { batchSize: job.batchSize } : {}),
    ...(job.smooth !== undefined ? { smooth: job.smooth } : {}),
    ...(job.fromImage !== undefined ? { image: readImage(job.fromImage) } : {}),
    ...(job.strength !== undefined ? { strength: job.strength } : {}),
  };
  const result = await render(model, spec, settings, { onProgress: (p) => progress?.update(p) });
  progress?.done();
  const frames = spec.kind === 'grid' ? [composeGrid(result.frames, spec.gridSize, spec.gridSize)] : result.frames;
  const artifact = await encodeArtifact(frames, {
    format,
    fps: job.fps ?? model.defaults.fps,
    rubberBand: playsBackAndForth(spec.kind) && job.rubberBand,
    displayScale: model.defaults.displayScale,
    ...(job.maxBytes !== undefined ? { maxBytes: job.maxBytes } : {}),
  });
  try {
    writeFileSync(job.out, artifact.bytes);
  } catch (error) {
    throw new EngineError('OUTPUT_UNWRITABLE', `cannot write the output to ${job.out}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  const r = result.report;
  const report = {
    kind: r.kind,
    prompts: r.prompts,
    negative: r.negative,
    seed: r.seed,
    steps: r.steps,
    guidance: r.guidance,
    width: r.width,
    height: r.height,
    frames: r.frames,
    ...(r.gridSize !== undefined ? { gridSize: r.gridSize } : {}),
    ...(spec.kind === 'walk' ? { stepSize: spec.stepSize ?? 0.01 } : {}),
    ...(spec.kind === 'grid' ? { varyLatents: spec.varyLatents ?? false } : {}),
    batchSize: r.batchSize,
    provider: r.provider,
    model: r.model,
    modelPath: r.modelPath,
    sigmas: r.sigmas,
    timesteps: r.timesteps,
    timings: { ...r.timings, outputEncodingMs: artifact.encodeMs },
    truncations: r.truncations,
    smooth: r.smooth,
    smoothness: r.smoothness,
    transformerCalls: r.transformerCalls,
    frameSteps: r.frameSteps,
    positions: r.positions,
    ...(r.image ? { image: { path: job.fromImage, ...r.image } } : {}),
    output: {
      path: job.out,
      format: artifact.format,
      bytes: artifact.bytes.length,
      width: artifact.width,
      height: artifact.height,
      frameCount: artifact.frameCount,
      rubberBand: playsBackAndForth(spec.kind) && job.rubberBand,
      ...(artifact.delayCs !== undefined ? { delayCs: artifact.delayCs, fps: artifact.fps, requestedFps: job.fps ?? model.defaults.fps } : {}),
      ...(artifact.delayCs === undefined && artifact.fps !== undefined ? { fps: artifact.fps, requestedFps: job.fps ?? model.defaults.fps } : {}),
      ...(artifact.quality !== undefined ? { quality: artifact.quality } : {}),
      displayScale: model.defaults.displayScale,
      ...(job.maxBytes !== undefined ? { maxBytes: job.maxBytes } : {}),
      reductions: artifact.reductions,
    },
  };
  if (job.report) {
    try {
      writeFileSync(job.report, JSON.stringify(report, null, 2) + '\n');
    } catch (error) {
      throw new EngineError('OUTPUT_UNWRITABLE', `cannot write the report to ${job.report}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  }
  return { result, artifact, report };
}

function readImage(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new CliUsageError(`cannot read --from-image ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

export function describeOutcome(o: RenderOutcome, out: string): string[] {
  const lines: string[] = [];
  for (const t of o.result.report.truncations) {
    lines.push(`warning: prompt "${t.prompt.slice(0, 60)}${t.prompt.length > 60 ? '...' : ''}" is longer than CLIP's 77 tokens; dropped: ${t.droppedWords.join(' ')}`);
  }
  const a = o.artifact;
  const t = o.result.report.timings;
  const secs = (ms: number) => (ms / 1000).toFixed(2);
  lines.push(
    `${out}: ${a.format.toUpperCase()} ${a.width}x${a.height}, ${a.frameCount} frame${a.frameCount === 1 ? '' : 's'}` +
      `${a.delayCs !== undefined ? ` at ${a.fps?.toFixed(2)} fps (${a.delayCs}/100 s a frame)` : a.fps !== undefined ? ` at ${a.fps.toFixed(2)} fps` : ''}, ${(a.bytes.length / 1024).toFixed(1)} KiB;` +
      ` text ${secs(t.textEncodingMs)}s, denoise ${secs(t.denoisingMs)}s, decode ${secs(t.decodingMs)}s, encode ${secs(a.encodeMs)}s;` +
      ` smooth ${o.result.report.smooth}: ${describeSmoothness(o.result.report.smoothness)}, ${o.result.report.transformerCalls} transformer calls`,
  );
  const image = o.result.report.image;
  if (image) {
    const crop = image.crop ? `, centre-cropped to ${image.crop.width}x${image.crop.height}` : '';
    lines.push(`from image ${image.source.width}x${image.source.height} ${image.source.format}${crop}: strength ${image.strength}, ${image.startStep} of ${o.result.report.steps} steps skipped`);
  }
  for (const r of a.reductions) lines.push(`reduced to fit --max-bytes: ${r}`);
  return lines;
}

/** Most unknown words named on the line; the rest are counted. */
const MAX_NAMED_WORDS = 12;

/**
 * One line naming the words of the prompts this model does not know (models that declare a vocabulary in
 * latentwalk.json), or undefined when it knows them all or declares none. The render still runs.
 */
export function unknownWordsLine(model: Pick<LoadedModel, 'name' | 'vocabulary' | 'suggestions'>, prompts: readonly string[]): string | undefined {
  const words = model.vocabulary?.unknownWords(prompts) ?? [];
  if (words.length === 0) return undefined;
  const named = words.slice(0, MAX_NAMED_WORDS).join(', ') + (words.length > MAX_NAMED_WORDS ? ` and ${words.length - MAX_NAMED_WORDS} more` : '');
  const example = model.suggestions?.[0];
  return (
    `note: the model '${model.name}' does not know ${words.length === 1 ? 'this word' : 'these words'}: ${named};` +
    ` it renders ${words.length === 1 ? 'it' : 'them'} as noise${example ? ` (it knows prompts like "${example}")` : ''}`
  );
}

export async function runRenderCommand(argv: string[]): Promise<number> {
  const job = parseRenderArgs(argv);
  formatForPath(job.spec.kind, job.out);
  checkWritable(job.out, 'output');
  if (job.report) checkWritable(job.report, 'report');
  if (job.fromImage) readImage(job.fromImage); // a missing picture fails before the model loads
  // without a logger the pack reports on stderr only when a provider fell back to another
  const model = await loadModel(job.modelDir, { providers: job.providers, ...(job.threads !== undefined ? { threads: job.threads } : {}) });
  try {
    const note = unknownWordsLine(model, job.spec.prompts);
    if (note) console.log(note);
    const outcome = await renderToFile(model, job, new ProgressBar());
    for (const line of describeOutcome(outcome, job.out)) console.log(line);
    return 0;
  } finally {
    await model.dispose();
  }
}
