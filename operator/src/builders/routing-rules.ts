// The routing contract (DESIGN.md, Routing) as data: which header condition sends a request to which
// pool, in precedence order. Each provider expresses what it can and reports the rest.
import type { DefaultedStack, Pool } from '../api/servingstack.ts';

export type RoutingRule =
  | { pool: Pool; header: string; kind: 'exact'; value: string; text: string }
  | { pool: Pool; header: string; kind: 'below' | 'above'; ms: number; text: string };

/** Rules in precedence order: latency first, as the brief's router checks it first. */
export function routingRules(stack: DefaultedStack): RoutingRule[] {
  const r = stack.spec.routing;
  return [
    {
      pool: 'latency',
      header: r.priorityHeader,
      kind: 'exact',
      value: r.latencyPriority,
      text: `${r.priorityHeader}: ${r.latencyPriority} -> latency`,
    },
    {
      pool: 'latency',
      header: r.timeoutHeader,
      kind: 'below',
      ms: r.latencyBelowMs,
      text: `${r.timeoutHeader} < ${r.latencyBelowMs} -> latency`,
    },
    {
      pool: 'throughput',
      header: r.priorityHeader,
      kind: 'exact',
      value: r.throughputPriority,
      text: `${r.priorityHeader}: ${r.throughputPriority} -> throughput`,
    },
    {
      pool: 'throughput',
      header: r.timeoutHeader,
      kind: 'above',
      ms: r.throughputAboveMs,
      text: `${r.timeoutHeader} > ${r.throughputAboveMs} -> throughput`,
    },
  ];
}

export function otherPool(pool: Pool): Pool {
  return pool === 'throughput' ? 'latency' : 'throughput';
}

export function stackUrl(stack: DefaultedStack): string {
  return `http://${stack.spec.routing.host}`;
}
