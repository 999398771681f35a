// Spill-over settings from the environment, which the operator sets from the stack's
// spec.routing.spillover (operator/src/builders/spillover-env.ts). Without SPILLOVER_SIBLING_URL
// the server forwards nothing; it still honours the cap on requests its sibling spills to it.
import { ConfigError } from '../config.ts';
import type { Pool } from '../config.ts';

export interface SpilloverConfig {
  /** This server's pool and the sibling's, which requests are forwarded to. */
  pool: Pool;
  sibling: Pool;
  /** Base URL of the sibling pool's Service; undefined: forward nothing. */
  siblingUrl: URL | undefined;
  /** Forward requests this server would refuse (deadline cannot be met, queue full). */
  toSibling: boolean;
  /** Forward requests whose headers the routing contract gives to the sibling (misrouted). */
  route: boolean;
  /** Share of this server's capacity (queue plus one batch) that spilled-in requests may hold. */
  maxSharePercent: number;
  /** The routing contract's thresholds (spec.routing.latencyBelowMs, throughputAboveMs). */
  latencyBelowMs: number;
  throughputAboveMs: number;
  /** Connections kept to the sibling; more forwards wait for one. */
  connections: number;
  /** Longest a connection to the sibling may take to open before it counts as down. */
  connectTimeoutMs: number;
  /** How long a sibling that could not be reached is not tried again. */
  downForMs: number;
  /**
   * Longest a forward of a request without a deadline may take, from sending it to the last byte
   * of the answer; a request with a deadline waits until its deadline instead.
   */
  forwardTimeoutMs: number;
}

/**
 * 15 s: 30 times the throughput pool's default p95 target (500 ms), so a sibling that has not
 * answered by then is stuck rather than busy (a busy one refuses at its admission, at once);
 * inside ingress-nginx's 60 s proxy-read-timeout, so the caller gets this server's answer rather
 * than the router's bare 504; and inside the default drain budget (23 s of a 30 s grace period),
 * so a forward in flight at SIGTERM ends before the drain gives up.
 */
export const DEFAULT_FORWARD_TIMEOUT_MS = 15_000;

/**
 * The default bound, kept within the pod's drain budget when that is shorter (a grace period
 * under about 20 s): a forward that outlasts the drain would be cut when the process exits, so its
 * caller would get a reset instead of this server's refusal.
 */
function defaultForwardTimeoutMs(env: NodeJS.ProcessEnv): number {
  const drainMs = Number(env.DRAIN_TIMEOUT_MS);
  return Number.isInteger(drainMs) && drainMs > 0
    ? Math.min(DEFAULT_FORWARD_TIMEOUT_MS, drainMs)
    : DEFAULT_FORWARD_TIMEOUT_MS;
}

const POOL_DEFAULT_SHARE: Record<Pool, number> = { latency: 20, throughput: 50 };

function onOff(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (raw === 'on' || raw === 'true') return true;
  if (raw === 'off' || raw === 'false') return false;
  throw new ConfigError(name, `must be on or off, got '${raw}'`);
}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!/^\s*\d+\s*$/.test(raw) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new ConfigError(name, `must be an integer between ${min} and ${max}, got '${raw}'`);
  }
  return n;
}

function siblingUrl(env: NodeJS.ProcessEnv): URL | undefined {
  const raw = env.SPILLOVER_SIBLING_URL;
  if (raw === undefined || raw === '') return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError('SPILLOVER_SIBLING_URL', `must be an http:// URL, got '${raw}'`);
  }
  if (url.protocol !== 'http:' || url.pathname !== '/' || url.search !== '' || url.username !== '') {
    throw new ConfigError('SPILLOVER_SIBLING_URL', `must be http://<host>:<port> alone, got '${raw}'`);
  }
  return url;
}

export function parseSpilloverConfig(env: NodeJS.ProcessEnv, pool: Pool): SpilloverConfig {
  const latencyBelowMs = integer(env, 'LATENCY_BELOW_MS', 100, 1, 86_400_000);
  const throughputAboveMs = integer(env, 'THROUGHPUT_ABOVE_MS', 1000, 1, 86_400_000);
  if (latencyBelowMs >= throughputAboveMs) {
    throw new ConfigError(
      'LATENCY_BELOW_MS',
      `must be less than THROUGHPUT_ABOVE_MS (${throughputAboveMs}), got ${latencyBelowMs}`,
    );
  }
  return {
    pool,
    sibling: pool === 'latency' ? 'throughput' : 'latency',
    siblingUrl: siblingUrl(env),
    toSibling: onOff(env, 'SPILLOVER_TO_SIBLING', true),
    route: onOff(env, 'SPILLOVER_ROUTE', true),
    maxSharePercent: integer(env, 'SPILLOVER_MAX_SHARE_PERCENT', POOL_DEFAULT_SHARE[pool], 0, 100),
    latencyBelowMs,
    throughputAboveMs,
    connections: integer(env, 'SPILLOVER_CONNECTIONS', 64, 1, 4096),
    connectTimeoutMs: integer(env, 'SPILLOVER_CONNECT_TIMEOUT_MS', 500, 1, 60_000),
    downForMs: integer(env, 'SPILLOVER_DOWN_FOR_MS', 1000, 0, 600_000),
    forwardTimeoutMs: integer(env, 'SPILLOVER_FORWARD_TIMEOUT_MS', defaultForwardTimeoutMs(env), 1, 600_000),
  };
}
