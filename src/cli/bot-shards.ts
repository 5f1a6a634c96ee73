/**
 * `latentwalk bot` past LATENTWALK_SHARDS_PER_PROCESS shards: one child `latentwalk bot` per contiguous range
 * of shards (LATENTWALK_SHARD_IDS + LATENTWALK_SHARDS), each with its own result-stream consumer name, so a
 * restarted child resumes the entries it had read. Children are started one after another, each once the one
 * before is ready: every child identifies its shards in turn, and started together they would identify at once,
 * past Discord's `max_concurrency`. A child that crashes is restarted (a growing wait, given up past 5 crashes
 * in 5 minutes: then everything stops and the command fails); SIGTERM/SIGINT are passed on and waited for.
 *
 * Results stay posted once across processes: the result stream's consumer group hands each entry to one
 * consumer, and a child that dies before acknowledging gets its entries back when it is restarted.
 */
import { ManagedChild } from '../app/child.ts';
import { formatShardIds, type BotConfig } from '../bot/config.ts';
import type { OpsLogger } from '../ops/log.ts';

export interface ShardSupervisorOptions {
  config: BotConfig;
  /** Shards in all. */
  total: number;
  /** The shard ids of each child. */
  ranges: number[][];
  /** The environment children inherit (the supervisor's own). */
  env: NodeJS.ProcessEnv;
  log: OpsLogger;
  /** LATENTWALK_METRICS_PORT: child `i` serves on port + i (0: each picks a free one). */
  metricsPort?: number | undefined;
  restarts?: { max: number; windowMs: number };
  /** How long a child may take to log in (its shards identify one after another). */
  readyTimeoutMs?: number;
  /** Where children's log lines go (default: stderr, as the bot's own). */
  output?: (line: string) => void;
}

/** The consumer name of the child that runs `ids`: stable across restarts, one per range. */
export function childInstance(instance: string, ids: readonly number[]): string {
  return `${instance.slice(0, 48)}-shards-${ids[0]}-${ids[ids.length - 1]}`;
}

export class ShardSupervisor {
  private stopping: Promise<void> | undefined;
  private failed: (reason: string) => void = () => undefined;
  /** Resolves with a reason when a child was given up (too many crashes). */
  readonly failure: Promise<string>;

  private constructor(private readonly children: ManagedChild[]) {
    this.failure = new Promise((resolve) => (this.failed = resolve));
  }

  static async start(options: ShardSupervisorOptions): Promise<ShardSupervisor> {
    const { config, total, ranges, log } = options;
    const output = options.output ?? ((line: string) => process.stderr.write(`${line}\n`));
    const children: ManagedChild[] = [];
    const supervisor = new ShardSupervisor(children);
    ranges.forEach((ids, i) => {
      const env: NodeJS.ProcessEnv = {
        ...options.env,
        LATENTWALK_SHARDS: String(total),
        LATENTWALK_SHARD_IDS: formatShardIds(ids),
        LATENTWALK_BOT_INSTANCE: childInstance(config.instance, ids),
        // Registered once by the supervisor.
        LATENTWALK_REGISTER_COMMANDS: 'off',
      };
      if (options.metricsPort !== undefined) env['LATENTWALK_METRICS_PORT'] = String(options.metricsPort === 0 ? 0 : options.metricsPort + i);
      else delete env['LATENTWALK_METRICS_PORT'];
      children.push(
        new ManagedChild({
          service: 'bot',
          label: `bot (shards ${formatShardIds(ids)} of ${total})`,
          args: ['bot'],
          env,
          cwd: process.cwd(),
          readyTimeoutMs: options.readyTimeoutMs ?? 120_000,
          stopGraceMs: 20_000,
          restarts: options.restarts ?? { max: 5, windowMs: 5 * 60_000 },
          log,
          token: config.token,
          output: (_service, line) => output(line),
          onGiveUp: (reason) => supervisor.failed(reason),
        }),
      );
    });
    try {
      for (const child of children) await child.start();
    } catch (error) {
      await supervisor.stop();
      throw error;
    }
    log.info(`bot running ${total} shards in ${children.length} processes`, {
      shards: total,
      processes: children.length,
      pids: children.map((c) => c.info?.pid).join(','),
    });
    return supervisor;
  }

  /** Process ids of the children now running (a restarted child has a new one). */
  get pids(): number[] {
    return this.children.map((c) => c.process?.pid).filter((pid): pid is number => pid !== undefined);
  }

  /** SIGTERM to every child at once; resolves when all have exited (SIGKILL after their grace). */
  stop(): Promise<void> {
    this.stopping ??= Promise.all(this.children.map((c) => c.stop())).then(() => undefined);
    return this.stopping;
  }
}
