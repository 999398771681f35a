import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll } from '@jest/globals';
import { CoreV1Api } from '@kubernetes/client-node';
import { loadKubeConfig } from './kubeconfig.ts';

/** Labels every namespace an e2e suite makes, so leftovers from an aborted run are easy to find. */
export const TEST_NAMESPACE_LABEL = 'servingstack.dev/e2e';

export interface TestNamespace {
  /** The namespace's name; set once the suite's beforeAll has run. */
  readonly name: string;
}

/** A DNS-1123 label: `<prefix>-<random>`, the prefix cut so the whole stays within 63 characters. */
export function testNamespaceName(prefix: string): string {
  const clean = prefix
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  if (clean === '')
    throw new Error(`test namespace prefix ${JSON.stringify(prefix)} has no usable characters`);
  return `${clean.slice(0, 50).replace(/-+$/, '')}-${randomBytes(4).toString('hex')}`;
}

/**
 * Gives the enclosing describe block its own namespace: created before its tests, deleted after
 * them. The deletion is not awaited to completion; the namespace controller finishes it.
 */
export function withTestNamespace(prefix: string): TestNamespace {
  let name: string | undefined;
  const core = () => loadKubeConfig().makeApiClient(CoreV1Api);
  beforeAll(async () => {
    const candidate = testNamespaceName(prefix);
    await core().createNamespace({
      body: { metadata: { name: candidate, labels: { [TEST_NAMESPACE_LABEL]: 'true' } } },
    });
    name = candidate;
  });
  afterAll(async () => {
    if (name !== undefined) await core().deleteNamespace({ name });
  });
  return {
    get name(): string {
      if (name === undefined)
        throw new Error('the test namespace exists only inside tests (after beforeAll)');
      return name;
    },
  };
}
