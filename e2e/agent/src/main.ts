// The servingstack test node agent: plays the kubelet for the local cluster (test tooling,
// never product). It registers one Node with FAKE nvidia.com/gpu capacity and runs the pods
// kube-scheduler binds to it as podman containers.
import { runAgent } from './agent.ts';
import { parseAgentConfig } from './config.ts';
import { createLogger, errorMessage } from './log.ts';
import { Reporting } from './reporting.ts';

const log = createLogger({ component: 'node-agent' });
let config;
try {
  config = parseAgentConfig(process.argv.slice(2), process.env);
} catch (err) {
  console.error(errorMessage(err));
  process.exit(2);
}
const reporting = new Reporting();
try {
  const stop = await runAgent(config, reporting, log);
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down', { signal });
    stop()
      .catch((err: unknown) => log.error('shutdown failed', { err: errorMessage(err) }))
      .finally(() => process.exit(0));
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  // agent.sh disconnect / reconnect: a node cut off from the control plane, and its return.
  process.on('SIGUSR1', () => {
    if (reporting.paused) return;
    log.warn('disconnected: no Lease, node status or pod status reaches the API server; pods keep running');
    reporting.pause();
  });
  process.on('SIGUSR2', () => {
    if (!reporting.paused) return;
    log.info('reconnected: reporting again');
    reporting.resume();
  });
} catch (err) {
  log.error('node agent failed to start', { err: errorMessage(err) });
  process.exit(1);
}
