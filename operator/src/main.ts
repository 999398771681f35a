// The operator process: config, logs, probes and metrics, leader election, then the controller.
import { CoordinationV1Api, KubeConfig } from '@kubernetes/client-node';
import type { Server } from 'node:http';
import { ConfigError, loadConfig } from './config.ts';
import { Controller } from './controller/controller.ts';
import { LeaderElector } from './controller/leader.ts';
import { healthRoutes, listen, metricsRoutes } from './health.ts';
import { createLogger } from './log.ts';
import { createMetrics } from './metrics.ts';

const DRAIN_MS = 20_000;

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`servingstack-operator: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger(config.logLevel);
  const metrics = createMetrics();
  const kc = new KubeConfig();
  kc.loadFromDefault();
  const controller = new Controller(kc, config, metrics, log);
  const elector = config.leaderElect
    ? new LeaderElector({
        api: kc.makeApiClient(CoordinationV1Api),
        namespace: config.leaseNamespace,
        name: config.leaseName,
        identity: config.identity,
        leaseDurationMs: config.leaseDurationSeconds * 1000,
        renewDeadlineMs: config.renewDeadlineSeconds * 1000,
        retryPeriodMs: config.retryPeriodSeconds * 1000,
        log,
      })
    : undefined;

  const servers: Server[] = [];
  if (config.healthProbeBindAddress) {
    servers.push(
      await listen(
        config.healthProbeBindAddress,
        healthRoutes({
          healthy: () => true,
          // A standby is ready (it is doing its job: waiting); the leader once its caches are filled.
          ready: () => (elector && !elector.isLeader ? true : controller.synced()),
        }),
      ),
    );
  }
  if (config.metricsBindAddress)
    servers.push(await listen(config.metricsBindAddress, metricsRoutes(metrics.registry)));
  log.info(
    {
      identity: config.identity,
      leaderElect: config.leaderElect,
      watchNamespaces: config.watchNamespaces.length > 0 ? config.watchNamespaces : 'all',
      defaultImage: config.defaultImage,
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
  if (elector) {
    await elector.run(startController, () => {
      // Another replica may already be writing: stop at once rather than race it.
      metrics.leader.set(0);
      process.exit(1);
    });
  } else {
    startController();
  }
}

await main();
