// Generates operator/src/api/types.generated.ts from the CRD YAML in crds/, the single source of
// truth for the ServingStack API. Run: node operator/scripts/gen-types.ts
// The unit test types-drift.test.ts regenerates in memory and fails when the committed file differs.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as prettier from 'prettier';
import { parse } from 'yaml';

export interface JsonSchema {
  type?: string;
  description?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  additionalProperties?: JsonSchema | boolean;
  enum?: unknown[];
  default?: unknown;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  [k: string]: unknown;
}

interface Crd {
  spec: {
    group: string;
    names: { kind: string; plural: string };
    versions: { name: string; storage?: boolean; schema: { openAPIV3Schema: JsonSchema } }[];
  };
}

export const CRD_PATH = fileURLToPath(
  new URL('../../crds/servingstack.dev_servingstacks.yaml', import.meta.url),
);
export const OUTPUT_PATH = fileURLToPath(new URL('../src/api/types.generated.ts', import.meta.url));

// Type names by schema path; both pools share one shape, so they share one name (checked below).
const NAMES: Record<string, string> = {
  spec: 'ServingStackSpec',
  'spec.model': 'ModelSpec',
  'spec.routing': 'RoutingSpec',
  'spec.routing.gateway': 'GatewayRef',
  'spec.routing.spillover': 'SpilloverSpec',
  'spec.routing.spillover.toLatency': 'SpillToLatencySpec',
  'spec.routing.spillover.toThroughput': 'SpillToThroughputSpec',
  'spec.throughput': 'PoolSpec',
  'spec.latency': 'PoolSpec',
  'spec.*.batching': 'BatchingSpec',
  'spec.*.threads': 'ThreadsSpec',
  'spec.*.resources': 'ResourcesSpec',
  'spec.*.autoscaling': 'AutoscalingSpec',
  'spec.*.tolerations[]': 'Toleration',
  status: 'ServingStackStatus',
  'status.conditions[]': 'Condition',
  'status.throughput': 'PoolStatus',
  'status.latency': 'PoolStatus',
  'status.*.modelVersions[]': 'ModelVersionReplicas',
  'status.routing': 'RoutingStatus',
};

function nameFor(path: string): string {
  const generic = path.replace(/^(spec|status)\.(throughput|latency)\./, '$1.*.');
  const name = NAMES[path] ?? NAMES[generic];
  if (!name) throw new Error(`gen-types: no type name for schema path ${path}; add it to NAMES`);
  return name;
}

function hasDefaults(s: JsonSchema): boolean {
  if (s.default !== undefined) return true;
  return Object.values(s.properties ?? {}).some(hasDefaults) || (s.items ? hasDefaults(s.items) : false);
}

class Emitter {
  private readonly decls = new Map<string, string>();

  typeOf(s: JsonSchema, path: string, defaulted: boolean): string {
    if (s['x-kubernetes-int-or-string']) return 'number | string';
    if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(' | ');
    switch (s.type) {
      case 'string':
        return 'string';
      case 'integer':
      case 'number':
        return 'number';
      case 'boolean':
        return 'boolean';
      case 'array': {
        if (!s.items) throw new Error(`gen-types: array without items at ${path}`);
        const inner = this.typeOf(s.items, `${path}[]`, defaulted);
        return inner.includes('|') ? `(${inner})[]` : `${inner}[]`;
      }
      case 'object':
        if (s.properties) return this.object(s, path, defaulted);
        if (typeof s.additionalProperties === 'object') {
          return `Record<string, ${this.typeOf(s.additionalProperties, `${path}{}`, defaulted)}>`;
        }
        return 'Record<string, unknown>';
      default:
        throw new Error(`gen-types: unsupported schema type ${String(s.type)} at ${path}`);
    }
  }

  private object(s: JsonSchema, path: string, defaulted: boolean): string {
    const base = nameFor(path);
    const name = defaulted && hasDefaults(s) ? `${base}Defaulted` : base;
    const required = new Set(s.required ?? []);
    const lines: string[] = [];
    for (const [key, prop] of Object.entries(s.properties ?? {})) {
      const mustExist = required.has(key) || (defaulted && prop.default !== undefined);
      if (prop.description) lines.push(`  /** ${prop.description.replace(/\*\//g, '*\\/')} */`);
      lines.push(`  ${key}${mustExist ? '' : '?'}: ${this.typeOf(prop, `${path}.${key}`, defaulted)};`);
    }
    // A pool's own description says which pool it is; the shared interface must not.
    const shared = /^(spec|status)\.(throughput|latency)$/.test(path);
    const doc = s.description && !shared ? `/** ${s.description} */\n` : '';
    const decl = `${doc}export interface ${name} {\n${lines.join('\n')}\n}`;
    const seen = this.decls.get(name);
    if (seen !== undefined && seen !== decl) {
      throw new Error(`gen-types: ${path} and an earlier schema both map to ${name} but differ in shape`);
    }
    if (seen === undefined) this.decls.set(name, decl);
    return name;
  }

  output(): string {
    return [...this.decls.values()].join('\n\n');
  }
}

export async function generate(crdYaml: string): Promise<string> {
  const crd = parse(crdYaml) as Crd;
  const version = crd.spec.versions.find((v) => v.storage) ?? crd.spec.versions[0];
  if (!version) throw new Error('gen-types: the CRD has no versions');
  const root = version.schema.openAPIV3Schema;
  const spec = root.properties?.spec;
  const status = root.properties?.status;
  if (!spec || !status) throw new Error('gen-types: the CRD schema lacks spec or status');
  const em = new Emitter();
  em.typeOf(spec, 'spec', false);
  em.typeOf(spec, 'spec', true);
  em.typeOf(status, 'status', false);
  const source = `// GENERATED by operator/scripts/gen-types.ts from crds/servingstack.dev_servingstacks.yaml. Do not edit.
import type { JsonSchemaLike } from './schema.ts';

export const GROUP = ${JSON.stringify(crd.spec.group)};
export const VERSION = ${JSON.stringify(version.name)};
export const KIND = ${JSON.stringify(crd.spec.names.kind)};
export const PLURAL = ${JSON.stringify(crd.spec.names.plural)};

${em.output()}

/** The spec's schema, for structural defaulting exactly as the API server does it. */
export const SPEC_SCHEMA: JsonSchemaLike = ${JSON.stringify(spec)};
`;
  const options = (await prettier.resolveConfig(OUTPUT_PATH)) ?? {};
  return prettier.format(source, { ...options, parser: 'typescript' });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(OUTPUT_PATH, await generate(readFileSync(CRD_PATH, 'utf8')));
  console.log(`wrote ${OUTPUT_PATH}`);
}
