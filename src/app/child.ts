/**
 * One supervised `latentwalk` child process (used by `latentwalk start` for the worker and the bot, and by
 * `latentwalk bot` for its shard processes): spawned in its own process group with an IPC channel, ready when
 * it says so, restarted with a growing wait when it crashes (given up past `restarts.max` in `windowMs`),
 * stopped with SIGTERM and SIGKILL after a grace period. Its output lines are passed on with secrets scrubbed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { OpsLogger } from '../ops/log.ts';
import { redactSecrets } from '../ops/redact.ts';
import { isReadyMessage, type ReadyMessage } from './ipc.ts';

const BIN = fileURLToPath(new URL('../../bin/latentwalk.js', import.meta.url));

export interface ChildInfo {
  readonly pid: number;
  /** The child's /metrics and /healthz base URL, when LATENTWALK_METRICS_PORT is set. */
  readonly opsUrl: string | undefined;
  readonly id: string;
}

export interface ChildSpec {
  service: 'worker' | 'bot';
  /** How log lines name it (default: the service). */
  label?: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  readyTimeoutMs: number;
  stopGraceMs: number;
  restarts: { max: number; windowMs: number };
  log: OpsLogger;
  token: string | undefined;
  output: ((service: 'worker' | 'bot', line: string) => void) | undefined;
  onGiveUp: (reason: string) => void;
}

export class ManagedChild {
  process: ChildProcess | undefined;
  info: ChildInfo | undefined;
  private readonly tail: string[] = [];
  private readonly restartTimes: number[] = [];
  private restartTimer: NodeJS.Timeout | undefined;
  private stopping = false;

  constructor(private readonly spec: ChildSpec) {}

  private get name(): string {
    return this.spec.label ?? this.spec.service;
  }

  /** Spawns the child and resolves when it says it is ready; rejects if it exits or times out first. */
  start(): Promise<ChildInfo> {
    const { spec } = this;
    const child = spawn(process.execPath, [BIN, ...spec.args], {
      cwd: spec.cwd,
      env: spec.env,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      detached: true,
    });
    this.process = child;
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue;
      createInterface({ input: stream }).on('line', (line) => this.onLine(line));
    }
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    child.once('error', (error) => this.spec.log.error(`cannot start the ${this.name}: ${error.message}`));
    return new Promise<ChildInfo>((resolve, reject) => {
      let ready = false;
      const timer = setTimeout(() => {
        if (ready) return;
        signalGroup(child.pid, 'SIGKILL');
        reject(new Error(`the ${this.name} did not become ready within ${Math.round(spec.readyTimeoutMs / 1000)} s${this.lastWords()}`));
      }, spec.readyTimeoutMs);
      timer.unref();
      child.on('message', (message: unknown) => {
        if (ready || !isReadyMessage(message)) return;
        ready = true;
        clearTimeout(timer);
        this.info = { pid: child.pid!, opsUrl: (message as ReadyMessage).opsUrl, id: (message as ReadyMessage).id };
        spec.log.info(`${this.name} ready`, { childPid: child.pid, id: this.info.id, opsUrl: this.info.opsUrl });
        resolve(this.info);
      });
      void exited.then(({ code, signal }) => {
        clearTimeout(timer);
        if (!ready) {
          reject(new Error(`the ${this.name} stopped before it was ready (${signal ?? `exit code ${code}`})${this.lastWords()}`));
          return;
        }
        if (this.stopping) return;
        this.onCrash(code, signal);
      });
    });
  }

  private onLine(line: string): void {
    const clean = redactSecrets(line, this.spec.token);
    this.tail.push(clean);
    if (this.tail.length > 20) this.tail.shift();
    if (this.spec.output) {
      this.spec.output(this.spec.service, clean);
      return;
    }
    if (clean.startsWith('{')) process.stdout.write(`${clean}\n`);
    else if (clean.trim() !== '') this.spec.log.warn(clean, { from: this.spec.service });
  }

  /** The child's last log messages, for an error saying why it stopped. */
  private lastWords(): string {
    const messages = this.tail
      .map((line) => {
        try {
          const parsed = JSON.parse(line) as { msg?: unknown; level?: unknown };
          return typeof parsed.msg === 'string' && (parsed.level === 'error' || parsed.level === 'warn' || parsed.level === 'fatal') ? parsed.msg : undefined;
        } catch {
          return line.trim() || undefined;
        }
      })
      .filter((text): text is string => !!text);
    return messages.length ? `: ${messages.slice(-3).join(' | ')}` : '';
  }

  private onCrash(code: number | null, signal: NodeJS.Signals | null): void {
    const { spec } = this;
    const now = Date.now();
    this.restartTimes.push(now);
    while (this.restartTimes.length && this.restartTimes[0]! < now - spec.restarts.windowMs) this.restartTimes.shift();
    const count = this.restartTimes.length;
    if (count > spec.restarts.max) {
      spec.onGiveUp(`the ${this.name} exited ${count} times within ${Math.round(spec.restarts.windowMs / 1000)} s${this.lastWords()}`);
      return;
    }
    const wait = Math.min(30_000, 1000 * 2 ** (count - 1));
    spec.log.error(`the ${this.name} exited (${signal ?? `code ${code}`}); restarting it in ${wait / 1000} s${this.lastWords()}`);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.stopping) return;
      this.start().catch((error: Error) => {
        if (!this.stopping) this.onCrashAfterFailedStart(error);
      });
    }, wait);
  }

  private onCrashAfterFailedStart(error: Error): void {
    this.spec.log.error(error.message);
    this.onCrash(null, null);
  }

  signal(signal: NodeJS.Signals): void {
    signalGroup(this.process?.pid, signal);
  }

  /** SIGTERM to the child's group; SIGKILL after the grace period. Resolves when it has exited. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    const child = this.process;
    if (!child || child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
    signalGroup(child.pid, 'SIGTERM');
    const inTime = await Promise.race([exited.then(() => true), delay(this.spec.stopGraceMs).then(() => false)]);
    if (!inTime) {
      this.spec.log.warn(`the ${this.name} did not stop within ${Math.round(this.spec.stopGraceMs / 1000)} s; killing it`);
      signalGroup(child.pid, 'SIGKILL');
      await exited;
    }
    // Anything the child left in its process group goes too.
    signalGroup(child.pid, 'SIGKILL');
  }
}

/**
 * Signals a child's whole process group (it leads one: spawned detached). Never the bare pid: once the group is
 * gone, that pid may belong to someone else.
 */
export function signalGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // the group is gone
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

