import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from './paths.ts';

// podman for the image suites: the flags this machine needs, and the way the operator runs the
// server (non-root, read-only root filesystem, no capabilities).

const run = promisify(execFile);

/** This machine lacks CAP_SYS_RESOURCE (explicit rlimits) and runs runc, not crun. */
export const PODMAN_FLAGS = [
  '--runtime',
  process.env.PODMAN_RUNTIME ?? 'runc',
  '--ulimit',
  'nofile=1024:4096',
  '--ulimit',
  'nproc=1024:4096',
];

/**
 * What the operator's pods get: uid 65532, no capabilities, a read-only root where only /tmp (the
 * pod's emptyDir) can be written. podman's --read-only alone also mounts tmpfs on /run and
 * /var/tmp, which a kubelet does not: a server that wrote there would pass here and fail in a pod.
 */
export const HARDENED = [
  '--read-only',
  '--read-only-tmpfs=false',
  '--tmpfs',
  '/tmp:rw,mode=1777',
  '--user',
  '65532:65532',
  '--cap-drop',
  'ALL',
  '--security-opt',
  'no-new-privileges',
];

/** podman's stdout, trimmed; rejects with its stderr on a non-zero exit. */
export const podman = async (...args: string[]) =>
  (await run('podman', args, { maxBuffer: 16 * 2 ** 20 })).stdout.trim();

/** A command's exit code and output, whatever the code. */
export async function podmanResult(
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  return run('podman', args, { maxBuffer: 16 * 2 ** 20 }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (err: { code: number; stdout: string; stderr: string }) => err,
  );
}

/**
 * Runs the server image detached, as the operator runs it, published on a random loopback port.
 * `args` are podman run options (`-e NAME=value`). Resolves before the server is ready.
 */
export async function startServer(
  image: string,
  ...args: string[]
): Promise<{ container: string; base: string; metricsBase: string }> {
  const container = await podman(
    'run',
    '-d',
    ...PODMAN_FLAGS,
    ...HARDENED,
    '-p',
    '127.0.0.1::8080',
    '-p',
    '127.0.0.1::9090',
    ...args,
    image,
  );
  const address = async (port: number) =>
    `http://${(await podman('port', container, `${port}/tcp`)).split('\n')[0]!.trim()}`;
  return { container, base: await address(8080), metricsBase: await address(9090) };
}

/** Builds the image with scripts/images.sh (`target` there) unless it exists already. */
export async function ensureImage(image: string, target: string): Promise<void> {
  const exists = await podman('image', 'exists', image).then(
    () => true,
    () => false,
  );
  if (!exists) await run(join(repoRoot, 'scripts/images.sh'), [target], { maxBuffer: 64 * 2 ** 20 });
}
