// The operator's own Prometheus metrics (servingstack_operator_*), on a private registry.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'servingstack_operator_' });
  return {
    registry,
    reconciles: new Counter({
      name: 'servingstack_operator_reconcile_total',
      help: 'Reconcile passes by result (success, error, blocked).',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'servingstack_operator_reconcile_duration_seconds',
      help: 'Time of one reconcile pass.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: 'servingstack_operator_workqueue_depth',
      help: 'Keys waiting in the work queue.',
      registers: [registry],
    }),
    apiCalls: new Counter({
      name: 'servingstack_operator_api_requests_total',
      help: 'Requests the reconciler sent to the API server, by verb and kind (informer list/watch excluded).',
      labelNames: ['verb', 'kind'] as const,
      registers: [registry],
    }),
    informerErrors: new Counter({
      name: 'servingstack_operator_informer_restarts_total',
      help: 'Informer failures that led to a restart with backoff, by resource.',
      labelNames: ['resource'] as const,
      registers: [registry],
    }),
    leader: new Gauge({
      name: 'servingstack_operator_leader',
      help: '1 while this replica holds the leader Lease.',
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
