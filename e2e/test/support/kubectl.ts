import { spawn } from 'node:child_process';
import { kubeconfigPath, kubectlPath } from './paths.ts';

export interface KubectlOptions {
  /** Written to kubectl's stdin, e.g. a manifest for `apply -f -`. */
  input?: string;
}

/** Runs the cluster's own kubectl against its kubeconfig; resolves with stdout, rejects with stderr. */
export function kubectl(args: readonly string[], options: KubectlOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(kubectlPath, ['--kubeconfig', kubeconfigPath, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', (err) => reject(new Error(`kubectl ${args.join(' ')}: ${err.message}`)));
    child.on('close', (code, signal) => {
      if (code === 0) resolve(stdout);
      else {
        const status = signal ? `killed by ${signal}` : `exit ${code}`;
        reject(new Error(`kubectl ${args.join(' ')} failed (${status}): ${stderr.trim() || stdout.trim()}`));
      }
    });
    child.stdin.end(options.input ?? '');
  });
}
