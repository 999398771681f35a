// The one place onnxruntime-node is loaded. Telemetry must be off before the runtime
// initialises (onnxruntime 1.29+ phones home by default); operators opt in by setting
// ORT_DISABLE_TELEMETRY=0 explicitly.
process.env.ORT_DISABLE_TELEMETRY ??= '1';

// onnxruntime-common stores float16 tensors in a Float16Array when the global exists (Node 24
// has it), but the 1.30 native binding cannot read a Float16Array and fails with "not enough
// space". Hiding the global during the library's one-time type check makes it keep float16 data
// in Uint16Array (raw IEEE half bits), which the binding reads; the codec converts at the edge.
const float16 = globalThis.Float16Array;
Reflect.deleteProperty(globalThis, 'Float16Array');
const ort = await import('onnxruntime-node');
new ort.Tensor('float32', new Float32Array(0), [0]);
globalThis.Float16Array = float16;

export default ort;
export type { InferenceSession, Tensor } from 'onnxruntime-node';
