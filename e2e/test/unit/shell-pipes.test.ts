import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from '@jest/globals';
import { repoRoot } from '../support/paths.ts';
import { shellCommands } from '../support/project-commands.ts';
import { stopsReadingEarly } from '../support/shell-scan.ts';

const run = promisify(execFile);

/** Runs SCRIPT in bash with e2e/cluster/common.sh sourced (set -euo pipefail, output_matches). */
async function withCommon(script: string): Promise<string> {
  const common = join(repoRoot, 'e2e', 'cluster', 'common.sh');
  const { stdout } = await run('bash', ['-c', `source "$0"\n${script}`, common], { timeout: 60_000 });
  return stdout.trim();
}

// A stand-in for `etcd --version`: the line a check looks for first, then more output. 20,000
// lines are far more than a pipe holds, so a reader that stops at the first line leaves the writer
// blocked on a full pipe, and then killed by SIGPIPE.
const WRITER = `writer() { echo "etcd Version: 3.6.16"; seq -f 'Git SHA: line %g' "$1"; }`;

describe('output_matches (e2e/cluster/common.sh)', () => {
  it('matches the whole output, stdout and stderr, of a command that succeeds', async () => {
    const out = await withCommon(`
      r() { output_matches "$@" && echo yes || echo no; }
      r '^v3\\.21' echo v3.21.4
      r 'Version: 3' bash -c 'echo "etcd Version: 3.6.16" >&2'
      r 'v4' echo v3.21.4
      r 'v3' bash -c 'echo v3; exit 3'
    `);
    expect(out.split('\n')).toEqual(['yes', 'yes', 'no', 'no']);
  });

  it('counts a match even when the command writes a lot after it, every time, where `| grep -q` fails', async () => {
    const out = await withCommon(`
      ${WRITER}
      tries=30 helper=0 piped=0
      for ((i = 0; i < tries; i++)); do
        output_matches 'etcd Version: 3\\.6\\.16' writer 20000 && helper=$((helper + 1))
        output_matches 'etcd Version: 3\\.6\\.16' writer 3 && helper=$((helper + 1))
        if writer 20000 | grep -q 'etcd Version: 3\\.6\\.16'; then piped=$((piped + 1)); fi
      done
      echo "$helper $piped"
    `);
    const [helper, piped] = out.split(' ').map(Number);
    expect(helper).toBe(60);
    // The same check through a pipe loses the race (SIGPIPE, exit 141 under pipefail): the test
    // reproduces what broke the etcd and helm version checks.
    expect(piped).toBeLessThan(30);
  }, 60_000);
});

describe('the project’s shell scripts and Makefile', () => {
  it('pipe into no reader that may stop before its writer is done (all run under pipefail)', () => {
    const early = shellCommands()
      .filter(({ command }) => command.piped && stopsReadingEarly(command.words) !== undefined)
      .map(
        ({ file, command }) =>
          `${file}:${command.line}: | ${command.words.join(' ')} (${stopsReadingEarly(command.words)})`,
      );
    expect(early).toEqual([]);
  });
});
