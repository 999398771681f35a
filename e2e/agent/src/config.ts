import { resolve } from 'node:path';

/** What one node agent runs as; parsed once from flags with environment twins. */
export interface AgentConfig {
  nodeName: string;
  kubeconfig: string;
  /** Host directories for pod volumes and container logs. */
  stateDir: string;
  /** The podman bridge network every pod joins; its addresses are the pod IPs. */
  network: string;
  /** OCI runtime podman uses (crun cannot run on this machine's hybrid cgroups). */
  ociRuntime: string;
  /** Advertised capacity. Nothing enforces cpu or memory; the GPUs do not exist (fake). */
  capacity: { cpu: string; memory: string; pods: string; fakeGpus: string };
}

interface FlagSpec {
  key: keyof Omit<AgentConfig, 'capacity'> | 'cpu' | 'memory' | 'pods' | 'fakeGpus';
  env: string;
  fallback: (env: NodeJS.ProcessEnv) => string | undefined;
  check?: RegExp;
}

const FLAGS: Record<string, FlagSpec> = {
  '--node-name': {
    key: 'nodeName',
    env: 'AGENT_NODE_NAME',
    fallback: () => 'servingstack-node-1',
    check: /^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$/,
  },
  '--kubeconfig': { key: 'kubeconfig', env: 'KUBECONFIG', fallback: () => undefined },
  '--state-dir': { key: 'stateDir', env: 'AGENT_STATE_DIR', fallback: () => undefined },
  '--network': {
    key: 'network',
    env: 'AGENT_NETWORK',
    fallback: () => 'servingstack',
    check: /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/,
  },
  '--oci-runtime': {
    key: 'ociRuntime',
    env: 'AGENT_OCI_RUNTIME',
    fallback: () => 'runc',
    check: /^[a-z0-9_-]+$/,
  },
  '--cpu': { key: 'cpu', env: 'AGENT_CPU', fallback: () => '8', check: /^[0-9]+m?$/ },
  '--memory': { key: 'memory', env: 'AGENT_MEMORY', fallback: () => '32Gi', check: /^[0-9]+(Ki|Mi|Gi|Ti)?$/ },
  '--pods': { key: 'pods', env: 'AGENT_PODS', fallback: () => '110', check: /^[0-9]+$/ },
  // Enough for the demo's stack (3) and an e2e stack with a rolling update (3) side by side.
  '--fake-gpus': { key: 'fakeGpus', env: 'AGENT_FAKE_GPUS', fallback: () => '8', check: /^[0-9]+$/ },
};

export function usage(): string {
  return `usage: node e2e/agent/src/main.ts ${Object.entries(FLAGS)
    .map(([flag, spec]) => `[${flag} <v>|$${spec.env}]`)
    .join(' ')}`;
}

/** Flags win over their environment twins, which win over the defaults. */
export function parseAgentConfig(argv: readonly string[], env: NodeJS.ProcessEnv): AgentConfig {
  const given = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const [flag, inline] = arg.includes('=')
      ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)]
      : [arg, undefined];
    if (!(flag in FLAGS)) throw new Error(`unknown flag ${JSON.stringify(arg)}; ${usage()}`);
    const value = inline ?? argv[++i];
    if (value === undefined) throw new Error(`flag ${flag} needs a value`);
    given.set(flag, value);
  }
  const values: Record<string, string> = {};
  for (const [flag, spec] of Object.entries(FLAGS)) {
    const value = given.get(flag) ?? env[spec.env] ?? spec.fallback(env);
    if (value === undefined || value === '') throw new Error(`${flag} (or $${spec.env}) is required`);
    if (spec.check && !spec.check.test(value)) {
      throw new Error(`${flag} (or $${spec.env}) ${JSON.stringify(value)} does not match ${spec.check}`);
    }
    values[spec.key] = value;
  }
  const get = (key: string): string => values[key] ?? '';
  return {
    nodeName: get('nodeName'),
    kubeconfig: resolve(get('kubeconfig')),
    stateDir: resolve(get('stateDir')),
    network: get('network'),
    ociRuntime: get('ociRuntime'),
    capacity: { cpu: get('cpu'), memory: get('memory'), pods: get('pods'), fakeGpus: get('fakeGpus') },
  };
}
