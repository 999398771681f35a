import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** This machine lacks CAP_SYS_RESOURCE: every container needs rlimits below the hard limits. */
export const ULIMITS = ['nofile=1024:4096', 'nproc=1024:4096'];

/** What `podman ps -a --format json` says about one container (the fields the agent reads). */
export interface PodmanContainer {
  Id: string;
  Names: string[];
  State: string;
  ExitCode: number;
  Exited: boolean;
  StartedAt: number;
  ExitedAt: number;
  IsInfra: boolean;
  Labels: Record<string, string> | null;
}

export interface NetworkInfo {
  name: string;
  subnet: string;
  gateway: string;
}

export class PodmanError extends Error {
  readonly stderr: string;
  constructor(args: readonly string[], stderr: string, cause: unknown) {
    super(`podman ${args.slice(0, 3).join(' ')} failed: ${stderr.trim() || String(cause)}`);
    this.stderr = stderr;
  }
}

/** A thin wrapper over the podman CLI: argument lists in, parsed output back. */
export class Podman {
  readonly #runtime: string;
  readonly #env: NodeJS.ProcessEnv;

  constructor(runtime: string, stateDir: string) {
    this.#runtime = runtime;
    // Pod infra containers take no --ulimit flag, so the rlimits also go into a containers.conf
    // that only this agent's podman calls read.
    const conf = join(stateDir, 'containers.conf');
    writeFileSync(conf, `[containers]\ndefault_ulimits = ${JSON.stringify(ULIMITS)}\n`);
    this.#env = { ...process.env, CONTAINERS_CONF: conf };
  }

  exec(args: readonly string[], timeoutMs = 120_000): Promise<string> {
    const full = ['--runtime', this.#runtime, ...args];
    return new Promise((resolve, reject) => {
      execFile(
        'podman',
        full,
        { env: this.#env, timeout: timeoutMs, maxBuffer: 16 << 20 },
        (err, stdout, stderr) => {
          if (err) reject(new PodmanError(args, stderr, err));
          else resolve(stdout);
        },
      );
    });
  }

  /** Exit status of a command run in a container (probes, preStop hooks); never throws on non-zero. */
  execIn(container: string, command: readonly string[], timeoutMs: number): Promise<number> {
    return new Promise((resolve) => {
      execFile(
        'podman',
        ['--runtime', this.#runtime, 'exec', container, ...command],
        { env: this.#env, timeout: timeoutMs },
        (err) => resolve(err ? (typeof err.code === 'number' ? err.code : -1) : 0),
      );
    });
  }

  async ensureNetwork(name: string): Promise<NetworkInfo> {
    const exists = await this.exec(['network', 'exists', name]).then(
      () => true,
      () => false,
    );
    // No DNS server on the bridge: there is no cluster DNS to point it at anyway.
    if (!exists) await this.exec(['network', 'create', '--disable-dns', name]);
    const [net] = JSON.parse(await this.exec(['network', 'inspect', name])) as [
      { subnets?: { subnet: string; gateway: string }[] },
    ];
    const first = net.subnets?.[0];
    if (!first) throw new Error(`podman network ${name} has no subnet`);
    return { name, subnet: first.subnet, gateway: first.gateway };
  }

  async list(labelFilter: string): Promise<PodmanContainer[]> {
    const out = await this.exec(['ps', '-a', '--format', 'json', '--filter', `label=${labelFilter}`]);
    return out.trim() === '' ? [] : (JSON.parse(out) as PodmanContainer[]);
  }

  async listPods(labelFilter: string): Promise<string[]> {
    const out = await this.exec(['pod', 'ps', '--format', '{{.Name}}', '--filter', `label=${labelFilter}`]);
    return out.split('\n').filter((l) => l !== '');
  }

  async imageExists(image: string): Promise<boolean> {
    return this.exec(['image', 'exists', image]).then(
      () => true,
      () => false,
    );
  }

  /** The image's USER, as runAsNonRoot must judge it ('' means root). */
  async imageUser(image: string): Promise<string> {
    return (await this.exec(['image', 'inspect', '--format', '{{.Config.User}}', image])).trim();
  }

  /** The address the pod's infra container got on the network: the pod IP. */
  /** The hosts file podman made for a pod's infra container, which every container of the pod mounts. */
  async hostsPath(podName: string): Promise<string> {
    const infra = (await this.exec(['pod', 'inspect', '--format', '{{.InfraContainerID}}', podName])).trim();
    const path = (await this.exec(['inspect', '--format', '{{.HostsPath}}', infra])).trim();
    if (!path) throw new Error(`podman pod ${podName} has no hosts file`);
    return path;
  }

  async podIP(podName: string, network: string): Promise<string> {
    const infra = (await this.exec(['pod', 'inspect', '--format', '{{.InfraContainerID}}', podName])).trim();
    const nets = JSON.parse(
      await this.exec(['inspect', '--format', '{{json .NetworkSettings.Networks}}', infra]),
    ) as Record<string, { IPAddress?: string }>;
    const ip = nets[network]?.IPAddress;
    if (!ip) throw new Error(`podman pod ${podName} has no address on network ${network}`);
    return ip;
  }
}
