import type { AgentApi } from './api.ts';
import { describeApiError } from './api.ts';
import type { AgentConfig } from './config.ts';
import type { Logger } from './log.ts';
import { buildLease, buildNode, buildNodeStatus } from './node-object.ts';
import type { Reporting } from './reporting.ts';

const LEASE_RENEW_MS = 10_000;
const STATUS_REPORT_MS = 60_000;

/**
 * Registers the Node, then keeps it alive: the Lease every 10 s, the status every minute; nothing
 * while reporting is paused, and both at once when it resumes.
 */
export async function startHeartbeat(
  api: AgentApi,
  config: AgentConfig,
  hostIP: string,
  podmanVersion: string,
  reporting: Reporting,
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
    if (reporting.paused) return;
    fn().catch((err: unknown) => log.warn(`${what} failed`, { err: describeApiError(err) }));
  };
  const renewLease = guard('lease renewal', renew);
  const reportStatus = guard('node status report', report);
  reporting.onResume(() => {
    reportStatus();
    renewLease();
  });
  const lease = setInterval(renewLease, LEASE_RENEW_MS);
  const status = setInterval(reportStatus, STATUS_REPORT_MS);
  return () => {
    clearInterval(lease);
    clearInterval(status);
  };
}
