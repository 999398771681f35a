// The routing contract of DESIGN.md as request cases, for a stack with the default thresholds
// (latencyBelowMs 100, throughputAboveMs 1000) and routing.default = throughput.

export interface RoutingCase {
  /** How the demo table and test names show it. */
  label: string;
  headers: Record<string, string>;
  pool: 'latency' | 'throughput';
  /** Whether provider ingress-nginx can express it (one canary header per host). */
  ingressNginx: boolean;
}

export const ROUTING_CASES: readonly RoutingCase[] = [
  {
    label: 'X-Serving-Priority: real-time',
    headers: { 'X-Serving-Priority': 'real-time' },
    pool: 'latency',
    ingressNginx: true,
  },
  {
    label: 'X-Serving-Priority: batch',
    headers: { 'X-Serving-Priority': 'batch' },
    pool: 'throughput',
    ingressNginx: true,
  },
  {
    label: 'X-Request-Timeout-Ms: 50',
    headers: { 'X-Request-Timeout-Ms': '50' },
    pool: 'latency',
    ingressNginx: false,
  },
  {
    label: 'X-Request-Timeout-Ms: 500',
    headers: { 'X-Request-Timeout-Ms': '500' },
    pool: 'throughput',
    ingressNginx: true,
  },
  {
    label: 'X-Request-Timeout-Ms: 5000',
    headers: { 'X-Request-Timeout-Ms': '5000' },
    pool: 'throughput',
    ingressNginx: true,
  },
  { label: '(no routing header)', headers: {}, pool: 'throughput', ingressNginx: true },
];
