import { describe, expect, it } from '@jest/globals';
import { commandNames, typeScriptCommands } from '../support/project-commands.ts';
import { inlineScript, scanMakefile, scanShell, stopsReadingEarly } from '../support/shell-scan.ts';

const names = (script: string): string[] => scanShell(script).commands.flatMap((c) => commandNames(c.words));

describe('scanShell', () => {
  it('finds commands at the start of lines, after operators and keywords, and in substitutions', () => {
    const script = [
      'set -euo pipefail',
      'a=1 b="$(curl -s x | tr a b)" grep -q x <(sort f) && openssl rand 4 || ss -l; setsid cat &',
      'if ! cmp -s a b; then mkdir d; elif test -x y; then :; else rm -f z; fi',
      'while read -r l; do echo "$l"; done < <(find . -name "it\'s $(basename "$0")")',
      'x=`uname -m`',
    ].join('\n');
    expect(names(script)).toEqual(
      expect.arrayContaining([
        'curl',
        'tr',
        'grep',
        'sort',
        'openssl',
        'ss',
        'setsid',
        'cat',
        'cmp',
        'mkdir',
        'rm',
        'find',
        'basename',
        'uname',
      ]),
    );
    expect(names(script)).not.toContain('a=1');
    expect(names(script)).not.toContain('then');
  });

  it('skips quoted text, comments, array and arithmetic words, and [[ ]] tests', () => {
    const script = [
      '# curl in a comment',
      'echo \'wget in quotes\' "and ls here"',
      'tools=(etcd kube helm)',
      'crds+=(-f "$f")',
      'for ((i = 0; i < 3; i++)); do sleep 1; done',
      '((n++)) || true',
      '[[ "$x" =~ ^(a|b)$ && -n "$y" ]] && date',
    ].join('\n');
    expect(names(script).sort()).toEqual(['date', 'echo', 'sleep', 'true']);
  });

  it('reads through here-documents: a quoted one is text, an unquoted one runs its substitutions', () => {
    const script = [
      "cat > go.mod <<'GO'",
      'import _ "github.com/x/y"',
      'gcc $(pkg-config --cflags)',
      'GO',
      'cat <<YAML',
      'ca: $(base64 -w0 ca.crt)',
      "it's fine",
      'YAML',
      'go build ./...',
    ].join('\n');
    const scan = scanShell(script);
    expect(scan.commands.flatMap((c) => commandNames(c.words))).toEqual(['cat', 'cat', 'base64', 'go']);
    expect(scan.commands.find((c) => c.words[0] === 'base64')?.line).toBe(6);
    expect(scan.commands.find((c) => c.words[0] === 'go')?.line).toBe(9);
  });

  it('knows case items, functions and continued pipelines', () => {
    const script = [
      'f() { stat "$1"; }',
      'function g { du -s; }',
      'case "$1" in',
      '  start | up) podman ps ;;',
      '  (stop) runc list',
      '    ;;',
      '  *) die "usage" ;;',
      'esac',
      'grep -E x file |',
      '  awk "{print}"',
    ].join('\n');
    const scan = scanShell(script);
    expect(scan.functions).toEqual(['f', 'g']);
    expect(scan.commands.flatMap((c) => commandNames(c.words))).toEqual([
      'stat',
      'du',
      'podman',
      'runc',
      'die',
      'grep',
      'awk',
    ]);
    expect(scan.commands.find((c) => c.words[0] === 'awk')?.piped).toBe(true);
  });

  it('follows wrappers to the command they run', () => {
    const script = [
      'command -v podman >/dev/null',
      'exec 9>lock',
      'env -i PATH=/bin HOME=/ jq .',
      'timeout -s KILL 5 nc -z h 1',
      'chroot "$root" /usr/bin/env -i LANG=C bash -c \'for c in a; do command -v "$c"; done; lsblk\'',
      'quietly go mod tidy',
      'output_matches "^v1" "$bin" version',
      'wait_until "ready" 60 curl -fsS http://x',
    ].join('\n');
    expect(names(script)).toEqual([
      'podman',
      'env',
      'jq',
      'timeout',
      'nc',
      'chroot',
      '/usr/bin/env',
      'bash',
      'lsblk',
      'quietly',
      'go',
      'output_matches',
      'wait_until',
      'curl',
    ]);
  });
});

describe('scanShell, on commands that run other commands', () => {
  it('follows flock, find -exec, trap and eval to what they run', () => {
    const script = [
      'flock 9',
      'flock -w 5 "$lock" podman ps',
      "flock /tmp/x -c 'runc list | sort'",
      'find . -name "*.tar" -exec tar -tf {} \\; -execdir gzip -t {} +',
      'trap \'umount "$root"; rm -rf "$root"\' EXIT',
      'trap - EXIT',
      'eval "openssl rand 4"',
    ].join('\n');
    expect(names(script)).toEqual([
      'flock',
      'flock',
      'podman',
      'flock',
      'runc',
      'sort',
      'find',
      'tar',
      'gzip',
      'umount',
      'rm',
      'openssl',
    ]);
  });

  it('reads the script a shell runs: from -c in any option cluster, in either quotes, or a here-document', () => {
    const script = [
      "bash -euo pipefail -c 'curl -s x'",
      'sh -ec "ss -l | grep -c x"',
      "bash -s -- arg <<'EOF'",
      'debootstrap --version',
      'EOF',
      'sh <<-EOF',
      '\tpgrep $(id -u)',
      '\tEOF',
      'while read -r l; do :; done <<EOF',
      'not-a-command',
      'EOF',
      'bash ./script.sh <<EOF',
      'input-to-a-script',
      'EOF',
    ].join('\n');
    expect(names(script)).toEqual(
      expect.arrayContaining(['curl', 'ss', 'grep', 'debootstrap', 'pgrep', 'id']),
    );
    expect(names(script)).not.toContain('not-a-command');
    expect(names(script)).not.toContain('input-to-a-script');
    expect(scanShell(script).commands.find((c) => c.words[0] === 'debootstrap')?.line).toBe(4);
  });

  it('says when a shell runs a script it cannot read', () => {
    const script = [
      'bash -c "$script"',
      'curl -s x | bash',
      "bash -c 'ls'",
      'bash run.sh',
      'cat <<EOF | sh',
      'x',
      'EOF',
      'ps -e | grep bash',
    ];
    expect(
      scanShell(script.join('\n')).commands.map((c) => [c.words[0], inlineScript(c) === 'unseen']),
    ).toEqual([
      ['bash', true],
      ['curl', false],
      ['bash', true],
      ['bash', false],
      ['ls', false],
      ['bash', false],
      ['cat', false],
      ['sh', true],
      ['ps', false],
      ['grep', false],
    ]);
  });
});

describe('scanMakefile', () => {
  it("scans recipes with make's variables as shell variables", () => {
    const scan = scanMakefile(
      [
        'all: x ## help',
        '\t@grep -hE "^x" $(MAKEFILE_LIST) | awk -F: \'{print $$1}\'',
        '\t-$(MAKE) -C sub',
        '\t$(if $(CI),echo ci) $(shell uname) -x',
        'X := $(shell uname)',
      ].join('\n'),
    );
    expect(scan.commands.flatMap((c) => commandNames(c.words))).toEqual(['grep', 'awk']);
  });
});

describe('stopsReadingEarly', () => {
  it('names readers that can exit before their writer is done', () => {
    for (const reader of [
      ['head', '-n1'],
      ['grep', '-q', 'x'],
      ['grep', '-qE', 'x'],
      ['grep', '-Eq', 'x'],
      ['grep', '-m1', 'x'],
      ['grep', '--quiet', 'x'],
      ['grep', '-l', 'x'],
      ['awk', "'/x/ { print; exit }'"],
      ['sed', "'/x/q'"],
      ['sed', '-n', "'1p;q'"],
      ['read', '-r', 'line'],
      ['egrep', '-q', 'x'],
      ['/usr/bin/grep', '-q', 'x'],
      ['command', 'grep', '-q', 'x'],
      ['env', 'LC_ALL=C', 'grep', '-m1', 'x'],
      ['true'],
      [':'],
      ['dd', 'bs=1', 'count=1'],
    ]) {
      expect([reader.join(' '), stopsReadingEarly(reader)]).toEqual([reader.join(' '), expect.any(String)]);
    }
  });

  it('lets readers that read to the end be', () => {
    for (const reader of [
      ['grep', '-vE', "'^go '"],
      ['grep', '-c', 'x'],
      ['awk', "'{ print $1 }'"],
      ['awk', "'!found && /x/ { print; found = 1 }'"],
      ['sed', "'s/^/  /'"],
      ['sed', '-e', "'s#=> ./q#=> ./ext#'"],
      ['cmp', '-s', '-', 'file'],
      ['tail', '-n', '5'],
      ['env', 'LC_ALL=C', 'sort'],
      ['dd', 'of=/dev/null'],
    ]) {
      expect([reader.join(' '), stopsReadingEarly(reader)]).toEqual([reader.join(' '), undefined]);
    }
  });
});

describe('typeScriptCommands', () => {
  // Spelled so that this file, which the scanner reads too, imports nothing from it.
  const from = (module: string) => `from '${module}_process';`;

  it('finds what child_process runs, by any name it is imported or promisified as, and inside shell scripts', () => {
    const source = [
      `import { execSync, spawn, exec, execFile as ef } ${from('node:child')}`,
      `import * as cp ${from('child')}`,
      "import { promisify } from 'node:util';",
      'const run = promisify(ef);',
      "execSync('curl -s x | sort');",
      "spawn('sh', ['-c', 'ss -l']);",
      'exec("pgrep x");',
      "ef('/usr/bin/openssl', []);",
      'await run(',
      "  'podman', []);",
      "await promisify(ef)('runc');",
      "cp.spawnSync('bash', ['-ec', 'mount; umount x']);",
      'spawn(computed, []);',
      "podman.exec('not-a-command');",
      "/re/.exec('nor-this');",
    ].join('\n');
    expect(typeScriptCommands(source).sort((a, b) => a.line - b.line)).toEqual([
      { command: 'curl', line: 5 },
      { command: 'sort', line: 5 },
      { command: 'sh', line: 6 },
      { command: 'ss', line: 6 },
      { command: 'pgrep', line: 7 },
      { command: '/usr/bin/openssl', line: 8 },
      { command: 'podman', line: 9 },
      { command: 'runc', line: 11 },
      { command: 'bash', line: 12 },
      { command: 'mount', line: 12 },
      { command: 'umount', line: 12 },
    ]);
  });
});
