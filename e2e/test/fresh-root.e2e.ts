// The fresh-root check: a bare Debian root (`debootstrap --variant=minbase bookworm`, made once per
// machine and cached), this machine's apt sources, nothing else. The project's installer
// (scripts/system/ensure.sh) runs there as on a fresh machine, and every command the project runs
// from the base system or a listed package must then resolve. It proves the package list is
// complete on a machine where nobody installed anything by hand. Needs root (chroot, mount), as
// the installer itself does; the first run downloads the packages (cached after), and the whole
// check stays under five minutes.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from '@jest/globals';
import { repoRoot } from './support/paths.ts';
import { baseCommands, commandsRun, systemPackages } from './support/project-commands.ts';

const run = promisify(execFile);

describe('a fresh Debian root', () => {
  it('gets every command the project needs from the installer and the package list', async () => {
    const base = baseCommands();
    const fromBase = commandsRun()
      .map((use) => use.command.slice(use.command.lastIndexOf('/') + 1))
      .filter((command) => base.has(command));
    const fromPackages = [...systemPackages().values()].flat();
    const needed = [...new Set([...fromBase, ...fromPackages])].sort();
    expect(needed).toEqual(
      expect.arrayContaining(['podman', 'runc', 'debootstrap', 'curl', 'awk', 'setsid']),
    );

    const { stdout } = await run(join(repoRoot, 'scripts/system/fresh-root.sh'), ['check', ...needed], {
      timeout: 300_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    expect(stdout).toMatch(/^fresh root: ensure\.sh said: ==> installing Debian packages: .*\brunc\b/m);
    expect(stdout).toContain(`fresh root: all ${needed.length} commands resolve`);
  }, 330_000);
});
