/**
 * Failures on request: a test (or the playground) asks for the next matching REST request(s) to fail with a
 * given Discord error, for the errors that are awkward to reach through state alone (a 5xx, a 50035 on a
 * body Discord would otherwise take, a 40005 on a file under the limit). The request is recorded like any
 * other failed one. Failures that follow from state (a deleted channel, a missing permission, an archived
 * thread) come from the state itself; see LocalDiscord's server-side actions.
 */
import type { ApiError } from './errors.ts';

export interface FaultRequest {
  method: string;
  /** The route template, e.g. `/channels/:channelId/messages` (as in `requests[].route`). */
  route: string;
  params: Record<string, string>;
  /** The JSON body (`payload_json` for multipart). */
  body: unknown;
  fileCount: number;
}

export interface FaultRule {
  /** HTTP method; any when absent. */
  method?: string;
  /** Route template; any when absent. */
  route?: string;
  /** Route parameters that must match, e.g. `{ channelId }` or `{ token }` (an interaction's webhook). */
  params?: Record<string, string>;
  /** Only requests that upload files (true) or that do not (false). */
  withFiles?: boolean;
  /** Any further condition. */
  match?: (request: FaultRequest) => boolean;
  /** How many matching requests fail (default 1; Infinity: until removed). */
  times?: number;
  error: ApiError | (() => ApiError);
}

export interface FaultHandle {
  /** Matching requests that failed so far. */
  readonly hits: number;
  remove(): void;
}

interface ActiveFault {
  rule: FaultRule;
  left: number;
  hits: number;
}

export class FaultInjector {
  readonly #faults: ActiveFault[] = [];

  add(rule: FaultRule): FaultHandle {
    const fault: ActiveFault = { rule, left: rule.times ?? 1, hits: 0 };
    this.#faults.push(fault);
    const faults = this.#faults;
    return {
      get hits() {
        return fault.hits;
      },
      remove() {
        const at = faults.indexOf(fault);
        if (at >= 0) faults.splice(at, 1);
      },
    };
  }

  clear(): void {
    this.#faults.length = 0;
  }

  /** The error this request must fail with, if a rule wants it to (oldest rule first). */
  check(request: FaultRequest): ApiError | undefined {
    for (const fault of this.#faults) {
      const { rule } = fault;
      if (fault.left <= 0) continue;
      if (rule.method && rule.method.toUpperCase() !== request.method) continue;
      if (rule.route && rule.route !== request.route) continue;
      if (rule.params && Object.entries(rule.params).some(([key, value]) => request.params[key] !== value)) continue;
      if (rule.withFiles !== undefined && rule.withFiles !== request.fileCount > 0) continue;
      if (rule.match && !rule.match(request)) continue;
      fault.left -= 1;
      fault.hits += 1;
      return typeof rule.error === 'function' ? rule.error() : rule.error;
    }
    return undefined;
  }
}
