// The restricted Pod Security Standard, applied to every pod and container the operator makes.
import type { V1PodSecurityContext, V1SecurityContext } from '@kubernetes/client-node';

export function podSecurityContext(): V1PodSecurityContext {
  return { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } };
}

export function containerSecurityContext(): V1SecurityContext {
  return {
    runAsNonRoot: true,
    readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  };
}
