/**
 * Finds the commands a shell script runs, and its pipelines, without running it: a lexer for the
 * bash the project writes (quotes, `$(...)`, `<(...)`, here-documents, `case`, functions), not a
 * full bash parser. The system-package test uses it to prove every command the project runs comes
 * from somewhere it can name; the pipe test uses it to find readers that stop early.
 *
 * What it cannot see, by design: a command named through a variable (`"$bin" --version`,
 * `"${kubectl[@]}"`), which in this project is always a binary it builds or a path it computes,
 * and commands inside strings handed to another program (`node -e '...'`). The script a shell is
 * given literally (`bash -c '...'`, `bash <<EOF`) is followed; one it is not (`bash -c "$x"`,
 * `... | bash`) is reported by inlineScript, and the system-package test fails on it.
 */

/**
 * One simple command: its words as written, the line it starts on, whether a `|` feeds it, and
 * the here-document it reads, if any.
 */
export interface ShellCommand {
  words: string[];
  line: number;
  piped: boolean;
  hereDoc?: HereDocBody;
}

/** A here-document's text and the line it starts on. */
export interface HereDocBody {
  text: string;
  line: number;
}

export interface ShellScan {
  commands: ShellCommand[];
  /** Names of the functions the script defines. */
  functions: string[];
}

type Token =
  | { kind: 'word'; text: string; line: number }
  | { kind: 'op'; text: string; line: number }
  | { kind: 'newline'; line: number }
  | { kind: 'heredoc'; body: HereDocBody; line: number };

const OPERATORS = [';;&', ';;', ';&', '||', '|&', '&&', '|', '&', ';', '(', ')'];
const REDIRECTIONS = ['<<<', '<<-', '<<', '&>>', '&>', '>>', '>&', '<&', '<>', '>|', '>', '<'];
const KEYWORDS_BEFORE_COMMAND = new Set([
  'if',
  'then',
  'else',
  'elif',
  'do',
  'while',
  'until',
  '!',
  '{',
  'time',
]);
const KEYWORDS_AFTER_COMMAND = new Set(['fi', 'done', '}', 'esac']);

/** Scans one shell script. Commands in `$(...)`, `<(...)`, backticks and `bash -c '...'` are included. */
export function scanShell(text: string): ShellScan {
  const commands: ShellCommand[] = [];
  const functions: string[] = [];
  const substitutions: { text: string; line: number }[] = [];
  const tokens = lex(text, 1, substitutions);
  parse(tokens, commands, functions);
  for (const sub of substitutions) {
    const inner = scanShell(sub.text);
    for (const c of inner.commands) commands.push({ ...c, line: c.line + sub.line - 1 });
    functions.push(...inner.functions);
  }
  // The script a shell runs (`bash -c '...'`, `bash <<EOF`): its commands are this file's too.
  for (const c of [...commands]) {
    const script = inlineScript(c);
    if (script === undefined || script === 'unseen') continue;
    for (const inner of scanShell(script.text).commands)
      commands.push({ ...inner, line: inner.line + script.line - 1 });
  }
  commands.sort((a, b) => a.line - b.line);
  return { commands, functions };
}

/**
 * Scans a Makefile's recipes as the shell sees them: make expands every `$(...)`, `${...}` and
 * `$X` first (variables and functions, never shell commands) and turns `$$` into `$`.
 */
export function scanMakefile(text: string): ShellScan {
  const recipes = text
    .split('\n')
    .map((line) => (line.startsWith('\t') ? withoutMakeExpansions(line.slice(1).replace(/^[@+-]+/, '')) : ''))
    .join('\n');
  return scanShell(recipes);
}

function withoutMakeExpansions(line: string): string {
  let out = '';
  let i = 0;
  while (i < line.length) {
    if (line[i] !== '$') {
      out += line[i++];
    } else if (line[i + 1] === '$') {
      out += '$';
      i += 2;
    } else if (line[i + 1] === '(' || line[i + 1] === '{') {
      out += '${MAKE_EXPANSION}';
      i = matchingClose(line, i + 1, line[i + 1]!, line[i + 1] === '(' ? ')' : '}') + 1;
    } else {
      out += '${MAKE_EXPANSION}';
      i += 2;
    }
  }
  return out;
}

/** The literal first word of a command, unquoted; undefined when it is computed (`$x`, `$(...)`). */
export function literal(word: string): string | undefined {
  if (/[$`]/.test(word)) return undefined;
  return word
    .replace(/\\(.)/g, '$1')
    .replace(/'([^']*)'/g, '$1')
    .replace(/"([^"]*)"/g, '$1');
}

/**
 * Why a command fed by a pipe may stop reading while its writer still writes, or undefined. Under
 * `pipefail` the writer's SIGPIPE (exit 141) is then the pipeline's status: the check fails
 * although it matched. Capture the output first, then match it (output_matches in
 * e2e/cluster/common.sh), or keep the reader reading to the end.
 */
export function stopsReadingEarly(words: readonly string[]): string | undefined {
  // The reader itself, by name: through `command`, `env VAR=x` and a path such as /usr/bin/grep.
  let i = 0;
  let name = '';
  for (; i < words.length; i++) {
    const w = literal(words[i]!) ?? '';
    name = w.slice(w.lastIndexOf('/') + 1);
    if (name !== 'command' && name !== 'env' && name !== 'exec') break;
    while (/^(-|[A-Za-z_][A-Za-z0-9_]*=)/.test(literal(words[i + 1] ?? '') ?? '')) i++;
  }
  const args = words.slice(i + 1).map((w) => literal(w) ?? w);
  switch (name) {
    case 'head':
      return 'head exits after its first lines';
    case 'true':
    case ':':
      return `${name} reads nothing`;
    case 'dd':
      return args.some((a) => a.startsWith('count=')) ? 'dd stops after count= blocks' : undefined;
    case 'egrep':
    case 'fgrep':
    case 'zgrep':
    case 'grep':
      return args.some((a) => /^-[A-Za-z]*[qlLm]/.test(a) || /^--(quiet|silent|max-count|files-with)/.test(a))
        ? 'grep -q, -m or -l exits at its first match'
        : undefined;
    case 'awk':
      return args.some((a) => /\bexit\b/.test(a)) ? 'awk exits in its program' : undefined;
    case 'sed':
      return args.some((a) => /(^|[\s;{}/\d$])[qQ]\s*\d*\s*($|[;}'"])/.test(a))
        ? "sed's q command exits"
        : undefined;
    case 'read':
      return 'read takes one line';
    default:
      return undefined;
  }
}

/**
 * The script a shell in a command runs (anywhere in its words, so `chroot R bash -c` counts): the
 * string of `bash -c` / `sh -ec` and the like, or the here-document of a shell that reads its
 * script from stdin. `unseen` when it runs one the scanner cannot read (computed, or fed by a
 * pipe); undefined when it runs none, or a script file.
 */
export function inlineScript(command: ShellCommand): HereDocBody | 'unseen' | undefined {
  const { words } = command;
  let i = words.findIndex((w) => /^(\/usr)?(\/bin\/)?(ba|da)?sh$/.test(literal(w) ?? ''));
  if (i < 0) return undefined;
  const isTheCommand = i === 0; // not an argument: `grep bash` reads no script
  for (i++; i < words.length; i++) {
    const w = literal(words[i]!) ?? '';
    if (/^-[a-z]*c[a-z]*$/.test(w)) {
      const text = scriptText(words[i + 1] ?? '');
      return text === undefined ? 'unseen' : { text, line: command.line };
    }
    if (/^[-+][a-z]*o$/.test(w))
      i++; // -o NAME, -euo NAME
    else if (w === '-s' || w === '--') break;
    else if (!/^[-+]/.test(w)) return undefined; // a script file
  }
  if (!isTheCommand) return undefined;
  if (command.hereDoc) return command.hereDoc;
  return command.piped ? 'unseen' : undefined;
}

/**
 * The text of a word that holds a script (`bash -c WORD`, `trap WORD`): single-quoted as is,
 * double-quoted with its escapes undone, or bare; undefined when it is computed as a whole.
 */
export function scriptText(word: string): string | undefined {
  const single = /^'([^']*)'$/.exec(word);
  if (single) return single[1];
  const double = /^"((?:\\.|[^"\\])*)"$/.exec(word);
  if (double && /^\$(\w+|\{[^}]*\})$/.test(double[1]!)) return undefined; // "$script"
  if (double) return double[1]!.replace(/\\([$`"\\\n])/g, '$1');
  return literal(word);
}

// ---------------------------------------------------------------------------------------------
// Lexer

interface HereDoc {
  delimiter: string;
  stripTabs: boolean;
  expands: boolean;
  /** Filled in once the body is read, for the command the redirection belongs to. */
  body: HereDocBody;
}

function lex(text: string, firstLine: number, substitutions: { text: string; line: number }[]): Token[] {
  const tokens: Token[] = [];
  const pending: HereDoc[] = [];
  let i = 0;
  let line = firstLine;

  const at = (s: string) => text.startsWith(s, i);
  const newlinesIn = (s: string) => s.split('\n').length - 1;

  while (i < text.length) {
    const ch = text[i]!;
    if (ch === ' ' || ch === '\t') {
      i++;
    } else if (at('\\\n')) {
      i += 2;
      line++;
    } else if (ch === '\n') {
      tokens.push({ kind: 'newline', line });
      i++;
      line++;
      for (const doc of pending.splice(0)) {
        const end = hereDocEnd(text, i, doc);
        const body = text.slice(i, end.bodyEnd);
        if (doc.expands) collectSubstitutions(body, line, substitutions, true);
        doc.body.text = doc.stripTabs ? body.replace(/^\t+/gm, '') : body;
        doc.body.line = line;
        line += newlinesIn(text.slice(i, end.next));
        i = end.next;
      }
    } else if (ch === '#') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (at('((') && commandPosition(tokens)) {
      const end = matchingClose(text, i + 1, '(', ')');
      collectSubstitutions(text.slice(i + 2, end), line, substitutions);
      line += newlinesIn(text.slice(i, end + 1));
      i = end + 2;
      tokens.push({ kind: 'word', text: '((arithmetic))', line });
    } else if (at('<(') || at('>(')) {
      const end = matchingClose(text, i + 1, '(', ')');
      substitutions.push({ text: text.slice(i + 2, end), line });
      line += newlinesIn(text.slice(i, end + 1));
      tokens.push({ kind: 'word', text: text.slice(i, end + 1), line });
      i = end + 1;
    } else if (REDIRECTIONS.some(at) || /^\d+[<>]/.test(text.slice(i, i + 4))) {
      const digits = /^\d*/.exec(text.slice(i))![0];
      i += digits.length;
      const op = REDIRECTIONS.find(at)!;
      i += op.length;
      if (op === '<<' || op === '<<-') {
        while (text[i] === ' ' || text[i] === '\t') i++;
        const word = readWord(text, i);
        const raw = text.slice(i, word.end);
        const body = { text: '', line };
        pending.push({
          delimiter: raw.replace(/['"\\]/g, ''),
          stripTabs: op === '<<-',
          expands: !/['"\\]/.test(raw),
          body,
        });
        tokens.push({ kind: 'heredoc', body, line });
        i = word.end;
      } else {
        // The redirection's target: a word, or `&N` / `&-` for duplications.
        while (text[i] === ' ' || text[i] === '\t') i++;
        const word = readWord(text, i);
        collectSubstitutions(text.slice(i, word.end), line, substitutions);
        i = word.end;
      }
    } else if (OPERATORS.some(at)) {
      const op = OPERATORS.find(at)!;
      tokens.push({ kind: 'op', text: op, line });
      i += op.length;
    } else {
      const word = readWord(text, i);
      const raw = text.slice(i, word.end);
      collectSubstitutions(raw, line, substitutions);
      tokens.push({ kind: 'word', text: raw, line });
      line += newlinesIn(raw);
      i = word.end;
    }
  }
  return tokens;
}

function commandPosition(tokens: readonly Token[]): boolean {
  const last = tokens.at(-1);
  if (last === undefined || last.kind === 'newline') return true;
  if (last.kind === 'op') return last.text !== ')';
  if (last.kind === 'heredoc') return false;
  return KEYWORDS_BEFORE_COMMAND.has(last.text) || last.text === 'for';
}

/** Reads one shell word from `start`: up to a blank or an operator outside quotes and groupings. */
function readWord(text: string, start: number): { end: number } {
  let i = start;
  while (i < text.length) {
    const ch = text[i]!;
    if (ch === '\\') {
      i += 2;
    } else if (ch === "'") {
      i = text.indexOf("'", i + 1) + 1;
      if (i === 0) throw new Error('unterminated single quote');
    } else if (ch === '"') {
      i = doubleQuoteEnd(text, i + 1) + 1;
    } else if (ch === '`') {
      i = text.indexOf('`', i + 1) + 1;
      if (i === 0) throw new Error('unterminated backquote');
    } else if (ch === '$' && text[i + 1] === '(') {
      i = matchingClose(text, i + 1, '(', ')') + 1;
    } else if (ch === '$' && text[i + 1] === '{') {
      i = matchingClose(text, i + 1, '{', '}') + 1;
    } else if (ch === '(' && /^[A-Za-z_][A-Za-z0-9_]*(\[[^\]]*\])?\+?=$/.test(text.slice(start, i))) {
      i = matchingClose(text, i, '(', ')') + 1; // an array assignment: NAME=(words)
    } else if (/[\s|&;()<>]/.test(ch)) {
      break;
    } else {
      i++;
    }
  }
  return { end: i };
}

/** The index of the `"` closing a double-quoted string whose body starts at `start`. */
function doubleQuoteEnd(text: string, start: number): number {
  let i = start;
  while (i < text.length) {
    const ch = text[i]!;
    if (ch === '\\') i += 2;
    else if (ch === '"') return i;
    else if (ch === '$' && text[i + 1] === '(') i = matchingClose(text, i + 1, '(', ')') + 1;
    else if (ch === '$' && text[i + 1] === '{') i = matchingClose(text, i + 1, '{', '}') + 1;
    else if (ch === '`') i = text.indexOf('`', i + 1) + 1;
    else i++;
  }
  throw new Error('unterminated double quote');
}

/** The index of the bracket closing the one at `open`, skipping quoted text and nested groups. */
function matchingClose(text: string, open: number, opener: string, closer: string): number {
  let depth = 0;
  let i = open;
  while (i < text.length) {
    const ch = text[i]!;
    if (ch === '\\') {
      i += 2;
      continue;
    }
    if (ch === "'" && opener === '(') {
      i = text.indexOf("'", i + 1) + 1;
      continue;
    }
    if (ch === '"') {
      i = doubleQuoteEnd(text, i + 1) + 1;
      continue;
    }
    if (ch === '#' && opener === '(' && /[\s(]/.test(text[i - 1] ?? ' ')) {
      while (i < text.length && text[i] !== '\n') i++;
      continue;
    }
    if (ch === opener) depth++;
    if (ch === closer) {
      depth--;
      if (depth === 0) return i;
    }
    i++;
  }
  throw new Error(`no ${closer} closes the ${opener} at offset ${open}`);
}

/**
 * Records every `$(...)` and backquoted command inside a word, or inside a here-document body
 * (where quotes are plain text).
 */
function collectSubstitutions(
  raw: string,
  line: number,
  out: { text: string; line: number }[],
  hereDoc = false,
): void {
  let inDouble = false;
  let i = 0;
  while (i < raw.length) {
    const ch = raw[i]!;
    if (ch === '\\') {
      i += 2;
    } else if (ch === '"' && !hereDoc) {
      inDouble = !inDouble;
      i++;
    } else if (ch === "'" && !hereDoc && !inDouble) {
      const end = raw.indexOf("'", i + 1);
      i = end < 0 ? i + 1 : end + 1;
    } else if (raw.startsWith('$((', i)) {
      i = matchingClose(raw, i + 1, '(', ')') + 1;
    } else if (raw.startsWith('$(', i)) {
      const end = matchingClose(raw, i + 1, '(', ')');
      out.push({ text: raw.slice(i + 2, end), line: line + (raw.slice(0, i).split('\n').length - 1) });
      i = end + 1;
    } else if (ch === '`') {
      const end = raw.indexOf('`', i + 1);
      out.push({ text: raw.slice(i + 1, end), line });
      i = end + 1;
    } else {
      i++;
    }
  }
}

function hereDocEnd(text: string, start: number, doc: HereDoc): { bodyEnd: number; next: number } {
  let i = start;
  while (i < text.length) {
    const eol = text.indexOf('\n', i);
    const lineEnd = eol < 0 ? text.length : eol;
    const content = text.slice(i, lineEnd);
    if ((doc.stripTabs ? content.replace(/^\t+/, '') : content) === doc.delimiter) {
      return { bodyEnd: i, next: eol < 0 ? text.length : eol + 1 };
    }
    i = lineEnd + 1;
  }
  throw new Error(`here-document ${doc.delimiter} has no end`);
}

// ---------------------------------------------------------------------------------------------
// Parser: which words start commands

function wordAt(tokens: readonly Token[], i: number): string | undefined {
  const t = tokens[i];
  return t?.kind === 'word' ? t.text : undefined;
}

function parse(tokens: readonly Token[], commands: ShellCommand[], functions: string[]): void {
  // A stack of open `case` statements: true while reading patterns, false inside an item's commands.
  const cases: boolean[] = [];
  let expectCommand = true;
  let piped = false;
  let i = 0;

  const separatorAt = (j: number) => {
    const t = tokens[j];
    return t === undefined || t.kind === 'newline' || (t.kind === 'op' && t.text !== '(' && t.text !== ')');
  };

  while (i < tokens.length) {
    const t = tokens[i]!;
    if (t.kind === 'heredoc') {
      i++; // the input of a compound command (`done <<EOF`): data, read by its commands
      continue;
    }
    if (t.kind === 'newline') {
      const before = tokens[i - 1];
      if (before?.kind === 'op' && ['|', '|&', '&&', '||'].includes(before.text)) {
        i++; // the pipeline or list goes on on the next line
        continue;
      }
      expectCommand = true;
      piped = false;
      i++;
      continue;
    }
    if (t.kind === 'op') {
      if (t.text === ';;' || t.text === ';&' || t.text === ';;&') {
        if (cases.length > 0) cases[cases.length - 1] = true;
      }
      if (t.text === ')' && cases.at(-1) === true) {
        cases[cases.length - 1] = false; // the end of an item's patterns: its commands follow
        expectCommand = true;
      } else {
        expectCommand = t.text !== ')';
      }
      piped = t.text === '|' || t.text === '|&';
      i++;
      continue;
    }
    const word = t.text;
    if (cases.at(-1) === true) {
      // A pattern (or the `esac` that ends the statement).
      if (word === 'esac') {
        cases.pop();
        expectCommand = false;
      }
      i++;
      continue;
    }
    if (!expectCommand) {
      i++;
      continue;
    }
    if (/^[A-Za-z_][A-Za-z0-9_]*(\[[^\]]*\])?\+?=/.test(word)) {
      i++; // an assignment before the command, or alone
      continue;
    }
    if (KEYWORDS_BEFORE_COMMAND.has(word)) {
      i++;
      continue;
    }
    if (KEYWORDS_AFTER_COMMAND.has(word)) {
      if (word === 'esac') cases.pop(); // after a last item without `;;`
      expectCommand = false;
      i++;
      continue;
    }
    if (word === 'case') {
      // case WORD in
      i += 3;
      cases.push(true);
      continue;
    }
    if (word === 'for' || word === 'select') {
      // for NAME [in WORDS]; do   or   for ((...)); do
      while (i < tokens.length && !separatorAt(i)) i++;
      continue;
    }
    if (word === '[[') {
      while (i < tokens.length && wordAt(tokens, i) !== ']]') i++;
      expectCommand = false;
      i++;
      continue;
    }
    if (word === '((arithmetic))') {
      expectCommand = false;
      i++;
      continue;
    }
    if (word === 'function') {
      functions.push(wordAt(tokens, i + 1) ?? '');
      i += 2;
      continue;
    }
    const next = tokens[i + 1];
    const after = tokens[i + 2];
    if (next?.kind === 'op' && next.text === '(' && after?.kind === 'op' && after.text === ')') {
      functions.push(word);
      i += 3;
      expectCommand = true;
      continue;
    }
    const words: string[] = [];
    const line = t.line;
    let hereDoc: HereDocBody | undefined;
    while (i < tokens.length && !separatorAt(i)) {
      const w = tokens[i]!;
      if (w.kind === 'op') break;
      if (w.kind === 'word') words.push(w.text);
      if (w.kind === 'heredoc') hereDoc = w.body;
      i++;
    }
    commands.push({ words, line, piped, ...(hereDoc && { hereDoc }) });
    expectCommand = false;
  }
}
