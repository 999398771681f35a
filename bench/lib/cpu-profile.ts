// Where a server's main thread spends its time, from a V8 CPU profile (`node --cpu-prof`; the
// latency A/B writes them with BENCH_PROFILE): `node bench/lib/cpu-profile.ts <file.cpuprofile>
// [requests [top]]`; with the number of requests the profile covers, the figures are also in ms
// per request. Only samples from the first inference request on count (not start-up), idle ones not
// at all. Each sample goes to the innermost frame on its stack that is the server's own code or a
// package (server-image/src/<file>, node_modules/<package>), so Node's internals count for what
// called them (Buffer copies for read-body.ts, socket writes for fastify's reply); samples with
// neither count as Node's own (its HTTP parser, stream plumbing, timers), named by their
// innermost frame, and the garbage collector's by name. session.run counts as its own line.
// First come the owners grouped into the parts of the request path (part() below).
import { readFileSync } from 'node:fs';

interface Frame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: Frame;
  parent?: number;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const [file, requestsArg, topArg] = process.argv.slice(2);
const requests = Number(requestsArg ?? NaN);
const profile = JSON.parse(readFileSync(file!, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
for (const n of profile.nodes) for (const c of n.children ?? []) byId.get(c)!.parent = n.id;

const where = (f: Frame): string | undefined => {
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\/(.*)$/.exec(f.url);
  if (pkg) return `${pkg[1]} ${pkg[2]!.replace(/^(lib|dist)\//, '')}`;
  const own = /(?:server-image\/src|bench\/lib)\/(.*)$/.exec(f.url);
  if (own) return `src ${own[1]}`;
  return undefined;
};

function stackOf(id: number): Frame[] {
  const frames: Frame[] = [];
  for (let n = byId.get(id); n; n = n.parent === undefined ? undefined : byId.get(n.parent)) {
    frames.push(n.callFrame);
  }
  return frames;
}

const isRun = (f: Frame) => f.functionName === 'run' && /onnxruntime-(node|common)/.test(f.url);
// The first request: the server's infer handler, or the plain server's.
const isInfer = (f: Frame) =>
  (f.functionName === 'infer' && /server-image\/src\/app\.ts$/.test(f.url)) ||
  (f.functionName === 'handle' && /bench\/lib\/plain-server\.ts$/.test(f.url));

/** The request path's parts, as docs/benchmarks.md breaks it down, from a sample's owner and leaf. */
function part(key: string, leaf: Frame): string {
  const leafName = leaf.functionName;
  if (key.startsWith('onnxruntime') || key.startsWith('session.run'))
    return 'session.run (onnxruntime, with its tensors)';
  if (leaf.url === '' && /^write(v|Utf8String|Buffer|Latin1String)?$/.test(leafName))
    return "writing the answer to the socket (the kernel's loopback path)";
  if (key === 'GC (main thread)') return 'garbage collection on the main thread';
  if (key.startsWith('(program')) return 'native, unattributed (socket reads, libuv)';
  if (key === 'src read-body.ts' || /^(concat|bytes|createUnsafeBuffer|_copyActual)$/.test(leafName))
    return 'reading the body into memory';
  if (
    /^src (tensor\/|protocol\.ts|request-options\.ts|response-encoding\.ts|plain-server\.ts|target\.ts)/.test(
      key,
    )
  )
    return 'JSON header parsing, request decoding, answer encoding';
  if (/^(find-my-way|fastify route\.js)/.test(key)) return 'routing (find-my-way)';
  if (/^(fastify|pino|@fastify|fast-json-stringify|ajv|avvio|toad-cache)/.test(key))
    return "fastify's request and reply handling, hooks, validation, its per-request logger";
  if (/^src (app\.ts|spillover\/|client-errors\.ts|errors\.ts|refusals\.ts|body-memory\.ts)/.test(key))
    return "the server's handler and hooks (app.ts, spill-over checks)";
  if (/^src (batcher|cost-model|batch-size|request-queue)\.ts/.test(key)) return 'batcher and cost model';
  if (/^(prom-client|tdigest|bintrees)|^src (triton\/|pipeline\.ts|metrics\.ts)/.test(key))
    return 'metrics (prom-client, Triton statistics)';
  if (/^src (model|isolate|placement|batch-buffers)\.ts/.test(key)) return 'model wrapper (model.ts)';
  if (key.startsWith('node ')) return "Node's HTTP server, streams, events, timers";
  return `other: ${key}`;
}

const parts = new Map<string, number>();
const totals = new Map<string, number>();
const detail = new Map<string, number>();
let counting = false;
let total = 0;
profile.samples.forEach((id, i) => {
  const us = profile.timeDeltas[i] ?? 0;
  const stack = stackOf(id);
  if (!counting && stack.some(isInfer)) counting = true;
  if (!counting) return;
  const leaf = stack[0]!;
  if (leaf.functionName === '(idle)') return;
  total += us;
  let key: string;
  if (leaf.functionName === '(garbage collector)') key = 'GC (main thread)';
  else if (leaf.functionName === '(program)') key = '(program: native, unattributed)';
  else if (stack.some(isRun) && !stack.slice(0, stack.findIndex(isRun)).some((f) => where(f)))
    key = 'session.run (onnxruntime)';
  else {
    const owner = stack.find((f) => where(f));
    key = owner ? where(owner)! : `node ${leaf.url.replace(/^node:/, '') || leaf.functionName}`;
  }
  totals.set(key, (totals.get(key) ?? 0) + us);
  const p = part(key, leaf);
  parts.set(p, (parts.get(p) ?? 0) + us);
  const own = `${key} :: ${leaf.functionName || '(anonymous)'} ${leaf.url.split('/').slice(-1)[0]}:${leaf.lineNumber}`;
  detail.set(own, (detail.get(own) ?? 0) + us);
});

const show = (m: Map<string, number>, n: number) =>
  [...m.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(
      ([k, us]) =>
        `${((100 * us) / total).toFixed(1).padStart(5)}%  ` +
        `${requests > 0 ? `${(us / 1000 / requests).toFixed(4)} ms/req  ` : ''}${k}`,
    )
    .join('\n');
console.log(`${(total / 1e6).toFixed(2)} s of non-idle samples from the first request on\n`);
console.log(`${show(parts, 40)}\n\nby owner:\n${show(totals, 40)}`);
console.log(`\nby leaf function:\n${show(detail, Number(topArg ?? 40))}`);
