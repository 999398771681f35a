// Builds the controller the process runs: API clients on the gated transport, informers on the
// API server's list and watch, the reconciler and its event recorder.
import {
  AppsV1Api,
  AutoscalingV2Api,
  CoreV1Api,
  CustomObjectsApi,
  EventsV1Api,
  NetworkingV1Api,
  Watch,
  type Configuration,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { GROUP, PLURAL, VERSION, type ServingStack } from '../api/servingstack.ts';
import type { Config } from '../config.ts';
import type { Metrics } from '../metrics.ts';
import { EventRecorder } from '../reconcile/events.ts';
import { KubeClient } from '../reconcile/kube-client.ts';
import { Reconciler } from '../reconcile/reconciler.ts';
import { apiConfiguration, type WriteGate } from './api-clients.ts';
import { Controller, type Listers } from './controller.ts';
import type { Page } from './informers.ts';
import { supervisedInformer } from './informers.ts';
import type { SharedTransport } from './transport.ts';

type List = KubernetesListObject<KubernetesObject>;

export function listers(config: Configuration): Listers {
  const apps = new AppsV1Api(config);
  const core = new CoreV1Api(config);
  const net = new NetworkingV1Api(config);
  const hpa = new AutoscalingV2Api(config);
  const custom = new CustomObjectsApi(config);
  return {
    stacks:
      (namespace) =>
      (page: Page = {}) =>
        (namespace
          ? custom.listNamespacedCustomObject({
              group: GROUP,
              version: VERSION,
              namespace,
              plural: PLURAL,
              ...page,
            })
          : custom.listClusterCustomObject({
              group: GROUP,
              version: VERSION,
              plural: PLURAL,
              ...page,
            })) as Promise<KubernetesListObject<ServingStack>>,
    children: (k, namespace, labelSelector) => {
      switch (k.kind) {
        case 'Deployment':
          return (page: Page = {}) =>
            namespace
              ? apps.listNamespacedDeployment({ namespace, labelSelector, ...page })
              : apps.listDeploymentForAllNamespaces({ labelSelector, ...page });
        case 'ReplicaSet':
          return (page: Page = {}) =>
            namespace
              ? apps.listNamespacedReplicaSet({ namespace, labelSelector, ...page })
              : apps.listReplicaSetForAllNamespaces({ labelSelector, ...page });
        case 'Service':
          return (page: Page = {}) =>
            namespace
              ? core.listNamespacedService({ namespace, labelSelector, ...page })
              : core.listServiceForAllNamespaces({ labelSelector, ...page });
        case 'Ingress':
          return (page: Page = {}) =>
            namespace
              ? net.listNamespacedIngress({ namespace, labelSelector, ...page })
              : net.listIngressForAllNamespaces({ labelSelector, ...page });
        case 'HorizontalPodAutoscaler':
          return (page: Page = {}) =>
            namespace
              ? hpa.listNamespacedHorizontalPodAutoscaler({ namespace, labelSelector, ...page })
              : hpa.listHorizontalPodAutoscalerForAllNamespaces({ labelSelector, ...page });
        default: {
          const [group = '', version = ''] = k.apiVersion.split('/');
          return (page: Page = {}) =>
            (namespace
              ? custom.listNamespacedCustomObject({
                  group,
                  version,
                  namespace,
                  plural: k.plural,
                  labelSelector,
                  ...page,
                })
              : custom.listClusterCustomObject({
                  group,
                  version,
                  plural: k.plural,
                  labelSelector,
                  ...page,
                })) as Promise<List>;
        }
      }
    },
  };
}

export function createController(
  kc: KubeConfig,
  config: Config,
  metrics: Metrics,
  log: Logger,
  gate: WriteGate,
  transport: SharedTransport,
): Controller {
  const api = apiConfiguration(kc, gate, config.identity, undefined, transport);
  const watch = new Watch(transport.forWatches());
  const now = () => new Date();
  const kube = new KubeClient(api, metrics.apiCalls);
  const events = new EventRecorder(new EventsV1Api(api), config.identity, now, log);
  return new Controller({
    config,
    metrics,
    log,
    informer: (spec) =>
      supervisedInformer({
        ...spec,
        watch,
        log,
        onRestart: () => metrics.informerErrors.inc({ resource: spec.resource }),
      }),
    listers: listers(api),
    reconciler: (caches) =>
      new Reconciler(
        caches,
        kube,
        events,
        { defaultImage: config.defaultImage, defaultGpuImage: config.defaultGpuImage },
        now,
        log,
      ),
  });
}
