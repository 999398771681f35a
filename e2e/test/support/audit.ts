import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { clusterDir } from './paths.ts';

// The local API server's audit log (e2e/cluster/audit-policy.yaml): one JSON line per write, at
// Metadata level. Tests count writes from it, not from the writer's own metrics.

export interface AuditEvent {
  verb: string;
  userAgent?: string;
  user: { username: string };
  objectRef?: {
    resource?: string;
    subresource?: string;
    namespace?: string;
    name?: string;
    apiGroup?: string;
  };
  responseStatus?: { code?: number };
  requestReceivedTimestamp: string;
  stage: string;
}

export interface AuditFilter {
  userAgent?: string;
  namespace?: string;
  /** Only requests the server received at or after this time. */
  since?: Date;
}

const LOG_DIR = join(clusterDir, 'logs');

/** Every write the API server logged that matches `filter`, oldest first (rotated files included). */
export function auditWrites(filter: AuditFilter = {}): AuditEvent[] {
  if (!existsSync(join(LOG_DIR, 'audit.log')))
    throw new Error(
      `no audit log at ${LOG_DIR}/audit.log: the local API server runs without it (make cluster-up)`,
    );
  const files = readdirSync(LOG_DIR)
    .filter((f) => /^audit(-.*)?\.log$/.test(f))
    .map((f) => join(LOG_DIR, f));
  const events: AuditEvent[] = [];
  for (const file of files) {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (line === '') continue;
      const e = JSON.parse(line) as AuditEvent;
      if (e.stage !== 'ResponseComplete' && e.stage !== 'Panic') continue;
      if (filter.userAgent !== undefined && e.userAgent !== filter.userAgent) continue;
      if (filter.namespace !== undefined && e.objectRef?.namespace !== filter.namespace) continue;
      if (filter.since !== undefined && receivedAt(e) < filter.since.getTime()) continue;
      events.push(e);
    }
  }
  return events.sort((a, b) => receivedAt(a) - receivedAt(b));
}

/** When the API server received the request, in ms (the log has microseconds). */
export function receivedAt(e: AuditEvent): number {
  return Date.parse(e.requestReceivedTimestamp);
}

/** `verb resource[/subresource] name (code)`, for assertions that read like the log. */
export function describeWrite(e: AuditEvent): string {
  const r = e.objectRef ?? {};
  const what = r.subresource ? `${r.resource}/${r.subresource}` : r.resource;
  return `${e.verb} ${what} ${r.name ?? ''} (${e.responseStatus?.code ?? '?'})`;
}
