// scripts/cuda-libs.sh's cache, without downloading anything: a layout already complete for the
// current pins is reused, and what an earlier run left when it was killed mid-layout is removed.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { repoRoot } from '../support/paths.ts';

const run = promisify(execFile);
const SCRIPT = join(repoRoot, 'scripts/cuda-libs.sh');

/** The folder the script keeps the layout of the current pins in (its own naming). */
function layoutFolder(cache: string): string {
  const lock = JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { version: string }>;
  };
  const version = lock.packages['node_modules/onnxruntime-node']!.version;
  const key = createHash('sha256')
    .update(readFileSync(join(repoRoot, 'server-image/cuda-wheels.txt')))
    .update(readFileSync(SCRIPT))
    .digest('hex')
    .slice(0, 12);
  return join(cache, 'cuda', `ort-${version}-${key}`);
}

describe('scripts/cuda-libs.sh cache', () => {
  let cache = '';
  beforeEach(() => {
    cache = mkdtempSync(join(tmpdir(), 'cuda-libs-'));
  });
  afterEach(() => rmSync(cache, { recursive: true, force: true }));

  it('reuses a complete layout, and removes a layout a killed run left half made', async () => {
    const complete = layoutFolder(cache);
    mkdirSync(complete, { recursive: true });
    writeFileSync(join(complete, '.complete'), '');
    const killed = join(cache, 'cuda', 'layout.Ab12Cd');
    mkdirSync(join(killed, 'cuda'), { recursive: true });
    writeFileSync(join(killed, 'cuda', 'libcublasLt.so.13'), 'half a library');

    const { stdout } = await run(SCRIPT, [], { env: { ...process.env, SERVINGSTACK_CACHE: cache } });
    expect(stdout.trim()).toBe(complete);
    expect(existsSync(killed)).toBe(false);
  });
});
