// Each benchmark owns one `## <heading>` section of docs/benchmarks.md and rewrites only that.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const DOCS = fileURLToPath(new URL('../../docs/benchmarks.md', import.meta.url));

/** Replaces the section that starts with `heading` (appends it when absent); `section` includes it. */
export function writeDocsSection(heading: string, section: string): void {
  const text = existsSync(DOCS) ? readFileSync(DOCS, 'utf8') : '# Benchmarks\n';
  const start = text.indexOf(heading);
  let next = start < 0 ? -1 : text.indexOf('\n## ', start + 1);
  if (next >= 0) next += 1;
  const out =
    start < 0
      ? `${text.trimEnd()}\n\n${section}`
      : `${text.slice(0, start)}${section}${next >= 0 ? `\n${text.slice(next)}` : ''}`;
  writeFileSync(DOCS, out);
}
