import { jest } from '@jest/globals';

// e2e tests wait on a real cluster (pods scheduled, namespaces finalized); each waitFor has its own
// tighter timeout that names what it awaited. `testTimeout` would be ignored in a project's config.
jest.setTimeout(300_000);
