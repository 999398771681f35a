// Writes the generated MLP's three variants into a directory (default: server-image/models/mlp).
// Usage: node server-image/src/models/generate.ts [DIR]
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mlpFiles } from './mlp.ts';

const dir = process.argv[2] ?? fileURLToPath(new URL('../../models/mlp', import.meta.url));
mkdirSync(dir, { recursive: true });
for (const [name, bytes] of Object.entries(mlpFiles())) {
  writeFileSync(join(dir, name), bytes);
  console.log(`${join(dir, name)} (${bytes.length} bytes)`);
}
