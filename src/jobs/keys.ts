/**
 * The Redis key layout of the job layer, in one place. `B` below is `{<prefix>}:jobs`.
 *
 * Every key of the project starts with the hash tag `{<prefix>}` (see `keyPrefix`): BullMQ's (its `prefix`
 * option), ours below, and the bot's (`{<prefix>}:bot:*`). A Redis Cluster places keys by the hash of their
 * tag, so all of them share one slot, and the Lua scripts and transactions that touch several stay legal there.
 *
 * BullMQ keeps its own keys under `{<prefix>}:<queueName>:*` (wait, prioritized, active, the job hashes...);
 * everything here is ours and sits beside them, never inside:
 *
 * | key                              | type   | what                                                           |
 * |----------------------------------|--------|----------------------------------------------------------------|
 * | B:seq                            | string | submit counter: default job ids (`j<seq>`) and FIFO tie-breaks |
 * | B:round                          | string | the fairness "virtual time": round of the job that last started |
 * | B:guild-rounds                   | hash   | guild → round of its latest submitted job                       |
 * | B:meta:<id>                      | hash   | guild, user, kind, round, score, state, times, outcome, delivered |
 * | B:waiting                        | zset   | waiting jobs, scored like BullMQ's prioritized set → overall rank |
 * | B:active                         | zset   | rendering jobs, scored by start time                            |
 * | B:outstanding                    | zset   | waiting + rendering (global cap, listing)                       |
 * | B:guild:<g>:waiting              | zset   | the guild's waiting jobs → rank within the guild                |
 * | B:guild:<g>:outstanding          | zset   | the guild's waiting + rendering (guild cap, guild listing)      |
 * | B:user:<u>:outstanding           | set    | the requester's waiting + rendering (user cap)                  |
 * | B:holds, B:guild:<g>:holds,      | zset   | places held for submits about to happen → expiry (count against |
 * |   B:user:<u>:holds               |        | the caps; filled by the submit, or dropped once expired)        |
 * | B:cancel:<id>                    | string | cancel requested (flag the worker polls each batch)             |
 * | B:cancel (pub/sub channel)       |        | job ids to cancel now (the worker holding it aborts)            |
 * | B:frames:<id>                    | hash   | checkpoint: frame index → deflated RGB, for resume after a crash |
 * | B:artifact:<id>                  | string | the encoded GIF/PNG bytes, with a TTL                           |
 * | B:preview:<id>                   | hash   | the newest live preview still of a rendering job, with a TTL    |
 * | B:artifacts                      | zset   | artifact id → expiry time (sweeps the byte counter)             |
 * | B:artifact-sizes                 | hash   | artifact id → bytes                                             |
 * | B:artifact-bytes                 | string | bytes of all live artifacts (checked against the store cap)     |
 * | B:input:<img-id>                 | string | an input image (img2img) a job starts from, with a TTL          |
 * | B:results                        | stream | one entry per finished job; consumer groups give exactly-once   |
 * | B:results:tries:<group>          | hash   | entry id → failed tries and when the next is due (a group's     |
 * |                                  |        | pending entries; survives restarts)                             |
 * | B:workers                        | hash   | worker id → its model and fixed size, refreshed while it runs   |
 * | B:lexicon:<id>                   | string | a model's vocabulary and suggestions (JSON; id: name + content  |
 * |                                  |        | hash), with a TTL its workers refresh                           |
 * | B:replicated                     | string | written by each replication barrier round (WAIT 1 after it)     |
 *
 * Guild and user ids are restricted by the contract to `[A-Za-z0-9_.-]`, so they cannot break out of a key.
 * The Lua scripts rebuild the per-guild / per-job names from `B` with the same rules as the methods below
 * (legal in a cluster only because every name carries the same hash tag as `B`).
 */
/**
 * What every key of the project starts with: the configured prefix as a Redis Cluster hash tag. BullMQ gets it
 * as its `prefix`; the bot's stores and JobKeys build their names on it.
 */
export function keyPrefix(prefix: string): string {
  return `{${prefix}}`;
}

export class JobKeys {
  readonly base: string;

  /** `prefix`: the configured name (LATENTWALK_REDIS_PREFIX), without the braces. */
  constructor(prefix: string) {
    this.base = `${keyPrefix(prefix)}:jobs`;
  }

  get seq(): string {
    return `${this.base}:seq`;
  }
  get round(): string {
    return `${this.base}:round`;
  }
  get guildRounds(): string {
    return `${this.base}:guild-rounds`;
  }
  meta(jobId: string): string {
    return `${this.base}:meta:${jobId}`;
  }
  get waiting(): string {
    return `${this.base}:waiting`;
  }
  get active(): string {
    return `${this.base}:active`;
  }
  get outstanding(): string {
    return `${this.base}:outstanding`;
  }
  guildWaiting(guildId: string): string {
    return `${this.base}:guild:${guildId}:waiting`;
  }
  guildOutstanding(guildId: string): string {
    return `${this.base}:guild:${guildId}:outstanding`;
  }
  userOutstanding(userId: string): string {
    return `${this.base}:user:${userId}:outstanding`;
  }
  cancelFlag(jobId: string): string {
    return `${this.base}:cancel:${jobId}`;
  }
  get cancelChannel(): string {
    return `${this.base}:cancel`;
  }
  frames(jobId: string): string {
    return `${this.base}:frames:${jobId}`;
  }
  preview(jobId: string): string {
    return `${this.base}:preview:${jobId}`;
  }
  artifact(jobId: string): string {
    return `${this.base}:artifact:${jobId}`;
  }
  get artifacts(): string {
    return `${this.base}:artifacts`;
  }
  get artifactSizes(): string {
    return `${this.base}:artifact-sizes`;
  }
  get artifactBytes(): string {
    return `${this.base}:artifact-bytes`;
  }
  get results(): string {
    return `${this.base}:results`;
  }
  get workers(): string {
    return `${this.base}:workers`;
  }
  lexicon(id: string): string {
    return `${this.base}:lexicon:${id}`;
  }
  get replicated(): string {
    return `${this.base}:replicated`;
  }
}
