import { execFile } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { repoRoot } from '../support/paths.ts';

// scripts/system/ensure.sh against stand-ins for apt-get and dpkg-query, with a package list of
// its own: what it decides and how it copes with apt, without installing anything. It installs
// only as root, as the project runs (README); elsewhere a user namespace plays root.

interface Sandbox {
  dir: string;
  bin: string;
  run: () => Promise<{ code: number; stderr: string }>;
  aptCalls: () => string[];
}

let sandboxes: string[] = [];
afterEach(() => {
  for (const dir of sandboxes) rmSync(dir, { recursive: true, force: true });
  sandboxes = [];
});

/**
 * A copy of ensure.sh with LIST as its packages.txt. The fake apt-get logs its calls; `install`
 * makes a command `<package>-cmd`; `update` fails as when another apt holds the lists lock, the
 * first `lockedUpdates` times. The fake dpkg-query reports `statuses` (Status-Abbrev), `ii ` once installed.
 */
function sandbox(
  list: string,
  opts: { statuses?: Record<string, string>; lockedUpdates?: number } = {},
): Sandbox {
  const dir = mkdtempSync(join(tmpdir(), 'ensure-'));
  sandboxes.push(dir);
  const bin = join(dir, 'bin');
  mkdirSync(join(dir, 'system'));
  mkdirSync(bin);
  copyFileSync(join(repoRoot, 'scripts/system/ensure.sh'), join(dir, 'system/ensure.sh'));
  writeFileSync(join(dir, 'system/packages.txt'), list);
  const script = (name: string, body: string) => {
    writeFileSync(join(bin, name), `#!/bin/bash\n${body}\n`);
    chmodSync(join(bin, name), 0o755);
  };
  script(
    'apt-get',
    `echo "$*" >>"${dir}/apt-calls"
case " $* " in
  *" update "*)
    n=$(cat "${dir}/locked" 2>/dev/null || echo 0)
    if ((n < ${opts.lockedUpdates ?? 0})); then
      echo $((n + 1)) >"${dir}/locked"
      echo "E: Could not get lock /var/lib/apt/lists/lock. It is held by process 4242 (apt-get)" >&2
      exit 100
    fi ;;
  *" install "*)
    for a; do
      [[ $a == -* || $a == install ]] && continue
      printf '#!/bin/sh\\n' >"${bin}/$a-cmd"; chmod +x "${bin}/$a-cmd"; printf 'ii ' >"${dir}/status/$a"
    done ;;
esac`,
  );
  mkdirSync(join(dir, 'status'));
  for (const [pkg, s] of Object.entries(opts.statuses ?? {})) writeFileSync(join(dir, 'status', pkg), s);
  script('dpkg-query', `cat "${dir}/status/\${@: -1}" 2>/dev/null`);
  const asRoot = process.getuid?.() === 0 ? [] : ['unshare', '--map-root-user'];
  return {
    dir,
    bin,
    aptCalls: () =>
      existsSync(join(dir, 'apt-calls'))
        ? readFileSync(join(dir, 'apt-calls'), 'utf8').trim().split('\n')
        : [],
    run: () =>
      new Promise((resolve) => {
        const [cmd, ...args] = [...asRoot, 'bash', join(dir, 'system/ensure.sh')];
        execFile(
          cmd!,
          args,
          { env: { ...process.env, PATH: `${bin}:/usr/bin:/bin` }, timeout: 60_000 },
          (err, _stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stderr }),
        );
      }),
  };
}

describe('scripts/system/ensure.sh', () => {
  it('is silent and calls no apt when every package is there, a held one too', async () => {
    const box = sandbox('held-pkg   # no commands: dpkg says\n', { statuses: { 'held-pkg': 'hi ' } });
    expect(await box.run()).toEqual({ code: 0, stderr: '' });
    expect(box.aptCalls()).toEqual([]);
  });

  it('installs a package removed with its configuration left (dpkg "rc"), with one progress line', async () => {
    const box = sandbox('gone-pkg\n', { statuses: { 'gone-pkg': 'rc ' } });
    const { code, stderr } = await box.run();
    expect({ code, stderr: stderr.trim() }).toEqual({
      code: 0,
      stderr: '==> installing Debian packages: gone-pkg (apt-get, once)',
    });
  });

  it('waits while another apt holds its lock (apt-get update does not), then installs', async () => {
    const box = sandbox('new-pkg new-pkg-cmd\n', { lockedUpdates: 1 });
    const { code, stderr } = await box.run();
    expect({ code, stderr }).toEqual({
      code: 0,
      stderr: expect.stringContaining('installing Debian packages: new-pkg'),
    });
    expect(stderr).toContain('waiting for another apt');
    expect(box.aptCalls().filter((c) => c.includes('update'))).toHaveLength(2);
    expect(existsSync(join(box.bin, 'new-pkg-cmd'))).toBe(true);
  }, 30_000);
});

describe('the Makefile', () => {
  it('runs its recipes with the sbin directories on PATH, where ensure.sh finds debootstrap and chroot', async () => {
    const { stdout } = await new Promise<{ stdout: string }>((resolve, reject) =>
      execFile(
        'make',
        ['-s', '--no-print-directory', '--eval', 'print-path: ; @echo "$$PATH"', 'print-path'],
        { cwd: repoRoot, env: { ...process.env, PATH: '/usr/local/bin:/usr/bin:/bin' } },
        (err, out) => (err ? reject(err) : resolve({ stdout: out })),
      ),
    );
    expect(stdout.trim().split(':')).toEqual(
      expect.arrayContaining(['/usr/local/sbin', '/usr/sbin', '/sbin']),
    );
  });
});
