// Runs the operator as a child process for e2e tests and benchmarks: the real `node
// operator/src/main.ts`, against the local cluster, with its JSON log kept for assertions and
// copied to .cluster/logs/.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const CLUSTER_DIR = process.env.CLUSTER_DIR ?? join(REPO_ROOT, '.cluster');

export interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

export interface OperatorOptions {
  identity: string;
  /** Namespaces to watch; the lease lives in the first. */
  namespaces: string[];
  leaseName: string;
  args?: string[];
  env?: Record<string, string>;
  /** Run the compiled operator (operator/dist/main.js, as the image does) instead of the sources. */
  compiled?: boolean;
  /** Flags for node itself (before the script), e.g. V8 memory settings. */
  nodeArgs?: string[];
}

export class OperatorProcess {
  readonly identity: string;
  readonly lines: LogLine[] = [];
  private readonly child: ChildProcess;
  private readonly logFile: WriteStream;
  private readonly exited: Promise<number | null>;
  private exitCode: number | null | undefined;

  private constructor(o: OperatorOptions) {
    this.identity = o.identity;
    const logs = join(CLUSTER_DIR, 'logs');
    mkdirSync(logs, { recursive: true });
    this.logFile = createWriteStream(join(logs, `operator-${o.identity}.log`), { flags: 'a' });
    const args = [
      ...(o.nodeArgs ?? []),
      join(REPO_ROOT, o.compiled ? 'operator/dist/main.js' : 'operator/src/main.ts'),
      '--watch-namespaces',
      o.namespaces.join(','),
      '--lease-namespace',
      o.namespaces[0] ?? 'default',
      '--lease-name',
      o.leaseName,
      '--metrics-bind-address',
      '127.0.0.1:0',
      '--health-probe-bind-address',
      '127.0.0.1:0',
      ...(o.args ?? []),
    ];
    this.child = spawn(process.execPath, args, {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        KUBECONFIG: process.env.KUBECONFIG ?? join(CLUSTER_DIR, 'kubeconfig'),
        POD_NAME: o.identity,
        LOG_LEVEL: 'debug',
        ORT_DISABLE_TELEMETRY: '1',
        ...o.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let buf = '';
    this.child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      this.logFile.write(chunk);
      buf += chunk;
      const parts = buf.split('\n');
      buf = parts.pop() ?? '';
      for (const p of parts) {
        try {
          this.lines.push(JSON.parse(p) as LogLine);
        } catch {
          this.lines.push({ level: 50, msg: p });
        }
      }
    });
    this.child.stderr?.setEncoding('utf8').on('data', (chunk: string) => this.logFile.write(chunk));
    this.exited = new Promise((resolve) =>
      this.child.on('exit', (code) => {
        this.exitCode = code;
        this.logFile.end();
        resolve(code);
      }),
    );
  }

  static start(o: OperatorOptions): OperatorProcess {
    return new OperatorProcess(o);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  has(msg: string): boolean {
    return this.lines.some((l) => l.msg === msg);
  }

  count(msg: string): number {
    return this.lines.filter((l) => l.msg === msg).length;
  }

  /** Waits for a log line; fails naming it (and the last lines) when it does not come. */
  async waitForLog(msg: string, timeoutMs: number, after = 0): Promise<LogLine> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.lines.slice(after).find((l) => l.msg === msg);
      if (hit) return hit;
      if (!this.running)
        throw new Error(`operator ${this.identity} exited (${this.exitCode}) before logging "${msg}"`);
      if (Date.now() > deadline) {
        const tail = this.lines
          .slice(-5)
          .map((l) => l.msg)
          .join(' | ');
        throw new Error(
          `timed out after ${timeoutMs / 1000}s waiting for operator ${this.identity} to log "${msg}"; last: ${tail}`,
        );
      }
      await sleep(200);
    }
  }

  /** Ports the operator bound (it logs them at start). */
  async ports(): Promise<{ metrics: number; health: number }> {
    const line = await this.waitForLog('servingstack-operator starting', 30_000);
    return line.ports as { metrics: number; health: number };
  }

  async metrics(): Promise<string> {
    const { metrics } = await this.ports();
    const res = await fetch(`http://127.0.0.1:${metrics}/metrics`);
    return res.text();
  }

  /** Sends a signal and waits for the exit code. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 30_000): Promise<number | null> {
    if (!this.running) return this.exitCode ?? null;
    this.child.kill(signal);
    const code = await Promise.race([this.exited, sleep(timeoutMs).then(() => 'timeout' as const)]);
    if (code === 'timeout') {
      this.child.kill('SIGKILL');
      throw new Error(`operator ${this.identity} did not exit within ${timeoutMs / 1000}s of ${signal}`);
    }
    return code;
  }
}

/** Sum of a Prometheus counter over its series, from /metrics text; 0 when absent. */
export function metricSum(text: string, name: string, labelFilter = ''): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (!(rest.startsWith('{') || rest.startsWith(' '))) continue;
    if (labelFilter && !rest.includes(labelFilter)) continue;
    sum += Number(line.split(' ').pop());
  }
  return sum;
}
