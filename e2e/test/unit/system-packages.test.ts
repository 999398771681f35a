import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { repoRoot } from '../support/paths.ts';
import {
  BROUGHT_BY_THE_MACHINE,
  PROJECT_WRAPPERS,
  commandsRun,
  origin,
  shellFunctions,
  shellScripts,
  systemPackages,
  typeScriptFiles,
  unreadScripts,
  unseenCommands,
} from '../support/project-commands.ts';

// The fresh-machine promise, checked on any machine: every command the project's scripts, Makefile
// and TypeScript run comes from the base system, a Debian package the installer brings, the README's
// short list of what a machine must have, or the project's own builds.
describe('the commands the project runs', () => {
  it('each come from the base system, a listed Debian package, the machine or the project', () => {
    const unprovided = commandsRun()
      .filter((use) => origin(use.command) === undefined)
      .map((use) => `${use.where}: ${use.command}`);
    expect(unprovided).toEqual([]);
  });

  it('are never run where the scanner cannot see them (sudo, unshare..., a script from a pipe or a variable)', () => {
    expect(unseenCommands().map((use) => `${use.where}: ${use.command}`)).toEqual([]);
  });

  it('are all in files the scan reads: no script in another language', () => {
    expect(unreadScripts()).toEqual([]);
  });

  it('are found in every kind of file that runs them', () => {
    const found = new Set(commandsRun().map((use) => use.command));
    // One witness per kind: a script (ss), the Makefile (awk), a command -v lookup (go), a TS spawn
    // (podman), an npm script (jest, from node_modules/.bin).
    for (const command of ['ss', 'awk', 'go', 'podman', 'debootstrap', 'openssl', 'jest'])
      expect(found).toContain(command);
    expect(shellScripts()).toEqual(
      expect.arrayContaining(['.ci/run', 'e2e/cluster/up.sh', 'scripts/system/ensure.sh']),
    );
  });
});

describe('scripts/system/packages.txt', () => {
  const text = [...shellScripts(), 'Makefile', ...typeScriptFiles()]
    .filter((f) => !f.startsWith('e2e/test/'))
    .map((f) => readFileSync(join(repoRoot, f), 'utf8'))
    .join('\n');

  it('lists only commands the project runs or names (runc is named to podman, not run)', () => {
    const run = new Set(commandsRun().map((use) => use.command));
    const unused = [...systemPackages()]
      .flatMap(([pkg, commands]) => commands.map((c) => [pkg, c] as const))
      .filter(([, c]) => !run.has(c) && !new RegExp(`(^|[\\s"'=])${c}($|[\\s"'}])`, 'm').test(text))
      .map(([pkg, c]) => `${pkg}: ${c}`);
    expect(unused).toEqual([]);
  });

  it('says why for each package none of whose commands the scripts run', () => {
    const raw = readFileSync(join(repoRoot, 'scripts/system/packages.txt'), 'utf8').split('\n');
    for (const [pkg, commands] of systemPackages()) {
      if (commands.length > 0) continue;
      expect(raw.find((l) => l.startsWith(`${pkg} `))).toMatch(/#\s*\S/);
    }
  });
});

describe('the scanner', () => {
  it("follows only wrappers that are the scripts' own functions", () => {
    const functions = shellFunctions();
    for (const wrapper of Object.keys(PROJECT_WRAPPERS))
      expect([wrapper, functions.has(wrapper)]).toEqual([wrapper, true]);
  });
});

describe('README', () => {
  it('names what a fresh machine must bring, and the package list the project installs', () => {
    const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
    const section = readme.slice(
      readme.indexOf('### What a fresh machine needs'),
      readme.indexOf('### How long'),
    );
    for (const command of Object.keys(BROUGHT_BY_THE_MACHINE))
      expect(section).toMatch(new RegExp(`\\b${command}\\b`, 'i'));
    expect(section).toContain('scripts/system/packages.txt');
  });
});
