// Reads the local API server's audit log (.cluster/logs/audit.log, one JSON line per write) as it
// grows, so a benchmark counts and times writes from the server's side without parsing the whole
// file on every look (it is shared by every run on the cluster).
import { closeSync, existsSync, fstatSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import type { AuditEvent } from '../../e2e/test/support/audit.ts';
import { REPO_ROOT } from '../../operator/test/support/operator-process.ts';

export type Write = AuditEvent & { stageTimestamp: string };

export const AUDIT_LOG = join(process.env.CLUSTER_DIR ?? join(REPO_ROOT, '.cluster'), 'logs/audit.log');

export class AuditTail {
  private offset = 0;
  private rest = '';
  readonly writes: Write[] = [];

  /** Starts at the end of the log: only writes from now on are seen. */
  constructor() {
    if (!existsSync(AUDIT_LOG)) throw new Error(`no audit log at ${AUDIT_LOG} (make cluster-up)`);
    const fd = openSync(AUDIT_LOG, 'r');
    this.offset = fstatSync(fd).size;
    closeSync(fd);
  }

  /** Reads what was appended since the last look; returns the new complete writes. */
  poll(): Write[] {
    const fd = openSync(AUDIT_LOG, 'r');
    try {
      const size = fstatSync(fd).size;
      if (size < this.offset) {
        // Rotated (--audit-log-maxsize): start over on the new file.
        this.offset = 0;
        this.rest = '';
      }
      const fresh: Write[] = [];
      const buf = Buffer.alloc(1 << 20);
      while (this.offset < size) {
        const n = readSync(fd, buf, 0, buf.length, this.offset);
        if (n <= 0) break;
        this.offset += n;
        const text = this.rest + buf.subarray(0, n).toString('utf8');
        const lines = text.split('\n');
        this.rest = lines.pop() ?? '';
        for (const line of lines) {
          if (!line) continue;
          const e = JSON.parse(line) as Write;
          if (e.stage !== 'ResponseComplete') continue;
          fresh.push(e);
        }
      }
      this.writes.push(...fresh);
      return fresh;
    } finally {
      closeSync(fd);
    }
  }

  /** Writes seen so far that match. */
  filter(f: { userAgentPrefix?: string; namespace?: string; since?: number }): Write[] {
    return this.writes.filter(
      (e) =>
        (f.userAgentPrefix === undefined || (e.userAgent ?? '').startsWith(f.userAgentPrefix)) &&
        (f.namespace === undefined || e.objectRef?.namespace === f.namespace) &&
        (f.since === undefined || Date.parse(e.requestReceivedTimestamp) >= f.since),
    );
  }
}

/** `verb resource[/sub] name`, to list unexpected writes in the results. */
export function describe(e: Write): string {
  const r = e.objectRef ?? {};
  return `${e.verb} ${r.subresource ? `${r.resource}/${r.subresource}` : r.resource} ${r.name ?? ''} (${e.responseStatus?.code ?? '?'})`;
}
