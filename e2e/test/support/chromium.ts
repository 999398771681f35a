import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * A screenshot, as PNG bytes, of a local file opened in Debian's Chromium, headless, with a
 * throw-away profile. Root needs --no-sandbox; the other flags keep the browser from reaching
 * out (updates, safe browsing, metrics): it only ever loads the one local file.
 */
export async function screenshot(
  file: string,
  { width, height }: { width: number; height: number },
): Promise<Buffer> {
  const dir = mkdtempSync(join(tmpdir(), 'servingstack-chromium-'));
  try {
    const png = join(dir, 'screenshot.png');
    await run(
      'chromium',
      [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-default-apps',
        '--disable-extensions',
        '--disable-sync',
        '--hide-scrollbars',
        `--user-data-dir=${join(dir, 'profile')}`,
        `--window-size=${width},${height}`,
        `--screenshot=${png}`,
        pathToFileURL(file).href,
      ],
      { timeout: 60_000, env: { ...process.env, HOME: dir } },
    );
    return readFileSync(png);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
