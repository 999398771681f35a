import type { AgentApi } from './api.ts';
import { describeApiError } from './api.ts';
import type { AgentConfig } from './config.ts';
import type { Logger } from './log.ts';
import { buildLease, buildNode, buildNodeStatus } from './node-object.ts';

const LEASE_RENEW_MS = 10_000;
const STATUS_REPORT_MS = 60_000;

/** Registers the Node, then keeps it alive: the Lease every 10 s, the status every minute. */
export async function startHeartbeat(
  api: AgentApi,
  config: AgentConfig,
  hostIP: string,
  podmanVersion: string,
  log: Logger,
): Promise<() => void> {
  const node = await api.upsertNode(buildNode(config));
  const uid = node.metadata?.uid;
  const report = () =>
    api.patchNodeStatus(config.nodeName, buildNodeStatus(config, hostIP, Date.now(), podmanVersion));
  const renew = () => api.renewLease(buildLease(config, uid, Date.now()));
  await report();
  await renew();
  log.info('node registered', {
    node: config.nodeName,
    capacity: config.capacity,
    note: 'nvidia.com/gpu is FAKE: no GPU exists here',
  });
  const guard = (what: string, fn: () => Promise<void>) => () => {
    fn().catch((err: unknown) => log.warn(`${what} failed`, { err: describeApiError(err) }));
  };
  const lease = setInterval(guard('lease renewal', renew), LEASE_RENEW_MS);
  const status = setInterval(guard('node status report', report), STATUS_REPORT_MS);
  return () => {
    clearInterval(lease);
    clearInterval(status);
  };
}
