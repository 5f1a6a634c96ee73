/**
 * The child's side of `latentwalk start`'s supervision. The supervisor spawns `latentwalk worker` and
 * `latentwalk bot` with an IPC channel; through it a child says when it is ready (and where its metrics
 * endpoint is), and notices when the supervisor is gone (its channel closes) so it shuts down instead of
 * running on as an orphan. A process started any other way has no channel, and all of this does nothing.
 */

export interface ReadyMessage {
  type: 'latentwalk:ready';
  service: 'bot' | 'worker';
  /** The worker's name / the bot's instance. */
  id: string;
  /** The ops endpoint (/metrics, /healthz), when enabled. */
  opsUrl?: string;
}

export function isReadyMessage(value: unknown): value is ReadyMessage {
  return !!value && typeof value === 'object' && (value as { type?: unknown }).type === 'latentwalk:ready';
}

/** True when this process was started by a supervisor with an IPC channel. */
export function isSupervised(): boolean {
  return typeof process.send === 'function' && !!process.channel;
}

/**
 * Call once at start: the channel must not keep the process alive on its own, and `onGone` runs when the
 * supervisor goes away (it should start the same shutdown as SIGTERM).
 */
export function watchSupervisor(onGone: () => void): void {
  if (typeof process.send !== 'function') return;
  if (!process.connected) {
    onGone();
    return;
  }
  process.channel?.unref();
  process.once('disconnect', onGone);
}

export function notifyReady(message: Omit<ReadyMessage, 'type'>): void {
  if (!isSupervised()) return;
  try {
    process.send!({ type: 'latentwalk:ready', ...message } satisfies ReadyMessage);
  } catch {
    // the supervisor is gone; watchSupervisor handles that
  }
}
