/**
 * Group commit for replication: "has a replica got every write made so far?" answered for many callers with
 * one WAIT.
 *
 * Redis's `WAIT n ms` blocks the connection it is sent on until replicas acknowledge that connection's last
 * write, and a blocked connection serves nothing else meanwhile: WAIT on the producer's shared connection
 * would queue every submit behind every other one's round trip to the replica. So the barrier has its own
 * connection, and one round is a small write of its own (`SET <key> <now>`: Redis replicates one ordered
 * stream, so a replica that has it has every write that completed before it) followed by `WAIT 1 ms`. Callers
 * that arrive while a round runs share the next one: their writes may have completed after this round's marker.
 */
import type { Redis } from 'ioredis';
import { closeRedis, openRedis, type RedisTarget } from './redis.ts';

export class ReplicationBarrier {
  private redis: Redis | undefined;
  private running: Promise<number> | undefined;
  private next: Promise<number> | undefined;

  constructor(
    private readonly target: RedisTarget,
    /** The key the rounds write (a hash-tagged name of the job layer). */
    private readonly key: string,
    private readonly waitMs: number,
  ) {}

  /**
   * Resolves with how many replicas have every write that completed before the call (0: none within
   * `waitMs`); rejects when the primary could not be reached.
   */
  confirm(): Promise<number> {
    if (!this.running) {
      this.running = this.round().finally(() => (this.running = undefined));
      return this.running;
    }
    this.next ??= this.running
      .catch(() => 0)
      .then(() => {
        this.next = undefined;
        return this.confirm();
      });
    return this.next;
  }

  private async round(): Promise<number> {
    this.redis ??= openRedis(this.target, 'commands', 'replica-wait');
    await this.redis.set(this.key, String(Date.now()));
    return this.redis.wait(1, this.waitMs);
  }

  async close(): Promise<void> {
    if (this.redis) await closeRedis(this.redis);
    this.redis = undefined;
  }
}
