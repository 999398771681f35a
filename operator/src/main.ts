// The operator process: config, logs, probes and metrics, leader election, then the controller.
import { CoordinationV1Api, KubeConfig } from '@kubernetes/client-node';
import type { Server } from 'node:http';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { apiConfiguration, OPEN_GATE } from './controller/api-clients.ts';
import { LeaderElector } from './controller/leader.ts';
import { SharedTransport } from './controller/transport.ts';
import { createController } from './controller/wiring.ts';
import { boundPort, healthRoutes, listen, metricsRoutes } from './health.ts';
import { createLogger } from './log.ts';
import { createMetrics } from './metrics.ts';

const DRAIN_MS = 20_000;

function configOrExit(): Config {
  try {
    return loadConfig(process.argv.slice(2), process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`servingstack-operator: ${err.message}\n`);
    process.exit(2);
  }
}

async function main(): Promise<void> {
  const config = configOrExit();
  const log = createLogger(config.logLevel);
  const metrics = createMetrics();
  const kc = new KubeConfig();
  kc.loadFromDefault();
  // One keep-alive pool per API server for every client below (client-node opens one per call).
  const transport = new SharedTransport(kc, { maxConnections: Math.max(16, config.workers) });
  const elector = config.leaderElect
    ? new LeaderElector({
        // Lease calls are never gated (they are how the gate opens); each carries its own deadline.
        api: new CoordinationV1Api(apiConfiguration(kc, OPEN_GATE, config.identity, undefined, transport)),
        namespace: config.leaseNamespace,
        name: config.leaseName,
        identity: config.identity,
        leaseDurationMs: config.leaseDurationSeconds * 1000,
        renewDeadlineMs: config.renewDeadlineSeconds * 1000,
        retryPeriodMs: config.retryPeriodSeconds * 1000,
        log,
      })
    : undefined;
  // Every write passes the elector's gate: none leaves the process once the lease is lost.
  const controller = createController(kc, config, metrics, log, elector ?? OPEN_GATE, transport);

  const servers: Server[] = [];
  const ports: Record<string, number> = {};
  if (config.healthProbeBindAddress) {
    const s = await listen(
      config.healthProbeBindAddress,
      healthRoutes({
        healthy: () => true,
        // A standby is ready (waiting is its job); the leader once its caches are filled.
        ready: () => (elector && !elector.isLeader ? true : controller.synced()),
      }),
    );
    servers.push(s);
    ports.health = boundPort(s);
  }
  if (config.metricsBindAddress) {
    const s = await listen(config.metricsBindAddress, metricsRoutes(metrics.registry));
    servers.push(s);
    ports.metrics = boundPort(s);
  }
  log.info(
    {
      identity: config.identity,
      leaderElect: config.leaderElect,
      watchNamespaces: config.watchNamespaces.length > 0 ? config.watchNamespaces : 'all',
      defaultImage: config.defaultImage,
      defaultGpuImage: config.defaultGpuImage,
      ports,
    },
    'servingstack-operator starting',
  );

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down: draining in-flight reconciles');
    await controller.stop(DRAIN_MS);
    await elector?.release();
    metrics.leader.set(0);
    for (const s of servers) s.close();
    log.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));

  const startController = () => {
    metrics.leader.set(1);
    controller.start().catch((err: unknown) => {
      log.fatal({ err: String(err) }, 'controller failed to start');
      process.exit(1);
    });
  };
  if (!elector) {
    startController();
    return;
  }
  // Losing the lease ends the process, as controller-runtime does: writes are already refused by
  // the gate, and a fresh process (the pod restarted) campaigns again with nothing left over, so
  // two controllers never share a process.
  await elector.run(startController, () => {
    metrics.leader.set(0);
    log.fatal({ identity: config.identity }, 'lost the leader lease; exiting');
    process.exit(1);
  });
}

await main();
