// Shared inputs for the builder tests: a stack as a user writes it, defaulted as the API server would.
import {
  withDefaults,
  type DefaultedStack,
  type ServingStack,
  type ServingStackSpec,
} from '../../src/api/servingstack.ts';
import type { BuildContext } from '../../src/builders/context.ts';

export const ctx: BuildContext = {
  defaultImage: 'localhost/servingstack/server:dev',
  defaultGpuImage: 'localhost/servingstack/server:dev-cuda13',
};

export function stackOf(spec: Partial<ServingStackSpec> = {}, name = 'sentiment'): ServingStack {
  return {
    apiVersion: 'servingstack.dev/v1alpha1',
    kind: 'ServingStack',
    metadata: { name, namespace: 'ml', uid: 'uid-1', generation: 3 },
    spec: {
      model: { name: 'sentiment', uri: 'file:///opt/servingstack/models/mlp' },
      routing: { host: 'sentiment.example.com' },
      ...spec,
    },
  };
}

export function defaulted(spec: Partial<ServingStackSpec> = {}, name = 'sentiment'): DefaultedStack {
  return withDefaults(stackOf(spec, name));
}
