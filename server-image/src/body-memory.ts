// Gives the memory of large request bodies back once they stop coming. A body is a Buffer outside
// V8's heap, freed only when a garbage collection finds it dead; V8 collects when its own heap
// grows or when such external memory grows fast, never merely because the process went quiet.
// After a burst of large bodies and no traffic, hundreds of MiB would stay resident until the
// next burst (measured: 172 MiB before three rounds of 30 MiB binary and 4 MiB JSON bodies,
// 370 at the peak, 368 five seconds later). So once no large body has come for a moment, one
// full collection runs: a few milliseconds on the small heap of this server, and only then.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Bodies at least this large arm the collection. */
export const LARGE_BODY_BYTES = 4 * 1024 * 1024;
/** How long after the last large body the collection runs. */
export const QUIET_MS = 2_000;

// The documented way to reach `gc` without the command-line flag: set it, then read `gc` from a
// fresh context, which gets it from the flag.
setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;

let timer: NodeJS.Timeout | undefined;

/** Notes a request body of `bytes`; a large one (re)arms the collection. */
export function noteBody(bytes: number): void {
  if (bytes < LARGE_BODY_BYTES) return;
  if (timer) timer.refresh();
  else {
    timer = setTimeout(() => {
      timer = undefined;
      collect();
    }, QUIET_MS);
    // A pending collection never holds the process open.
    timer.unref();
  }
}
