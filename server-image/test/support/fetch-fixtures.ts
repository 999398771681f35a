// What the model-fetch tests serve: real ONNX files (the bundled MLP's variants, and a model whose
// weights live in an external-data file beside it) and a throw-away certificate authority with a
// server certificate for 127.0.0.1, made with openssl, for an https server the tests start.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ElemType, encodeModel } from '../../src/models/onnx.ts';

export const MLP_DIR = fileURLToPath(new URL('../../models/mlp', import.meta.url));
export const mlp = (name: string) => readFileSync(join(MLP_DIR, name));
export const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
export const tmp = () => mkdtempSync(join(tmpdir(), 'fetch-model-'));

/** y = x · W for x [batch, 2], with W [2, 2] = [[1, 2], [3, 4]] stored in `location` at `offset`. */
export function externalDataModel(location: string, offset = 16): { model: Buffer; weights: Buffer } {
  const raw = Buffer.from(new Float32Array([1, 2, 3, 4]).buffer);
  const model = encodeModel(
    {
      name: 'external',
      nodes: [{ opType: 'MatMul', inputs: ['x', 'W'], outputs: ['y'] }],
      initializers: [
        {
          name: 'W',
          elemType: ElemType.FLOAT,
          dims: [2, 2],
          raw,
          external: { location, offset, length: raw.length },
        },
      ],
      inputs: [{ name: 'x', elemType: ElemType.FLOAT, shape: ['batch', 2] }],
      outputs: [{ name: 'y', elemType: ElemType.FLOAT, shape: ['batch', 2] }],
    },
    'servingstack-test',
  );
  return { model: Buffer.from(model), weights: Buffer.concat([Buffer.alloc(offset), raw]) };
}

export interface TestCa {
  caFile: string;
  key: Buffer;
  cert: Buffer;
}

/** A CA and a certificate for 127.0.0.1 that it signed (openssl, from the project's system packages). */
export function makeTestCa(): TestCa {
  const dir = tmp();
  const f = (n: string) => join(dir, n);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  openssl(
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=servingstack fetch-model test CA',
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.crt'),
  );
  openssl(
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-subj',
    '/CN=127.0.0.1',
    '-keyout',
    f('server.key'),
    '-out',
    f('server.csr'),
  );
  writeFileSync(f('san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  openssl(
    'x509',
    '-req',
    '-in',
    f('server.csr'),
    '-CA',
    f('ca.crt'),
    '-CAkey',
    f('ca.key'),
    '-CAcreateserial',
    '-days',
    '1',
    '-extfile',
    f('san.ext'),
    '-out',
    f('server.crt'),
  );
  return { caFile: f('ca.crt'), key: readFileSync(f('server.key')), cert: readFileSync(f('server.crt')) };
}
