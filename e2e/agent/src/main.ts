// The servingstack test node agent: plays the kubelet for the local cluster (test tooling,
// never product). It registers one Node with FAKE nvidia.com/gpu capacity and runs the pods
// kube-scheduler binds to it as podman containers.
import { runAgent } from './agent.ts';
import { parseAgentConfig } from './config.ts';
import { createLogger, errorMessage } from './log.ts';

const log = createLogger({ component: 'node-agent' });
let config;
try {
  config = parseAgentConfig(process.argv.slice(2), process.env);
} catch (err) {
  console.error(errorMessage(err));
  process.exit(2);
}
try {
  const stop = await runAgent(config, log);
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
} catch (err) {
  log.error('node agent failed to start', { err: errorMessage(err) });
  process.exit(1);
}
