import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { V1Container, V1Pod, V1PodStatus, V1Probe } from '@kubernetes/client-node';
import { describeApiError, type AgentApi } from './api.ts';
import type { EventRecorder } from './events.ts';
import { PodConfigError, envReferences, resolveEnv } from './env.ts';
import { errorMessage, type Logger } from './log.ts';
import type { NetworkInfo, Podman, PodmanContainer } from './podman.ts';
import { buildPodStatus, type ContainerView, type PodView, type Terminated } from './pod-status.ts';
import { runProbe } from './probe.ts';
import type { Reporting } from './reporting.ts';
import { statusDiff, withOtherWriters } from './status-sync.ts';
import { newTally, recordProbe, type ProbeTally } from './probe-state.ts';
import { buildRunArgs, effectiveSecurity, nonRootViolation } from './run-args.ts';
import { withServiceSection } from './service-rules.ts';
import { mountsFor, prepareVolumes, type PreparedVolume } from './volumes.ts';

/** Labels on everything the agent creates in podman; `agent.sh stop` removes only these. */
export const LABEL_NODE = 'servingstack.dev/agent-node';
export const LABEL_POD_UID = 'servingstack.dev/agent-pod-uid';
export const LABEL_CONTAINER = 'servingstack.dev/agent-container';

/** Restart back-off: shorter than the kubelet's 10 s..5 min, so crash loops stay visible in tests. */
const BACKOFF_FIRST_MS = 1_000;
const BACKOFF_MAX_MS = 30_000;
/**
 * Status re-sync (see status-sync.ts): the watch delivers the agent's own write within moments,
 * so for this long after a write the watched copy may still be the older one; and while the API
 * server's copy keeps differing, it is rewritten at most this often.
 */
const WATCH_SETTLE_MS = 2_000;
const RESYNC_INTERVAL_MS = 5_000;

export interface WorkerDeps {
  api: AgentApi;
  events: EventRecorder;
  podman: Podman;
  /** Paused while tests play a node cut off from the control plane: no status is written. */
  reporting: Reporting;
  log: Logger;
  nodeName: string;
  stateDir: string;
  network: NetworkInfo;
  allocatable: Record<string, string>;
  /** Variables the kubelet injects into every container (how to reach the API server). */
  kubeEnv: () => Promise<Record<string, string>>;
  /** Extra /etc/hosts entries for every pod, fixed for its life. */
  hosts: () => Record<string, string>;
  /** The Services' /etc/hosts entries now (rewritten in each pod's hosts file as they change). */
  serviceHosts: () => Record<string, string>;
}

/** What one `podman ps` returned, and when that call began. */
export interface Snapshot {
  takenAt: number;
  byId: ReadonlyMap<string, PodmanContainer>;
}

interface ContainerRecord {
  spec: V1Container;
  view: ContainerView;
  id?: string;
  createdAt: number;
  attempt: number;
  backoffUntil: number;
  backoffMs: number;
  startup?: ProbeTally;
  liveness?: ProbeTally;
  readiness?: ProbeTally;
  probing: boolean;
  /** Why the agent is stopping this container (failed liveness/startup probe). */
  killing?: string;
}

type Stage = 'prepare' | 'init' | 'run' | 'terminating' | 'gone';

/**
 * Plays the kubelet for one pod: sandbox (a podman pod on the bridge, whose address is the pod
 * IP), init containers in order, then the containers with restarts, probes and status, and on
 * deletion the grace period. Every podman action of the pod runs one at a time (`busy`).
 */
export class PodWorker {
  pod: V1Pod;
  readonly uid: string;
  readonly #deps: WorkerDeps;
  readonly #log: Logger;
  readonly #podmanPod: string;
  readonly #podDir: string;
  #stage: Stage = 'prepare';
  #busy = false;
  #retryAt = 0;
  #podIP?: string;
  /** The pod's hosts file (podman's, mounted by all its containers), once its sandbox exists. */
  #hostsPath?: string;
  #startTime?: number;
  #volumes = new Map<string, PreparedVolume>();
  readonly #init: ContainerRecord[];
  readonly #containers: ContainerRecord[];
  #failed?: { reason: string; message: string };
  #written?: { json: string; status: V1PodStatus; at: number };
  #writing = false;
  #resyncAfter = 0;

  constructor(pod: V1Pod, deps: WorkerDeps) {
    this.pod = pod;
    this.uid = pod.metadata?.uid ?? '';
    this.#deps = deps;
    const { namespace = '', name = '' } = pod.metadata ?? {};
    this.#log = deps.log.child({ pod: `${namespace}/${name}` });
    this.#podmanPod = `ss_${namespace}_${name}_${this.uid.slice(0, 8)}`;
    this.#podDir = join(deps.stateDir, 'pods', this.uid);
    const initializing = (pod.spec?.initContainers ?? []).length > 0;
    const record = (spec: V1Container): ContainerRecord => ({
      spec,
      view: {
        name: spec.name,
        image: spec.image ?? '',
        state: { kind: 'waiting', reason: initializing ? 'PodInitializing' : 'ContainerCreating' },
        restartCount: 0,
        started: false,
        ready: false,
      },
      createdAt: 0,
      attempt: 0,
      backoffUntil: 0,
      backoffMs: BACKOFF_FIRST_MS,
      probing: false,
    });
    this.#init = (pod.spec?.initContainers ?? []).map(record);
    this.#containers = (pod.spec?.containers ?? []).map(record);
  }

  get gone(): boolean {
    return this.#stage === 'gone';
  }

  /** One step of the pod's life; called about once a second with a fresh container snapshot. */
  tick(snapshot: Snapshot, now: number): void {
    if (this.#stage === 'gone') return;
    for (const r of [...this.#init, ...this.#containers]) this.#observe(r, snapshot);
    if (this.pod.metadata?.deletionTimestamp && this.#stage !== 'terminating') {
      this.#stage = 'terminating';
      this.#exclusive(() => this.#terminate(true));
      return;
    }
    if (this.#stage === 'terminating') return;
    if (this.#stage === 'run') for (const r of this.#containers) this.#probe(r, now);
    if (!this.#busy && now >= this.#retryAt) this.#exclusive(() => this.#step(now));
    this.#writeStatus(now);
  }

  /** The pod vanished from the API without passing through the agent (a forced delete). */
  forget(): void {
    if (this.#stage === 'gone' || this.#stage === 'terminating') return;
    this.#stage = 'terminating';
    const run = () => this.#terminate(false);
    if (this.#busy) setTimeout(() => this.#exclusive(run), 1_000);
    else this.#exclusive(run);
  }

  #exclusive(work: () => Promise<void>): void {
    if (this.#busy) return;
    this.#busy = true;
    work()
      .catch((err: unknown) => this.#log.error('pod step failed', { err: errorMessage(err) }))
      .finally(() => (this.#busy = false));
  }

  async #step(now: number): Promise<void> {
    try {
      if (this.#stage === 'prepare') await this.#prepare(now);
      else if (this.#stage === 'init') await this.#stepInit(now);
      else if (this.#stage === 'run') await this.#stepRun(now);
    } catch (err) {
      const config = err instanceof PodConfigError;
      const reason = config ? 'CreateContainerConfigError' : 'AgentError';
      this.#log.warn('pod not started yet', { reason, err: describeApiError(err) });
      for (const r of [...this.#init, ...this.#containers]) {
        if (!r.id) r.view.state = { kind: 'waiting', reason, message: errorMessage(err) };
      }
      this.#retryAt = Date.now() + (config ? 10_000 : 3_000);
    }
  }

  /**
   * Writes the Services' entries into the pod's hosts file, in place (the containers bind-mount
   * that very file): a Service made after the pod, as the operator may make a pool's sibling,
   * resolves in it from then on, as with cluster DNS.
   */
  async refreshServiceHosts(): Promise<void> {
    const path = this.#hostsPath;
    if (!path) return;
    try {
      const content = await readFile(path, 'utf8');
      const next = withServiceSection(content, this.#deps.serviceHosts());
      if (next !== content) await writeFile(path, next);
    } catch (err) {
      this.#log.warn('hosts file not updated', { path, err: errorMessage(err) });
    }
  }

  async #prepare(now: number): Promise<void> {
    const { podman, network } = this.#deps;
    await mkdir(join(this.#podDir, 'logs'), { recursive: true });
    await podman.exec(['pod', 'rm', '-f', '--ignore', this.#podmanPod]);
    const hostname = (this.pod.spec?.hostname ?? this.pod.metadata?.name ?? 'pod').slice(0, 63);
    const args = [
      'pod',
      'create',
      '--name',
      this.#podmanPod,
      '--network',
      network.name,
      '--hostname',
      hostname,
    ];
    args.push('--label', `${LABEL_NODE}=${this.#deps.nodeName}`, '--label', `${LABEL_POD_UID}=${this.uid}`);
    for (const [host, ip] of Object.entries(this.#deps.hosts())) args.push('--add-host', `${host}:${ip}`);
    await podman.exec(args);
    await podman.exec(['pod', 'start', this.#podmanPod]);
    this.#podIP = await podman.podIP(this.#podmanPod, network.name);
    this.#hostsPath = await podman.hostsPath(this.#podmanPod);
    await this.refreshServiceHosts();
    this.#startTime = now;
    this.#volumes = await prepareVolumes(this.pod, this.#podDir, this.#deps.api, this.#addresses());
    this.#log.info('pod sandbox ready', { podIP: this.#podIP, podmanPod: this.#podmanPod });
    this.#stage = 'init';
  }

  async #stepInit(now: number): Promise<void> {
    const next = this.#init.find((r) => !(r.view.state.kind === 'terminated' && r.view.state.exitCode === 0));
    if (!next) {
      this.#stage = 'run';
      for (const r of this.#containers) r.view.state = { kind: 'waiting', reason: 'ContainerCreating' };
      return;
    }
    const s = next.view.state;
    if (s.kind === 'terminated') {
      if ((this.pod.spec?.restartPolicy ?? 'Always') === 'Never') {
        this.#failed = {
          reason: 'InitContainerFailed',
          message: `init container ${next.spec.name} exited ${s.exitCode}`,
        };
        return;
      }
      await this.#scheduleRestart(next, s, now);
      return;
    }
    if (!next.id && now >= next.backoffUntil) await this.#start(next, now);
  }

  async #stepRun(now: number): Promise<void> {
    const policy = this.pod.spec?.restartPolicy ?? 'Always';
    for (const r of this.#containers) {
      const s = r.view.state;
      if (s.kind === 'terminated') {
        if (policy === 'Always' || (policy === 'OnFailure' && s.exitCode !== 0))
          await this.#scheduleRestart(r, s, now);
      } else if (r.killing && r.id) {
        this.#log.warn('killing container', { container: r.spec.name, why: r.killing });
        this.#deps.events.record(
          this.pod,
          'Normal',
          'Killing',
          `Container ${r.spec.name} ${r.killing}, will be restarted`,
          r.spec.name,
        );
        await this.#deps.podman
          .exec(['stop', '-t', String(this.#graceSeconds()), r.id])
          .catch(() => undefined);
        r.killing = undefined;
      } else if (!r.id && now >= r.backoffUntil) {
        await this.#start(r, now);
      }
    }
  }

  async #scheduleRestart(r: ContainerRecord, s: Terminated, now: number): Promise<void> {
    if (r.id) await this.#deps.podman.exec(['rm', '-f', r.id]).catch(() => undefined);
    r.id = undefined;
    r.view.lastTerminated = s;
    r.view.restartCount++;
    r.backoffUntil = now + r.backoffMs;
    r.backoffMs = Math.min(r.backoffMs * 2, BACKOFF_MAX_MS);
    r.view.state = {
      kind: 'waiting',
      reason: 'CrashLoopBackOff',
      message: `back-off restarting ${r.spec.name}`,
    };
    this.#deps.events.record(
      this.pod,
      'Warning',
      'BackOff',
      `Back-off restarting container ${r.spec.name} (exit code ${s.exitCode})`,
      r.spec.name,
    );
    this.#log.warn('container exited; restarting after back-off', {
      container: r.spec.name,
      exitCode: s.exitCode,
      restartCount: r.view.restartCount,
    });
  }

  async #start(r: ContainerRecord, now: number): Promise<void> {
    const { podman } = this.#deps;
    const c = r.spec;
    const image = c.image ?? '';
    if (!(await podman.imageExists(image))) {
      r.view.state = {
        kind: 'waiting',
        reason: 'ErrImageNeverPull',
        message: `image ${image} is not present on the node (build it locally)`,
      };
      this.#deps.events.record(
        this.pod,
        'Warning',
        'ErrImageNeverPull',
        `image ${image} is not present on the node (build it locally)`,
        c.name,
      );
      r.backoffUntil = now + 10_000;
      return;
    }
    const security = effectiveSecurity(this.pod, c);
    const violation = nonRootViolation(security, await podman.imageUser(image));
    if (violation) throw new PodConfigError(`container ${c.name}: ${violation}`);
    const refs = envReferences([c]);
    const ns = this.pod.metadata?.namespace ?? 'default';
    const configMaps = new Map<string, Record<string, string> | undefined>();
    const secrets = new Map<string, Record<string, string> | undefined>();
    for (const name of refs.configMaps)
      configMaps.set(name, asText(await this.#deps.api.configMap(ns, name)));
    for (const name of refs.secrets) secrets.set(name, asText(await this.#deps.api.secret(ns, name)));
    const env = resolveEnv(
      this.pod,
      c,
      { ...this.#addresses(), configMaps, secrets, allocatable: this.#deps.allocatable },
      await this.#deps.kubeEnv(),
    );
    r.attempt++;
    const name = `${this.#podmanPod}_${c.name}_${r.attempt}`;
    const args = buildRunArgs({
      name,
      podmanPod: this.#podmanPod,
      container: c,
      security,
      env,
      mounts: mountsFor(c, this.#volumes),
      labels: { [LABEL_NODE]: this.#deps.nodeName, [LABEL_POD_UID]: this.uid, [LABEL_CONTAINER]: c.name },
      logPath: join(this.#podDir, 'logs', `${c.name}-${r.attempt}.log`),
    });
    r.createdAt = Date.now();
    const id = (await podman.exec(args)).trim();
    r.id = id;
    r.view.containerID = id;
    r.view.state = { kind: 'running', startedAt: Date.now() };
    r.startup = c.startupProbe ? newTally(c.startupProbe, now) : undefined;
    r.liveness = c.livenessProbe ? newTally(c.livenessProbe, now) : undefined;
    r.readiness = c.readinessProbe ? newTally(c.readinessProbe, now) : undefined;
    this.#refreshReadiness(r);
    this.#log.info('container started', { container: c.name, id: id.slice(0, 12), attempt: r.attempt });
    this.#deps.events.record(this.pod, 'Normal', 'Started', `Started container ${c.name}`, c.name);
  }

  /** Folds what podman reports into the record: a running container that exited is terminated. */
  #observe(r: ContainerRecord, snapshot: Snapshot): void {
    if (!r.id || r.view.state.kind !== 'running') return;
    const seen = snapshot.byId.get(r.id);
    if (seen === undefined && r.createdAt >= snapshot.takenAt) return; // started after the snapshot
    if (seen && seen.State === 'running') return;
    const exitCode = seen?.ExitCode ?? 137;
    r.view.state = {
      kind: 'terminated',
      exitCode,
      reason: seen === undefined ? 'ContainerMissing' : exitCode === 0 ? 'Completed' : 'Error',
      startedAt: r.view.state.startedAt,
      finishedAt: seen?.ExitedAt && seen.ExitedAt > 0 ? seen.ExitedAt * 1000 : Date.now(),
    };
    r.view.ready = false;
    r.view.started = false;
  }

  #probe(r: ContainerRecord, now: number): void {
    if (r.probing || !r.id || r.view.state.kind !== 'running' || r.killing) return;
    const c = r.spec;
    const startupPending = c.startupProbe && r.startup && r.startup.result !== true;
    const candidates: ['startup' | 'liveness' | 'readiness', V1Probe | undefined][] = startupPending
      ? [['startup', c.startupProbe]]
      : [
          ['liveness', c.livenessProbe],
          ['readiness', c.readinessProbe],
        ];
    const due = candidates.find(([kind, probe]) => probe && (r[kind]?.nextAt ?? Infinity) <= now);
    if (!due) return;
    const [kind, probe] = due as [(typeof due)[0], V1Probe];
    const id = r.id;
    r.probing = true;
    runProbe(probe, {
      podIP: this.#podIP ?? '',
      container: c,
      exec: (command, timeoutMs) => this.#deps.podman.execIn(id, command, timeoutMs),
    })
      .catch(() => false)
      .then((ok) => {
        r.probing = false;
        const tally = r[kind];
        if (r.id !== id || !tally) return; // the container was replaced meanwhile
        const next = recordProbe(tally, probe, ok, Date.now());
        r[kind] = next;
        if (!ok) {
          const what = `${kind[0]?.toUpperCase()}${kind.slice(1)} probe failed`;
          this.#deps.events.record(this.pod, 'Warning', 'Unhealthy', what, c.name);
        }
        if (kind !== 'readiness' && next.result === false) {
          r.killing = `${kind} probe failed ${next.failures} times`;
          this.#log.warn('probe failed; container will be restarted', { container: c.name, probe: kind });
        }
        if (kind === 'readiness' && tally.result !== next.result) {
          this.#log.info('readiness changed', { container: c.name, ready: next.result === true });
        }
        this.#refreshReadiness(r);
      });
  }

  #refreshReadiness(r: ContainerRecord): void {
    const running = r.view.state.kind === 'running';
    r.view.started = running && (!r.spec.startupProbe || r.startup?.result === true);
    r.view.ready = r.view.started && (!r.spec.readinessProbe || r.readiness?.result === true);
  }

  #view(): PodView {
    return {
      hostIP: this.#deps.network.gateway,
      ...(this.#podIP && { podIP: this.#podIP }),
      ...(this.#startTime !== undefined && { startTime: this.#startTime }),
      sandboxReady: this.#podIP !== undefined && this.#stage !== 'terminating',
      initDone: this.#stage === 'run' || this.#stage === 'terminating',
      init: this.#init.map((r) => ({ ...r.view })),
      containers: this.#containers.map((r) => ({ ...r.view })),
      ...(this.#failed && { failed: this.#failed }),
    };
  }

  /**
   * Writes the pod's status when the agent's view of it changed, or when the API server's copy
   * drifted from that view (another writer, e.g. the node lifecycle controller); never when both
   * agree.
   */
  #writeStatus(now: number): void {
    if (this.#writing || this.#deps.reporting.paused) return;
    const status = buildPodStatus(this.pod, this.#view(), now, this.#written?.status ?? this.pod.status);
    const json = JSON.stringify(status);
    if (json === this.#written?.json) {
      if (now - this.#written.at < WATCH_SETTLE_MS || now < this.#resyncAfter) return;
      const drift = statusDiff(status, this.pod.status);
      if (drift.length === 0) return;
      this.#resyncAfter = now + RESYNC_INTERVAL_MS;
      this.#log.info('pod status re-synced: the API server held another', { fields: drift });
    }
    this.#writing = true;
    this.#deps.api
      .patchPodStatus(this.pod, withOtherWriters(status, this.pod.status))
      .then(() => (this.#written = { json, status, at: Date.now() }))
      .catch((err: unknown) => this.#log.warn('pod status write failed', { err: describeApiError(err) }))
      .finally(() => (this.#writing = false));
  }

  #graceSeconds(): number {
    return (
      this.pod.metadata?.deletionGracePeriodSeconds ?? this.pod.spec?.terminationGracePeriodSeconds ?? 30
    );
  }

  /**
   * preStop hooks, then SIGTERM with the rest of the grace period before SIGKILL (podman stop -t),
   * then the sandbox; the pod object is deleted only once its containers are gone.
   */
  async #terminate(deleteFromApi: boolean): Promise<void> {
    const deadline = Date.now() + this.#graceSeconds() * 1000;
    this.#log.info('stopping pod', { graceSeconds: this.#graceSeconds() });
    for (const r of this.#containers.filter((x) => x.id && x.view.state.kind === 'running')) {
      this.#deps.events.record(
        this.pod,
        'Normal',
        'Killing',
        `Stopping container ${r.spec.name}`,
        r.spec.name,
      );
    }
    const running = this.#containers.filter((r) => r.id && r.view.state.kind === 'running');
    await Promise.all(running.map((r) => this.#preStop(r, deadline)));
    const left = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
    await Promise.all(
      [...this.#init, ...this.#containers]
        .filter((r) => r.id)
        .map((r) =>
          this.#deps.podman
            .exec(['stop', '-t', String(left), r.id ?? ''], (left + 30) * 1000)
            .catch(() => undefined),
        ),
    );
    await this.#deps.podman.exec(['pod', 'rm', '-f', '--ignore', this.#podmanPod]).catch((err: unknown) => {
      this.#log.warn('podman pod rm failed', { err: errorMessage(err) });
    });
    await rm(join(this.#podDir, 'volumes'), { recursive: true, force: true });
    if (deleteFromApi) {
      try {
        await this.#deps.api.deletePodNow(this.pod);
      } catch (err) {
        // Stay 'terminating' and retry the delete on a later tick rather than leak the pod.
        this.#log.warn('pod delete failed; will retry', { err: describeApiError(err) });
        setTimeout(() => this.#exclusive(() => this.#terminate(true)), 2_000);
        return;
      }
    }
    this.#log.info('pod stopped and removed');
    this.#stage = 'gone';
  }

  async #preStop(r: ContainerRecord, deadline: number): Promise<void> {
    const hook = r.spec.lifecycle?.preStop;
    if (!hook) return;
    const budget = Math.max(0, deadline - Date.now());
    if (hook.sleep) {
      await new Promise((resolve) =>
        setTimeout(resolve, Math.min(hook.sleep?.seconds ?? 0, budget / 1000) * 1000),
      );
    } else if (hook.exec?.command && r.id) {
      await this.#deps.podman.execIn(r.id, hook.exec.command, budget);
    } else if (hook.httpGet) {
      await runProbe(
        { httpGet: hook.httpGet, timeoutSeconds: Math.ceil(budget / 1000) },
        {
          podIP: this.#podIP ?? '',
          container: r.spec,
          exec: async () => -1,
        },
      );
    }
  }

  #addresses(): { podIP: string; hostIP: string } {
    return { podIP: this.#podIP ?? '', hostIP: this.#deps.network.gateway };
  }
}

function asText(data: Record<string, Buffer> | undefined): Record<string, string> | undefined {
  return data && Object.fromEntries(Object.entries(data).map(([k, v]) => [k, v.toString('utf8')]));
}
