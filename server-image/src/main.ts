#!/usr/bin/env node
// The image's entrypoint: `fetch-model ...` makes it the model-fetch init container; anything
// else is server configuration (flags with env twins, see config.ts).
import { ConfigError, parseConfig } from './config.ts';
import { FetchError, fetchModelMain } from './fetch/fetch-model.ts';

const [command, ...rest] = process.argv.slice(2);

try {
  if (command === 'fetch-model') {
    await fetchModelMain(rest);
  } else {
    const config = parseConfig(process.env, process.argv.slice(2));
    const { serve } = await import('./server.ts');
    await serve(config);
  }
} catch (err) {
  if (err instanceof ConfigError || err instanceof FetchError) {
    console.error(err.message);
    process.exit(2);
  }
  console.error(err instanceof Error ? `fatal: ${err.message}` : err);
  process.exit(1);
}
