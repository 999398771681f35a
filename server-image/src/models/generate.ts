// Writes the generated MLP's three variants into a directory (default: server-image/models/mlp).
// Usage: node server-image/src/models/generate.ts [DIR [SEED]]; another seed writes another version
// of the model (other weights, other answers), as a model update would.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MLP_SEED, mlpFiles } from './mlp.ts';

const dir = process.argv[2] ?? fileURLToPath(new URL('../../models/mlp', import.meta.url));
mkdirSync(dir, { recursive: true });
const seed = process.argv[3] === undefined ? MLP_SEED : Number(process.argv[3]);
if (!Number.isSafeInteger(seed)) throw new Error(`SEED must be an integer, got '${process.argv[3]}'`);
for (const [name, bytes] of Object.entries(mlpFiles(seed))) {
  writeFileSync(join(dir, name), bytes);
  console.log(`${join(dir, name)} (${bytes.length} bytes)`);
}
