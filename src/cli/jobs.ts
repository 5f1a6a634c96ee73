/**
 * `latentwalk jobs ...`: the operator's view of the queue, through the same producer API as the bot (so the
 * same validation, caps and fairness apply). Never loads the engine.
 */
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadJobsConfig } from '../jobs/config.ts';
import { ConfigError } from '../settings/index.ts';
import { JOB_KINDS, OUTPUT_FORMATS, PROMPTS_PER_KIND, describePromptCount, type JobKind, type JobRenderSettings, type OutputFormat } from '../jobs/contract.ts';
import { JobNotFoundError, JobStateError, RedisUnusableError, SubmitRefusedError } from '../jobs/errors.ts';
import { readImageHeader } from '../jobs/imageHeader.ts';
import { INPUT_IMAGE_MAX_BYTES } from '../jobs/inputImages.ts';
import { startLocalRedis } from '../jobs/local-redis.ts';
import { JobProducer, type JobListing } from '../jobs/producer.ts';
import { CliUsageError, RENDER_ARG_OPTIONS, parseNumberOption, parseSmoothOption } from './CliError.ts';

export const JOBS_USAGE = `usage: latentwalk jobs <command>
  submit <morph|grid|walk|loop|chain> <prompts...> --guild ID [--user ID] [--channel ID] [render options]
         [--wait [--out FILE] [--timeout SECONDS]]
  list [--guild ID] [--json] [--limit N]      waiting and rendering jobs, in the order they will run
  show ID [--json] [--out FILE]               one job, finished ones included; --out saves its file while
                                              Redis keeps it (a result Discord refused to take)
  cancel ID                                   remove a waiting job, or stop a rendering one
  retry ID                                    queue a finished job again (as a new job)
  local-redis [--port N] [--dir DIR]          run a redis-server set up for the queue (AOF, noeviction)
render options: --frames N --grid-size N --steps N --guidance G --width W --height H --seed N
  --negative TEXT --batch-size N --fps N --step-size X --vary-latents --no-rubber-band
  --format gif|mp4|webp (animations) png|jpeg (grids) --max-bytes N --smooth off|even|blend (default blend)
  --from-image FILE [--strength S]  start every frame from a picture (img2img; S 0..1, default 0.6)
Redis and limits: REDIS_URL and LATENTWALK_* (see src/jobs/config.ts).`;

type Subcommand = (argv: string[]) => Promise<number>;

const SUBCOMMANDS: Record<string, Subcommand> = {
  submit: submitCommand,
  list: listCommand,
  show: showCommand,
  cancel: cancelCommand,
  retry: retryCommand,
  'local-redis': localRedisCommand,
};

export async function runJobsCommand(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(JOBS_USAGE);
    return name ? 0 : 2;
  }
  const subcommand = SUBCOMMANDS[name];
  if (!subcommand) throw new CliUsageError(`unknown jobs command '${name}'; use one of ${Object.keys(SUBCOMMANDS).join(', ')}`);
  try {
    return await subcommand(rest);
  } catch (error) {
    // Refusals and lookups are answers, not crashes: one line, exit 1 (2 for input the user must change).
    if (error instanceof SubmitRefusedError) {
      console.error(`latentwalk: refused (${error.reason}): ${error.message}`);
      return error.reason === 'INVALID' ? 2 : 1;
    }
    if (error instanceof ConfigError || error instanceof RedisUnusableError || error instanceof JobNotFoundError || error instanceof JobStateError) {
      console.error(`latentwalk: ${error.message}`);
      return 1;
    }
    throw error;
  }
}

/** Runs parseArgs, turning its complaints into usage errors (one line, exit 2). */
function usage<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    throw new CliUsageError((error as Error).message.split('\n')[0] ?? 'bad arguments');
  }
}

async function withProducer<T>(fn: (producer: JobProducer) => Promise<T>): Promise<T> {
  const config = loadJobsConfig();
  const producer = await JobProducer.connect(config, { log: (line) => console.error(line) });
  try {
    return await fn(producer);
  } finally {
    await producer.close();
  }
}

async function submitCommand(argv: string[]): Promise<number> {
  const { values: v, positionals } = usage(() =>
    parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        guild: { type: 'string' },
        user: { type: 'string' },
        channel: { type: 'string' },
        ...RENDER_ARG_OPTIONS,
        format: { type: 'string' },
        'from-image': { type: 'string' },
        strength: { type: 'string' },
        wait: { type: 'boolean' },
        timeout: { type: 'string' },
        json: { type: 'boolean' },
      },
    }),
  );
  const kind = positionals[0] as JobKind | undefined;
  if (!kind || !(JOB_KINDS as readonly string[]).includes(kind)) {
    throw new CliUsageError(`submit needs a kind: ${JOB_KINDS.join(', ')}${kind ? ` (got '${kind}')` : ''}`);
  }
  const prompts = positionals.slice(1);
  const wanted = PROMPTS_PER_KIND[kind];
  if (prompts.length < wanted.min || prompts.length > wanted.max) throw new CliUsageError(`${kind} takes ${describePromptCount(kind)} in quotes, got ${prompts.length}`);
  if (!v.guild) throw new CliUsageError('submit needs --guild ID (the guild whose queue the job joins)');
  if (v.out && !v.wait) throw new CliUsageError('--out needs --wait (the file is written when the job finishes)');
  const user = v.user ?? 'operator';

  const settings: Partial<JobRenderSettings> = {};
  const numbers = {
    frames: parseNumberOption('frames', v.frames, { integer: true }),
    gridSize: parseNumberOption('grid-size', v['grid-size'], { integer: true }),
    steps: parseNumberOption('steps', v.steps, { integer: true }),
    guidance: parseNumberOption('guidance', v.guidance),
    width: parseNumberOption('width', v.width, { integer: true }),
    height: parseNumberOption('height', v.height, { integer: true }),
    seed: parseNumberOption('seed', v.seed, { integer: true }),
    batchSize: parseNumberOption('batch-size', v['batch-size'], { integer: true }),
    fps: parseNumberOption('fps', v.fps),
    stepSize: parseNumberOption('step-size', v['step-size']),
  };
  for (const [key, value] of Object.entries(numbers)) if (value !== undefined) (settings as Record<string, unknown>)[key] = value;
  if (v.negative !== undefined) settings.negative = v.negative;
  if (v['vary-latents']) settings.varyLatents = true;
  if (v['no-rubber-band']) settings.rubberBand = false;
  const smooth = parseSmoothOption(v.smooth);
  if (smooth !== undefined) settings.smooth = smooth;
  if (v.format !== undefined) {
    if (!(OUTPUT_FORMATS as readonly string[]).includes(v.format)) throw new CliUsageError(`--format must be one of ${OUTPUT_FORMATS.join(', ')}, got '${v.format}'`);
    settings.format = v.format as OutputFormat;
  }
  const strength = parseNumberOption('strength', v.strength);
  if (strength !== undefined && v['from-image'] === undefined) throw new CliUsageError('--strength needs --from-image FILE (how much of that picture is redrawn)');
  if (strength !== undefined && !(strength > 0 && strength <= 1)) throw new CliUsageError(`--strength must be above 0 and at most 1, got ${strength}`);
  const image = v['from-image'] !== undefined ? readInputImage(resolve(v['from-image']), settings) : undefined;
  const maxBytes = parseNumberOption('max-bytes', v['max-bytes'], { integer: true });
  const timeoutS = parseNumberOption('timeout', v.timeout) ?? 30 * 60;
  const out = v.out ? resolve(v.out) : undefined;

  return withProducer(async (producer) => {
    if (image) {
      // Parked as the bot parks an attachment; the worker reads it back by key.
      const key = await producer.inputImages.put(image.bytes);
      settings.image = { key, bytes: image.bytes.length, name: image.name };
      if (strength !== undefined) settings.strength = strength;
    }
    const ticket = await producer.submit({
      kind,
      prompts: prompts.map((text) => ({ text, contributorId: user })),
      settings,
      guildId: v.guild!,
      channelId: v.channel ?? 'cli',
      requesterId: user,
      reply: { via: 'cli' },
      ...(maxBytes !== undefined ? { maxBytes } : {}),
    });
    if (v.json && !v.wait) {
      console.log(JSON.stringify(ticket));
      return 0;
    }
    console.log(`queued ${ticket.jobId}: position ${ticket.position} overall, ${ticket.positionInGuild} in guild ${v.guild}`);
    if (!v.wait) return 0;

    let lastLine = '';
    const outcome = await producer.waitForOutcome(ticket.jobId, {
      timeoutMs: timeoutS * 1000,
      onUpdate: (listing) => {
        const line = describeProgress(listing);
        if (line !== lastLine) console.error(`${ticket.jobId}: ${line}`);
        lastLine = line;
      },
    });
    if (outcome.status === 'failed') {
      console.error(`latentwalk: job ${ticket.jobId} failed after ${outcome.attempts} attempt(s): ${outcome.reason}`);
      return 1;
    }
    if (outcome.status === 'cancelled') {
      console.error(`latentwalk: job ${ticket.jobId} was cancelled: ${outcome.reason}`);
      return 1;
    }
    const { artifact } = outcome;
    if (v.json) console.log(JSON.stringify({ jobId: ticket.jobId, ...outcome }));
    if (!out) {
      console.log(`done: ${artifact.frameCount} frame(s), ${artifact.bytes} bytes, artifact key ${artifact.key}`);
      return 0;
    }
    const bytes = await producer.fetchArtifact(artifact.key);
    if (!bytes) {
      console.error(`latentwalk: the artifact of ${ticket.jobId} has expired from Redis`);
      return 1;
    }
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, bytes);
    await producer.deleteArtifact(artifact.key);
    console.log(`done: wrote ${out} (${artifact.format}, ${artifact.width}x${artifact.height}, ${artifact.frameCount} frame(s), ${bytes.length} bytes)`);
    return 0;
  });
}

/**
 * `--from-image FILE`: its size checked before it is read, then its header (never decoded here: the worker
 * does, as for the bot's attachments): a still PNG, JPEG, WebP or GIF, about the render's shape.
 */
function readInputImage(path: string, settings: Partial<JobRenderSettings>): { bytes: Uint8Array; name: string } {
  const name = basename(path).slice(0, 200);
  let bytes: Uint8Array;
  try {
    const size = statSync(path).size;
    if (size > INPUT_IMAGE_MAX_BYTES) throw new CliUsageError(`--from-image ${name} is ${(size / 1048576).toFixed(1)} MiB; the limit is ${INPUT_IMAGE_MAX_BYTES / 1048576} MiB`);
    bytes = readFileSync(path);
  } catch (error) {
    if (error instanceof CliUsageError) throw error;
    throw new CliUsageError(`cannot read --from-image ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  const header = readImageHeader(bytes);
  if (!header) throw new CliUsageError(`--from-image ${name} is not a PNG, JPEG, WebP or GIF`);
  if (header.animated) throw new CliUsageError(`--from-image ${name} is animated; use a still image`);
  if (header.width < 1 || header.height < 1) throw new CliUsageError(`--from-image ${name} has no pixels`);
  // Within 5:4 of the render's shape (square unless --width / --height say), as the engine's rule.
  const render = (settings.width ?? settings.height ?? 1) / (settings.height ?? settings.width ?? 1);
  const mismatch = header.width / header.height / render;
  if (Math.max(mismatch, 1 / mismatch) > 1.25 + 1e-9) {
    throw new CliUsageError(`--from-image ${name} is ${header.width}x${header.height}; crop it to about the render's shape (within 5:4) first`);
  }
  return { bytes, name };
}

function describeProgress(listing: JobListing): string {
  if (listing.state === 'waiting' || listing.state === 'retrying') {
    return `${listing.state}, position ${listing.position ?? '?'} overall, ${listing.positionInGuild ?? '?'} in guild`;
  }
  const p = listing.progress;
  if (!p) return listing.state;
  const eta = p.etaSeconds !== undefined ? `, about ${p.etaSeconds}s left` : '';
  return `${p.stage}, ${p.framesDone}/${p.framesTotal} frames${eta}${p.attempt > 1 ? ` (attempt ${p.attempt})` : ''}`;
}

async function listCommand(argv: string[]): Promise<number> {
  const { values: v, positionals } = usage(() => parseArgs({ args: argv, allowPositionals: true, options: { guild: { type: 'string' }, json: { type: 'boolean' }, limit: { type: 'string' } } }));
  if (positionals.length) throw new CliUsageError(`list takes no arguments, got '${positionals[0]}'`);
  const limit = parseNumberOption('limit', v.limit, { integer: true }) ?? 100;
  return withProducer(async (producer) => {
    const jobs = await producer.list({ ...(v.guild ? { guildId: v.guild } : {}), limit });
    if (v.json) {
      console.log(JSON.stringify(jobs.map(({ spec: _spec, ...job }) => job)));
      return 0;
    }
    if (jobs.length === 0) {
      console.log(v.guild ? `no jobs queued or rendering for guild ${v.guild}` : 'no jobs queued or rendering');
      return 0;
    }
    const now = Date.now();
    const rows = jobs.map((job) => [
      job.jobId,
      job.state,
      job.position !== undefined ? String(job.position) : '-',
      job.positionInGuild !== undefined ? String(job.positionInGuild) : '-',
      job.guildId,
      job.kind,
      job.progress ? `${job.progress.stage} ${job.progress.framesDone}/${job.progress.framesTotal}` : '-',
      formatAge(now - job.createdAt),
    ]);
    printTable(['ID', 'STATE', 'POS', 'GUILD POS', 'GUILD', 'KIND', 'PROGRESS', 'AGE'], rows);
    return 0;
  });
}

async function showCommand(argv: string[]): Promise<number> {
  const { values: v, positionals } = usage(() =>
    parseArgs({ args: argv, allowPositionals: true, options: { json: { type: 'boolean' }, out: { type: 'string' } } }),
  );
  const id = onlyId('show', positionals);
  return withProducer(async (producer) => {
    const job = await producer.get(id);
    if (!job) throw new JobNotFoundError(id);
    if (v.out) return saveArtifact(producer, job, resolve(v.out));
    if (v.json) {
      console.log(JSON.stringify(job));
      return 0;
    }
    const parts = [`${job.jobId}: ${job.kind} in guild ${job.guildId} by ${job.userId}, ${job.state}`];
    if (job.position !== undefined) parts.push(`position ${job.position} overall, ${job.positionInGuild} in guild`);
    if (job.progress) parts.push(describeProgress(job));
    if (job.outcome?.status === 'failed' || job.outcome?.status === 'cancelled') parts.push(job.outcome.reason);
    if (job.outcome?.status === 'done') parts.push(`${job.outcome.artifact.bytes} bytes, artifact key ${job.outcome.artifact.key}`);
    console.log(parts.join('; '));
    return 0;
  });
}

/** `show --out`: the finished job's file, while Redis still has it (it is kept until it expires). */
async function saveArtifact(producer: JobProducer, job: JobListing, out: string): Promise<number> {
  if (job.outcome?.status !== 'done') {
    console.error(`latentwalk: job ${job.jobId} has no file: it is ${job.state}${job.outcome && 'reason' in job.outcome ? ` (${job.outcome.reason})` : ''}`);
    return 1;
  }
  const { artifact } = job.outcome;
  const bytes = await producer.fetchArtifact(artifact.key);
  if (!bytes) {
    console.error(`latentwalk: the file of ${job.jobId} is no longer in Redis (files are kept until they are posted, at most ${formatAge(producer.config.artifactTtlMs)})`);
    return 1;
  }
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, bytes);
  console.log(`wrote ${out} (${artifact.format}, ${artifact.width}x${artifact.height}, ${artifact.frameCount} frame(s), ${bytes.length} bytes)`);
  return 0;
}

async function cancelCommand(argv: string[]): Promise<number> {
  const { positionals } = usage(() => parseArgs({ args: argv, allowPositionals: true, options: {} }));
  const id = onlyId('cancel', positionals);
  return withProducer(async (producer) => {
    const result = await producer.cancel(id, 'cancelled by an operator');
    if (result.state === 'cancelled') console.log(`${id} cancelled`);
    else if (result.state === 'cancelling') console.log(`${id} is rendering; its worker stops it at the end of the current batch`);
    else {
      console.error(`latentwalk: ${id} already ${result.finalState}; nothing to cancel`);
      return 1;
    }
    return 0;
  });
}

async function retryCommand(argv: string[]): Promise<number> {
  const { positionals } = usage(() => parseArgs({ args: argv, allowPositionals: true, options: {} }));
  const id = onlyId('retry', positionals);
  return withProducer(async (producer) => {
    const ticket = await producer.retry(id);
    console.log(`queued ${ticket.jobId} (a retry of ${id}): position ${ticket.position} overall`);
    return 0;
  });
}

async function localRedisCommand(argv: string[]): Promise<number> {
  const { values: v, positionals } = usage(() => parseArgs({ args: argv, allowPositionals: true, options: { port: { type: 'string' }, dir: { type: 'string' } } }));
  if (positionals.length) throw new CliUsageError(`local-redis takes no arguments, got '${positionals[0]}'`);
  const port = parseNumberOption('port', v.port, { integer: true }) ?? 6379;
  const dir = resolve(v.dir ?? 'var/redis');
  mkdirSync(dir, { recursive: true });
  console.log(`starting redis-server on 127.0.0.1:${port} with append-only persistence in ${dir} (Ctrl-C stops it)`);
  const server = await startLocalRedis({ port, dir, inheritStdio: true });
  const stop = () => server.process.kill('SIGTERM');
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const code = await server.exited;
  return code === 0 || code === null ? 0 : 1;
}

function onlyId(command: string, positionals: string[]): string {
  if (positionals.length !== 1) throw new CliUsageError(`${command} takes one job id, got ${positionals.length}`);
  return positionals[0]!;
}

function formatAge(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd();
  console.log(line(header));
  for (const row of rows) console.log(line(row));
}
