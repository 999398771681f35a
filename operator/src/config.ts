// Operator configuration from flags, each with an environment twin (flags win). Validated at start:
// every problem is reported at once, naming the flag and the variable.
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';

export interface BindAddress {
  host: string;
  port: number;
}

export interface Config {
  defaultImage: string;
  defaultGpuImage: string;
  /** Empty: all namespaces. */
  watchNamespaces: string[];
  logLevel: string;
  leaderElect: boolean;
  leaseNamespace: string;
  leaseName: string;
  leaseDurationSeconds: number;
  renewDeadlineSeconds: number;
  retryPeriodSeconds: number;
  /** undefined: the server is off ("0"). */
  metricsBindAddress: BindAddress | undefined;
  healthProbeBindAddress: BindAddress | undefined;
  resyncPeriodSeconds: number;
  workers: number;
  identity: string;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

interface Setting {
  flag: string;
  env: string;
  fallback: (env: NodeJS.ProcessEnv) => string;
  help: string;
}

export const SETTINGS = {
  defaultImage: {
    flag: 'default-image',
    env: 'SERVINGSTACK_DEFAULT_IMAGE',
    fallback: () => 'localhost/servingstack/server:dev',
    help: 'server image for CPU pools (gpus: 0) of stacks that name none',
  },
  defaultGpuImage: {
    flag: 'default-gpu-image',
    env: 'SERVINGSTACK_DEFAULT_GPU_IMAGE',
    fallback: () => 'localhost/servingstack/server:dev-cuda13',
    help: 'server image for GPU pools (gpus > 0) of stacks that name none',
  },
  watchNamespaces: {
    flag: 'watch-namespaces',
    env: 'WATCH_NAMESPACES',
    fallback: () => '',
    help: 'comma-separated namespaces to watch; empty watches all',
  },
  logLevel: {
    flag: 'log-level',
    env: 'LOG_LEVEL',
    fallback: () => 'info',
    help: 'trace|debug|info|warn|error|fatal',
  },
  leaderElect: {
    flag: 'leader-elect',
    env: 'LEADER_ELECT',
    fallback: () => 'true',
    help: 'elect a leader through a Lease so only one replica writes',
  },
  leaseNamespace: {
    flag: 'lease-namespace',
    env: 'LEASE_NAMESPACE',
    fallback: (env) => env.POD_NAMESPACE || 'default',
    help: 'namespace of the leader Lease (default: POD_NAMESPACE, else "default")',
  },
  leaseName: {
    flag: 'lease-name',
    env: 'LEASE_NAME',
    fallback: () => 'servingstack-operator',
    help: 'name of the leader Lease',
  },
  leaseDurationSeconds: {
    flag: 'lease-duration',
    env: 'LEASE_DURATION_SECONDS',
    fallback: () => '15',
    help: 'seconds a standby waits after the last renewal before taking over',
  },
  renewDeadlineSeconds: {
    flag: 'renew-deadline',
    env: 'RENEW_DEADLINE_SECONDS',
    fallback: () => '10',
    help: 'seconds the leader keeps trying to renew before it stops',
  },
  retryPeriodSeconds: {
    flag: 'retry-period',
    env: 'RETRY_PERIOD_SECONDS',
    fallback: () => '2',
    help: 'seconds between lease attempts',
  },
  metricsBindAddress: {
    flag: 'metrics-bind-address',
    env: 'METRICS_BIND_ADDRESS',
    fallback: () => ':8080',
    help: 'host:port of /metrics; "0" turns it off',
  },
  healthProbeBindAddress: {
    flag: 'health-probe-bind-address',
    env: 'HEALTH_PROBE_BIND_ADDRESS',
    fallback: () => ':8081',
    help: 'host:port of /healthz and /readyz; "0" turns it off',
  },
  resyncPeriodSeconds: {
    flag: 'resync-period',
    env: 'RESYNC_PERIOD_SECONDS',
    fallback: () => '300',
    help: 'seconds between re-checks of every stack without events',
  },
  workers: { flag: 'workers', env: 'WORKERS', fallback: () => '4', help: 'stacks reconciled in parallel' },
} satisfies Record<string, Setting>;

type Key = keyof typeof SETTINGS;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

export function usage(): string {
  return Object.values(SETTINGS)
    .map((s) => `  --${s.flag.padEnd(28)} env ${s.env.padEnd(28)} ${s.help}`)
    .join('\n');
}

export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv): Config {
  const options = Object.fromEntries(
    Object.values(SETTINGS).map((s) => [s.flag, { type: 'string' as const }]),
  );
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new ConfigError(`${(err as Error).message}\nsettings:\n${usage()}`);
  }
  const problems: string[] = [];
  const raw = (k: Key): string => {
    const s = SETTINGS[k];
    const v = values[s.flag];
    if (typeof v === 'string') return v;
    const e = env[s.env];
    return e !== undefined && e !== '' ? e : s.fallback(env);
  };
  const where = (k: Key) => `--${SETTINGS[k].flag} (env ${SETTINGS[k].env})`;
  const int = (k: Key, min: number, max: number): number => {
    const v = raw(k);
    const n = Number(v);
    if (!/^\d+$/.test(v) || n < min || n > max) {
      problems.push(`${where(k)} must be an integer from ${min} to ${max}, got "${v}"`);
      return min;
    }
    return n;
  };
  const bind = (k: Key): BindAddress | undefined => {
    const v = raw(k);
    if (v === '0') return undefined;
    const m = /^(.*):(\d{1,5})$/.exec(v);
    const port = Number(m?.[2]);
    if (!m || port > 65535) {
      problems.push(`${where(k)} must be host:port, :port or "0", got "${v}"`);
      return undefined;
    }
    return { host: (m[1] ?? '').replace(/^\[(.*)\]$/, '$1'), port };
  };

  const image = (k: 'defaultImage' | 'defaultGpuImage'): string => {
    const v = raw(k).trim();
    if (!v || /\s/.test(v)) problems.push(`${where(k)} must be an image reference`);
    return v;
  };
  const defaultImage = image('defaultImage');
  const defaultGpuImage = image('defaultGpuImage');
  const watchNamespaces = raw('watchNamespaces')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const ns of watchNamespaces) {
    if (!DNS_LABEL.test(ns) || ns.length > 63)
      problems.push(`${where('watchNamespaces')}: "${ns}" is not a namespace name`);
  }
  const logLevel = raw('logLevel');
  if (!LOG_LEVELS.includes(logLevel))
    problems.push(`${where('logLevel')} must be one of ${LOG_LEVELS.join('|')}, got "${logLevel}"`);
  const le = raw('leaderElect').toLowerCase();
  if (!['true', 'false'].includes(le))
    problems.push(`${where('leaderElect')} must be true or false, got "${le}"`);
  const leaseNamespace = raw('leaseNamespace');
  if (!DNS_LABEL.test(leaseNamespace))
    problems.push(`${where('leaseNamespace')}: "${leaseNamespace}" is not a namespace name`);
  const leaseName = raw('leaseName');
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(leaseName) || leaseName.length > 253) {
    problems.push(`${where('leaseName')}: "${leaseName}" is not a valid object name`);
  }
  const leaseDurationSeconds = int('leaseDurationSeconds', 2, 600);
  const renewDeadlineSeconds = int('renewDeadlineSeconds', 1, 600);
  const retryPeriodSeconds = int('retryPeriodSeconds', 1, 600);
  if (renewDeadlineSeconds >= leaseDurationSeconds) {
    problems.push(`${where('renewDeadlineSeconds')} must be less than ${where('leaseDurationSeconds')}`);
  }
  if (retryPeriodSeconds >= renewDeadlineSeconds) {
    problems.push(`${where('retryPeriodSeconds')} must be less than ${where('renewDeadlineSeconds')}`);
  }
  const config: Config = {
    defaultImage,
    defaultGpuImage,
    watchNamespaces,
    logLevel,
    leaderElect: le === 'true',
    leaseNamespace,
    leaseName,
    leaseDurationSeconds,
    renewDeadlineSeconds,
    retryPeriodSeconds,
    metricsBindAddress: bind('metricsBindAddress'),
    healthProbeBindAddress: bind('healthProbeBindAddress'),
    resyncPeriodSeconds: int('resyncPeriodSeconds', 1, 86_400),
    workers: int('workers', 1, 64),
    identity: env.POD_NAME || `${hostname()}_${randomUUID()}`,
  };
  if (problems.length > 0) throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`);
  return config;
}
