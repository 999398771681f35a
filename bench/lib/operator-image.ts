// How the operator image runs node (operator/Dockerfile): the benchmarks run the compiled operator
// the same way, with the flags of its ENTRYPOINT and the ENV of its last stage.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../operator/test/support/operator-process.ts';

const dockerfile = () => readFileSync(join(REPO_ROOT, 'operator/Dockerfile'), 'utf8');

/** The node flags of the ENTRYPOINT; BENCH_OPERATOR_NODE_FLAGS (comma-separated) tries others. */
export function imageNodeFlags(): string[] {
  return (
    process.env.BENCH_OPERATOR_NODE_FLAGS ??
    dockerfile().match(/^ENTRYPOINT \["node", (.*)"operator\/dist\/main.js"\]$/m)?.[1] ??
    ''
  )
    .split(',')
    .map((f) => f.trim().replace(/^"|"$/g, ''))
    .filter(Boolean);
}

/** The environment the image sets (MALLOC_ARENA_MAX among it). */
export function imageEnv(): Record<string, string> {
  return Object.fromEntries(
    [
      ...(
        dockerfile()
          .split(/^FROM /m)
          .pop() ?? ''
      ).matchAll(/^ENV (\S+?)=(\S+)$/gm),
    ].map((m) => [m[1] ?? '', m[2] ?? '']),
  );
}
