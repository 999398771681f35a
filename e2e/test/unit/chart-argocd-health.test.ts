import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { repoRoot } from '../support/paths.ts';

// Runs the Argo CD health check that docs/gitops.md tells users to install, exactly as written
// there, in a Lua VM (fengari; Argo CD uses gopher-lua, both run this plain Lua the same way).

interface LuaState {
  readonly _: unique symbol;
}
interface Fengari {
  lua: {
    LUA_OK: number;
    lua_pcall(L: LuaState, nargs: number, nresults: number, msgh: number): number;
    lua_getfield(L: LuaState, index: number, key: Uint8Array): number;
    lua_tojsstring(L: LuaState, index: number): string | null;
    lua_pop(L: LuaState, n: number): void;
  };
  lauxlib: {
    luaL_newstate(): LuaState;
    luaL_loadstring(L: LuaState, source: Uint8Array): number;
  };
  lualib: { luaL_openlibs(L: LuaState): void };
  to_luastring(s: string): Uint8Array;
}
const { lua, lauxlib, lualib, to_luastring } = createRequire(import.meta.url)('fengari') as Fengari;

/** The health script from the argocd-cm snippet in docs/gitops.md. */
function healthScript(): string {
  const doc = readFileSync(join(repoRoot, 'docs', 'gitops.md'), 'utf8');
  for (const [, block] of doc.matchAll(/```yaml\n([\s\S]*?)```/g)) {
    const data = (parse(block ?? '') as { data?: Record<string, string> } | null)?.data;
    const script = data?.['resource.customizations.health.servingstack.dev_ServingStack'];
    if (script !== undefined) return script;
  }
  throw new Error(
    'docs/gitops.md has no argocd-cm block with resource.customizations.health.servingstack.dev_ServingStack',
  );
}

/** A JSON value as a Lua table constructor, as Argo CD hands `obj` to the script. */
function luaLiteral(value: unknown): string {
  if (value === null || value === undefined) return 'nil';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `{${value.map(luaLiteral).join(', ')}}`;
  const fields = Object.entries(value as Record<string, unknown>).map(
    ([k, v]) => `[${JSON.stringify(k)}] = ${luaLiteral(v)}`,
  );
  return `{${fields.join(', ')}}`;
}

function argoHealth(obj: object): { status: string; message: string } {
  const L = lauxlib.luaL_newstate();
  lualib.luaL_openlibs(L);
  const chunk = `local obj = ${luaLiteral(obj)}\nlocal function check()\n${healthScript()}\nend\nreturn check()`;
  if (
    lauxlib.luaL_loadstring(L, to_luastring(chunk)) !== lua.LUA_OK ||
    lua.lua_pcall(L, 0, 1, 0) !== lua.LUA_OK
  ) {
    throw new Error(`the health script failed: ${lua.lua_tojsstring(L, -1)}`);
  }
  const field = (key: string): string => {
    lua.lua_getfield(L, -1, to_luastring(key));
    const v = lua.lua_tojsstring(L, -1) ?? '';
    lua.lua_pop(L, 1);
    return v;
  };
  return { status: field('status'), message: field('message') };
}

const ready = (status: string, reason: string, observedGeneration = 2) => ({
  type: 'Ready',
  status,
  reason,
  message: `${reason} happened`,
  observedGeneration,
  lastTransitionTime: '2026-01-01T00:00:00Z',
});
const stack = (status?: object) => ({
  apiVersion: 'servingstack.dev/v1alpha1',
  kind: 'ServingStack',
  metadata: { name: 'sentiment', namespace: 'ml', generation: 2 },
  spec: { model: { name: 'sentiment', uri: 'pvc://models/sentiment' }, routing: { host: 'a.example.com' } },
  ...(status ? { status } : {}),
});

describe('Argo CD health check in docs/gitops.md', () => {
  it('is Progressing before the operator reports anything', () => {
    expect(argoHealth(stack()).status).toBe('Progressing');
  });

  it('is Progressing while the status is from an older generation, even if it said Ready', () => {
    const h = argoHealth(stack({ observedGeneration: 1, conditions: [ready('True', 'AllPartsReady', 1)] }));
    expect(h).toEqual({ status: 'Progressing', message: 'Waiting for the operator to observe generation 2' });
  });

  it('is Healthy when Ready is True for the current generation', () => {
    const h = argoHealth(stack({ observedGeneration: 2, conditions: [ready('True', 'AllPartsReady')] }));
    expect(h).toEqual({ status: 'Healthy', message: 'AllPartsReady: AllPartsReady happened' });
  });

  it.each(['ReplicasNotReady', 'DeploymentMissing', 'NotApplied'])(
    'is Progressing when Ready is False for %s',
    (reason) => {
      expect(argoHealth(stack({ observedGeneration: 2, conditions: [ready('False', reason)] })).status).toBe(
        'Progressing',
      );
    },
  );

  it.each(['InvalidSpec', 'ChildConflict', 'ApplyRejected', 'ProviderNotInstalled'])(
    'is Degraded when Ready is False for %s (retrying cannot fix it)',
    (reason) => {
      const h = argoHealth(stack({ observedGeneration: 2, conditions: [ready('False', reason)] }));
      expect(h).toEqual({ status: 'Degraded', message: `${reason}: ${reason} happened` });
    },
  );

  it('finds Ready among the other conditions', () => {
    const other = { ...ready('False', 'ReplicasNotReady'), type: 'LatencyAvailable' };
    const h = argoHealth(
      stack({ observedGeneration: 2, conditions: [other, ready('True', 'AllPartsReady')] }),
    );
    expect(h.status).toBe('Healthy');
  });
});
