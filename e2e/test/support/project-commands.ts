import { closeSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { repoRoot } from './paths.ts';
import {
  inlineScript,
  literal,
  scanMakefile,
  scanShell,
  scriptText,
  type ShellCommand,
} from './shell-scan.ts';

/**
 * Every external command the project runs, and where each is meant to come from: the base
 * system, a Debian package the project installs (scripts/system/packages.txt), the machine itself
 * (the README's short list), or the project's own builds. Read by the system-package unit test and
 * the fresh-root e2e check.
 */

/** What a fresh machine must bring (README, "What a fresh machine needs"): nothing installs them. */
export const BROUGHT_BY_THE_MACHINE: Readonly<Record<string, string>> = {
  go: 'the Go toolchain 1.25+, which builds the cluster',
  make: 'the entry point',
  'nvidia-smi': "an NVIDIA GPU's driver, on the machine that runs bench/gpu.sh (and there only)",
};

/**
 * Fetched by the project into its cache, and first on PATH for every make target. (The binaries
 * it builds, kubectl and helm among them, are run by path.)
 */
export const PROJECT_TOOLS: Readonly<Record<string, string>> = {
  node: "the project's Node.js 24 (scripts/ensure-node.sh)",
  npx: "the project's npm (scripts/ensure-node.sh)",
};

/**
 * Functions of the project's scripts that run their arguments as a command, and how many of
 * their own arguments come first (`output_matches REGEX CMD...`).
 */
export const PROJECT_WRAPPERS: Readonly<Record<string, number>> = {
  quietly: 0,
  output_matches: 1,
  wait_until: 2,
  proc_start: 1,
};

// bash's own commands (`help` lists them) and reserved words: never looked up on PATH.
const SHELL_BUILTINS = new Set(
  (
    '. : [ alias bg bind break builtin caller cd command compgen complete compopt continue declare ' +
    'dirs disown echo enable eval exec exit export false fc fg getopts hash help history jobs kill ' +
    'let local logout mapfile popd printf pushd pwd read readarray readonly return set shift shopt ' +
    'source suspend test times trap true type typeset ulimit umask unalias unset wait'
  ).split(' '),
);

/** A command the project runs, and where: `file:line`. */
export interface CommandUse {
  command: string;
  where: string;
}

const SKIPPED_DIRS = new Set(['node_modules', '.git', '.cluster', 'dist', 'results']);

function walk(dir: string, out: string[]): string[] {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      if (!SKIPPED_DIRS.has(name)) walk(path, out);
    } else {
      out.push(path);
    }
  }
  return out;
}

const repoFiles = (): string[] => walk(repoRoot, []).map((p) => relative(repoRoot, p));

const read = (file: string): string => readFileSync(join(repoRoot, file), 'utf8');

const SHELL_SHEBANG = /^#!\s*\/(usr\/)?bin\/(env\s+(-S\s+)?)?(ba|da)?sh\b/;
const NODE_SHEBANG = /^#!\s*\/(usr\/)?bin\/(env\s+(-S\s+)?)?node\b/;

/** The first line's worth of a file: enough for its `#!`. */
function firstBytes(file: string): string {
  const fd = openSync(join(repoRoot, file), 'r');
  try {
    const buf = Buffer.alloc(64);
    return buf.toString('latin1', 0, readSync(fd, buf, 0, buf.length, 0));
  } finally {
    closeSync(fd);
  }
}

/** The project's shell scripts: `*.sh` and files that start with a bash, sh or dash shebang. */
export function shellScripts(): string[] {
  return repoFiles()
    .filter((f) => f.endsWith('.sh') || SHELL_SHEBANG.test(firstBytes(f)))
    .sort();
}

/**
 * Scripts in a language the scanner does not read (a `#!` that is neither a shell nor node): their
 * commands would hide from the system-package test, so it fails on them.
 */
export function unreadScripts(): string[] {
  return repoFiles().filter((f) => {
    const head = firstBytes(f);
    return head.startsWith('#!') && !SHELL_SHEBANG.test(head) && !NODE_SHEBANG.test(head);
  });
}

/** TypeScript and JavaScript that start programs (agent, tests, scripts, benchmarks, configs). */
export function typeScriptFiles(): string[] {
  return repoFiles()
    .filter((f) => /\.[mc]?[jt]s$/.test(f) && !f.endsWith('.d.ts'))
    .sort();
}

/** Each package.json's scripts (what `npm run` hands to sh), as `package.json (scripts.lint)`. */
function packageScripts(): { file: string; text: string }[] {
  return repoFiles()
    .filter((f) => f === 'package.json' || f.endsWith('/package.json'))
    .flatMap((file) => {
      const { scripts = {} } = JSON.parse(read(file)) as { scripts?: Record<string, string> };
      return Object.entries(scripts).map(([name, text]) => ({ file: `${file} (scripts.${name})`, text }));
    });
}

/** Every shell command of the scripts, the Makefile's recipes and the npm scripts, with its file. */
export function shellCommands(): { file: string; command: ShellCommand }[] {
  const out: { file: string; command: ShellCommand }[] = [];
  const scans = [
    ...shellScripts().map((file) => ({ file, scan: scanShell(read(file)) })),
    { file: 'Makefile', scan: scanMakefile(read('Makefile')) },
    ...packageScripts().map(({ file, text }) => ({ file, scan: scanShell(text) })),
  ];
  for (const { file, scan } of scans) {
    for (const command of scan.commands) out.push({ file, command });
  }
  return out;
}

/** Names of every function the project's shell scripts define (sourced files share them). */
export function shellFunctions(): Set<string> {
  const names = new Set<string>();
  for (const file of shellScripts()) for (const f of scanShell(read(file)).functions) names.add(f);
  return names;
}

/**
 * The commands one simple command runs: its own name, then what a wrapper runs (`env X`,
 * `command -v X`, `setsid X`, `output_matches RE X`...). Names are literal; a computed one is
 * left out (see shell-scan.ts).
 */
export function commandNames(words: readonly string[]): string[] {
  const name = literal(words[0] ?? '');
  if (name === undefined || name === '') return [];
  const rest = words.slice(1);
  // The words after the wrapper's options (those in withValue take the next word too), plus skip more.
  const inner = (withValue: readonly string[] = [], skip = 0): string[] => {
    let i = 0;
    for (let w = literal(rest[i] ?? '') ?? ''; w.startsWith('-'); w = literal(rest[i] ?? '') ?? '') {
      i += withValue.includes(w) ? 2 : 1;
    }
    return commandNames(rest.slice(i + skip));
  };
  switch (name.slice(name.lastIndexOf('/') + 1)) {
    case 'command': // `command -v X` looks X up: the project needs it
    case 'exec':
    case 'builtin':
    case 'time':
      return inner();
    case 'env': {
      let i = 0;
      while (i < rest.length && /^(-|[A-Za-z_][A-Za-z0-9_]*=)/.test(literal(rest[i]!) ?? '')) {
        i += literal(rest[i]!) === '-u' ? 2 : 1;
      }
      return [name, ...commandNames(rest.slice(i))];
    }
    case 'setsid':
    case 'nohup':
    case 'xargs':
      return [name, ...inner(['-n', '-I', '-P', '-d', '-L', '-s'])];
    case 'nice':
      return [name, ...inner(['-n'])];
    case 'timeout': // timeout [options] DURATION COMMAND
      return [name, ...inner(['-s', '-k', '--signal', '--kill-after'], 1)];
    case 'chroot': // chroot [options] ROOT COMMAND
      return [name, ...inner([], 1)];
    case 'flock': // flock [options] FILE COMMAND..., flock [options] FILE -c SCRIPT, flock [options] FD
      return [name, ...flockNames(rest)];
    case 'find': {
      // Each -exec/-execdir/-ok runs the words up to its `;` or `+`.
      const names: string[] = [];
      rest.forEach((w, i) => {
        if (!/^-(exec|execdir|ok|okdir)$/.test(literal(w) ?? '')) return;
        const end = rest.findIndex((e, j) => j > i && /^(;|\+)$/.test(literal(e) ?? ''));
        names.push(...commandNames(rest.slice(i + 1, end < 0 ? undefined : end)));
      });
      return [name, ...names];
    }
    case 'trap': {
      // trap [--] SCRIPT SIGNAL...; `trap - SIGNAL` resets, `trap -p` lists.
      const args = literal(rest[0] ?? '') === '--' ? rest.slice(1) : rest;
      return args.length > 1 && literal(args[0]!) !== '-' ? scriptNames(args[0]!) : [];
    }
    case 'eval':
      return rest.flatMap(scriptNames);
  }
  const wrapped = PROJECT_WRAPPERS[name];
  return wrapped === undefined ? [name] : [name, ...commandNames(rest.slice(wrapped))];
}

/** The commands of a word that holds a shell script (`trap WORD`, `flock -c WORD`). */
function scriptNames(word: string): string[] {
  const text = scriptText(word);
  return text === undefined ? [] : scanShell(text).commands.flatMap((c) => commandNames(c.words));
}

function flockNames(args: readonly string[]): string[] {
  let target = false;
  for (let i = 0; i < args.length; i++) {
    const w = literal(args[i]!) ?? '';
    if (w === '-c' || w === '--command') return scriptNames(args[i + 1] ?? '');
    if (['-w', '--timeout', '-E', '--conflict-exit-code'].includes(w)) i++;
    else if (w.startsWith('-')) continue;
    else if (target) return commandNames(args.slice(i));
    else target = true; // the lock file, directory or descriptor
  }
  return [];
}

/**
 * Commands that run another command the scanner does not follow: using one would hide that
 * command from the system-package test, so the test fails on them instead.
 */
export const UNFOLLOWED_WRAPPERS = new Set(
  (
    'sudo doas su runuser setpriv sg newgrp stdbuf ionice taskset chrt nsenter unshare prlimit ' +
    'choom setarch linux32 linux64 script start-stop-daemon systemd-run watch parallel strace ' +
    'fakeroot dbus-run-session run-parts busybox capsh numactl'
  ).split(' '),
);

/**
 * Where the project runs a command the scanner cannot see: through one of UNFOLLOWED_WRAPPERS,
 * or as a shell script it is not given literally (`bash -c "$x"`, `... | bash`).
 */
export function unseenCommands(): CommandUse[] {
  const uses: CommandUse[] = [];
  for (const { file, command } of shellCommands()) {
    const where = `${file}:${command.line}`;
    for (const name of commandNames(command.words)) {
      const base = name.slice(name.lastIndexOf('/') + 1);
      if (UNFOLLOWED_WRAPPERS.has(base)) uses.push({ command: `${name} (runs a command)`, where });
    }
    if (inlineScript(command) === 'unseen')
      uses.push({ command: `${command.words.join(' ')} (a script)`, where });
  }
  return uses;
}

const RUNS_FILE = ['spawn', 'spawnSync', 'execFile', 'execFileSync'];
const RUNS_SHELL = ['exec', 'execSync'];

/**
 * The names a file calls child_process's runners by, and which runner each is: named imports (`as`
 * too), a namespace import (`cp.spawn`), and promisified ones (`const run = promisify(execFile)`,
 * `promisify(execFile)(...)`).
 */
function childProcessRunners(text: string): Map<string, string> {
  const runners = new Map<string, string>();
  const imports = /import\s*(?:\{([^}]*)\}|\*\s*as\s+(\w+))\s*from\s*['"](?:node:)?child_process['"]/g;
  for (const [, named, namespace] of text.matchAll(imports)) {
    for (const spec of named?.split(',') ?? []) {
      const [original = '', local = original] = spec.trim().split(/\s+as\s+/);
      if ([...RUNS_FILE, ...RUNS_SHELL].includes(original)) runners.set(local, original);
    }
    if (namespace) for (const f of [...RUNS_FILE, ...RUNS_SHELL]) runners.set(`${namespace}.${f}`, f);
  }
  for (const [local, original] of [...runners]) {
    runners.set(`promisify(${local})`, original);
    const alias = new RegExp(
      `\\b(?:const|let|var)\\s+(\\w+)\\s*=\\s*promisify\\(\\s*${escape(local)}\\s*\\)`,
      'g',
    );
    for (const [, name] of text.matchAll(alias)) runners.set(name!, original);
  }
  return runners;
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A JS string literal at `at` (after blanks), unescaped; undefined when it is not one or computes. */
function stringAt(text: string, at: number): { value: string; end: number } | undefined {
  const m = /\s*(['"`])((?:\\.|(?!\1)[^\\])*)\1/y;
  m.lastIndex = at;
  const found = m.exec(text);
  if (!found || (found[1] === '`' && found[2]!.includes('${'))) return undefined;
  return { value: found[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c)), end: m.lastIndex };
}

/**
 * The commands a TypeScript source starts by literal name: `spawn('podman', ...)`, a promisified
 * `run('podman', ...)`, the script of `execSync('a | b')` or `spawn('sh', ['-c', 'a | b'])`. A
 * command named by a variable is left out (always a path the project computes).
 */
export function typeScriptCommands(text: string): { command: string; line: number }[] {
  const out: { command: string; line: number }[] = [];
  const lineAt = (index: number) => text.slice(0, index).split('\n').length;
  const shellScript = (script: string, line: number) => {
    for (const c of scanShell(script).commands)
      for (const command of commandNames(c.words)) out.push({ command, line });
  };
  for (const [local, runner] of childProcessRunners(text)) {
    const calls = new RegExp(
      `(?<![\\w.$])${escape(local).replace(/\\\(/g, '\\(\\s*').replace(/\\\)/g, '\\s*\\)')}\\(`,
      'g',
    );
    for (const call of text.matchAll(calls)) {
      const first = stringAt(text, call.index + call[0].length);
      if (first === undefined) continue;
      const line = lineAt(call.index);
      if (RUNS_SHELL.includes(runner)) {
        shellScript(first.value, line);
        continue;
      }
      out.push({ command: first.value, line });
      // spawn('bash', ['-c', SCRIPT]) and the like: the script's commands too.
      if (!/^(\/usr)?(\/bin\/)?(ba|da)?sh$/.test(first.value)) continue;
      const dashC = /\s*,\s*\[\s*(['"])-[a-z]*c\1\s*,/y;
      dashC.lastIndex = first.end;
      if (!dashC.test(text)) continue;
      const script = stringAt(text, dashC.lastIndex);
      if (script) shellScript(script.value, line);
    }
  }
  return out;
}

/** Commands the TypeScript starts (typeScriptCommands), with where. */
export function spawnedCommands(): CommandUse[] {
  return typeScriptFiles().flatMap((file) =>
    typeScriptCommands(read(file)).map(({ command, line }) => ({ command, where: `${file}:${line}` })),
  );
}

/** Every external command the project runs, by name, with where (file:line) it is run. */
export function commandsRun(): CommandUse[] {
  const uses: CommandUse[] = [];
  const functions = shellFunctions();
  for (const { file, command } of shellCommands()) {
    for (const name of commandNames(command.words)) {
      if (SHELL_BUILTINS.has(name) || functions.has(name)) continue;
      uses.push({ command: name, where: `${file}:${command.line}` });
    }
  }
  for (const use of spawnedCommands()) if (!SHELL_BUILTINS.has(use.command)) uses.push(use);
  return uses;
}

// Both lists are read once per test file.
let cachedPackages: Map<string, string[]> | undefined;
let cachedBase: Set<string> | undefined;

/** scripts/system/packages.txt: each package and the commands of it the project runs. */
export function systemPackages(): Map<string, string[]> {
  cachedPackages ??= readPackages();
  return cachedPackages;
}

function readPackages(): Map<string, string[]> {
  const packages = new Map<string, string[]>();
  for (const line of read('scripts/system/packages.txt').split('\n')) {
    const [pkg, ...commands] = line.replace(/#.*/, '').trim().split(/\s+/);
    if (pkg) packages.set(pkg, commands);
  }
  return packages;
}

/** scripts/system/base-commands.txt: what a bare minbase root has on PATH. */
export function baseCommands(): Set<string> {
  cachedBase ??= new Set(
    read('scripts/system/base-commands.txt')
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('#')),
  );
  return cachedBase;
}

/**
 * Where a command comes from, or undefined when nothing provides it. A path is a file of the
 * project (relative to the repository root, where every script runs from) or a system path
 * whose name must itself be provided.
 */
export function origin(command: string): string | undefined {
  if (command.includes('/')) {
    if (!command.startsWith('/')) return existsInRepo(command) ? 'a file of the project' : undefined;
    return origin(command.slice(command.lastIndexOf('/') + 1));
  }
  if (baseCommands().has(command)) return 'the base system';
  for (const [pkg, commands] of systemPackages()) {
    if (commands.includes(command)) return `Debian package ${pkg}`;
  }
  if (existsInRepo(join('node_modules', '.bin', command))) return 'an npm dependency (npm ci)';
  return BROUGHT_BY_THE_MACHINE[command] ?? PROJECT_TOOLS[command];
}

function existsInRepo(path: string): boolean {
  try {
    return statSync(join(repoRoot, path)).isFile();
  } catch {
    return false;
  }
}
