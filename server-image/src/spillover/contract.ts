// The routing contract (DESIGN.md, Routing) read from a request's headers: the pool a rule gives
// it to, in the operator's precedence (operator/src/builders/routing-rules.ts: latency first), or
// undefined when no rule names a pool (routing.default, wherever the router sent it). A router
// that cannot express a rule (ingress-nginx: one canary header per host) leaves such requests on
// the wrong pool; the server sees that here and forwards them once.
import type { Pool } from '../config.ts';
import type { HeaderSettings } from '../request-options.ts';
import { firstHeader } from '../request-options.ts';

export type ContractSettings = HeaderSettings & { latencyBelowMs: number; throughputAboveMs: number };

type Headers = Record<string, string | string[] | undefined>;

export function contractedPool(headers: Headers, s: ContractSettings): Pool | undefined {
  const priority = firstHeader(headers[s.priorityHeader.toLowerCase()])?.trim();
  const rawTimeout = firstHeader(headers[s.timeoutHeader.toLowerCase()])?.trim();
  // A malformed timeout names no pool here; the server answers it with 400 wherever it lands.
  const n = rawTimeout === undefined || rawTimeout === '' ? NaN : Number(rawTimeout);
  const timeout = n >= 0 ? n : NaN;
  if (priority === s.realTimePriority) return 'latency';
  if (timeout < s.latencyBelowMs) return 'latency';
  if (priority === s.batchPriority) return 'throughput';
  if (timeout > s.throughputAboveMs) return 'throughput';
  return undefined;
}
