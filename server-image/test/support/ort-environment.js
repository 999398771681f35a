// Jest runs each test file in its own realm, but onnxruntime-node's native binding creates
// output typed arrays in Node's main realm, so onnxruntime-common's `instanceof Float32Array`
// checks fail inside tests (jest#2549). This environment hands tests the main realm's typed
// array constructors. Use it with a `@jest-environment` docblock in files that run models.
import { TestEnvironment } from 'jest-environment-node';

const SHARED = [
  'ArrayBuffer',
  'Uint8Array',
  'Int8Array',
  'Uint16Array',
  'Int16Array',
  'Uint32Array',
  'Int32Array',
  'BigUint64Array',
  'BigInt64Array',
  'Float16Array',
  'Float32Array',
  'Float64Array',
];

export default class OrtEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const name of SHARED) this.global[name] = globalThis[name];
  }
}
