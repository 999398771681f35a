// Where a process's resident memory lies, as Linux counts it (/proc/<pid>/status and smaps):
// anonymous (V8's heap, malloc, stacks) and file-backed (the node binary and its libraries, shared
// with every process that maps them); of the anonymous part, the main malloc arena (the brk heap)
// and the arenas glibc gives other threads (each in a 64 MiB-aligned mapping of 64 MiB).
import { readFileSync } from 'node:fs';

export interface ResidentSplit {
  anonMiB: number;
  fileMiB: number;
  mallocMainMiB: number;
  mallocThreadsMiB: number;
}

const ARENA = 64 * 2 ** 20;
const mib = (kib: number) => +(kib / 1024).toFixed(1);

export function residentSplit(pid: number): ResidentSplit {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(status.match(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm'))?.[1] ?? 0);
  const maps: { start: number; end: number; path: string; rssKiB: number }[] = [];
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = line.match(/^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/);
    if (head) {
      maps.push({
        start: parseInt(head[1] ?? '0', 16),
        end: parseInt(head[2] ?? '0', 16),
        path: head[3] ?? '',
        rssKiB: 0,
      });
      continue;
    }
    const rss = line.match(/^Rss:\s+(\d+) kB/);
    const last = maps[maps.length - 1];
    if (rss && last) last.rssKiB = Number(rss[1]);
  }
  let mainKiB = 0;
  let threadsKiB = 0;
  for (let i = 0; i < maps.length; i++) {
    const m = maps[i];
    if (!m) continue;
    if (m.path === '[heap]') mainKiB += m.rssKiB;
    if (m.path !== '' || m.start % ARENA !== 0) continue;
    // A thread arena: its used part, then its reserved rest, both anonymous, 64 MiB together.
    let end = m.end;
    let kib = m.rssKiB;
    for (let j = i + 1; end - m.start < ARENA; j++) {
      const n = maps[j];
      if (!n || n.path !== '' || n.start !== end) break;
      end = n.end;
      kib += n.rssKiB;
    }
    if (end - m.start === ARENA) threadsKiB += kib;
  }
  return {
    anonMiB: mib(field('RssAnon')),
    fileMiB: mib(field('RssFile')),
    mallocMainMiB: mib(mainKiB),
    mallocThreadsMiB: mib(threadsKiB),
  };
}
