// Every client the operator writes through is built here, on one transport that
//  - names this process in the User-Agent (servingstack-operator/<identity>), so the API server's
//    audit log tells replicas apart;
//  - sends through the auth it is given: in the process, the SharedTransport (transport.ts), one
//    keep-alive pool per API server instead of a new connection per call;
//  - asks the write gate right before a write leaves the process: once leadership is lost, no
//    write goes out, whichever code path it comes from (a reconcile already under way included).
//    It asks twice: when the call is made, and again when the pool hands the request a connection.
//    The pool is bounded, so a write may wait there behind slow calls for longer than the renew
//    deadline (or across a pause of the process); asked only at the call, it would then be sent
//    after the lease was lost.
// Reads are not gated: a standby may read, and reading cannot split the brain.
import {
  createConfiguration,
  HttpMethod,
  IsomorphicFetchHttpLibrary,
  ServerConfiguration,
  type Configuration,
  type HttpLibrary,
  type KubeConfig,
  type RequestContext,
  type SecurityAuthentication,
} from '@kubernetes/client-node';
import type { Dispatcher } from 'undici';

export interface WriteGate {
  /** Throws when this process must not write now. */
  check(): void;
}

/** Without leader election every write may go. */
export const OPEN_GATE: WriteGate = { check: () => {} };

export class GatedHttp implements HttpLibrary {
  private readonly inner: HttpLibrary;
  private readonly gate: WriteGate;
  private readonly userAgent: string;

  constructor(inner: HttpLibrary, gate: WriteGate, userAgent: string) {
    this.inner = inner;
    this.gate = gate;
    this.userAgent = userAgent;
  }

  send(ctx: RequestContext): ReturnType<HttpLibrary['send']> {
    ctx.setHeaderParam('User-Agent', this.userAgent);
    if (ctx.getHttpMethod() !== HttpMethod.GET) {
      // A throw here rejects the call before any byte is sent.
      this.gate.check();
      const pool = ctx.getDispatcher();
      if (pool) ctx.setDispatcher(pool.compose(checkedOnSend(this.gate)));
    }
    return this.inner.send(ctx);
  }
}

/**
 * Asks the gate once more when the request gets its connection, right before its first byte is
 * written (undici calls onRequestStart there); a refusal aborts it unsent.
 */
export function checkedOnSend(gate: WriteGate): Dispatcher.DispatcherComposeInterceptor {
  return (dispatch) => (opts, handler) =>
    dispatch(
      opts,
      new Proxy(handler, {
        get(target, prop) {
          if (prop === 'onRequestStart') {
            return (controller: Dispatcher.DispatchController, context: unknown) => {
              try {
                gate.check();
              } catch (err) {
                controller.abort(err as Error);
                return;
              }
              return target.onRequestStart?.(controller, context as object);
            };
          }
          const v: unknown = Reflect.get(target, prop, target);
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      }),
    );
}

export function userAgent(identity: string): string {
  return `servingstack-operator/${identity}`;
}

export function apiConfiguration(
  kc: KubeConfig,
  gate: WriteGate,
  identity: string,
  http: HttpLibrary = new IsomorphicFetchHttpLibrary(),
  /** Credentials and connections: the process's SharedTransport (client-node's own makes one per call). */
  auth: SecurityAuthentication = kc,
): Configuration {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig names no current cluster');
  return createConfiguration({
    baseServer: new ServerConfiguration(cluster.server, {}),
    authMethods: { default: auth },
    httpApi: new GatedHttp(http, gate, userAgent(identity)),
  });
}
