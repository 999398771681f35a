// The CUDA execution provider is a separate library beside onnxruntime's own, brought by the CUDA
// image (or onnxruntime-node's cuda12 install). When it does not load, onnxruntime-node only says
// "Failed to load shared library" (the reason goes to its own log on stderr); asking the dynamic
// linker for the same library gets the reason back, so the error can name what is missing.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export const CUDA_PROVIDER_LIBRARY = 'libonnxruntime_providers_cuda.so';
/** The NVIDIA driver's user-space library: the node provides it, the image never carries it. */
export const DRIVER_LIBRARY = 'libcuda.so.1';

/** Where onnxruntime-node looks for provider libraries: beside its libonnxruntime.so.1. */
export function cudaProviderPath(): string {
  const entry = createRequire(import.meta.url).resolve('onnxruntime-node');
  return join(dirname(entry), '..', 'bin', 'napi-v6', process.platform, process.arch, CUDA_PROVIDER_LIBRARY);
}

export const cudaProviderPresent = (): boolean => existsSync(cudaProviderPath());

/**
 * What the dynamic linker says when loading `path`: undefined when it loads (Node then finds no
 * addon in it, which is not the question asked).
 */
export function linkerError(path: string): string | undefined {
  try {
    process.dlopen({ exports: {} }, path);
    return undefined;
  } catch (err) {
    const message = (err as Error).message;
    return /did not self-register/.test(message) ? undefined : message;
  }
}

/** The message for a CUDA session that could not be created, from onnxruntime's error. */
export function explainCudaFailure(
  ortMessage: string,
  linker: (path: string) => string | undefined = linkerError,
): string {
  const prefix = 'CUDA execution provider unavailable';
  if (!/Failed to load shared library/i.test(ortMessage)) return `${prefix}: ${ortMessage}`;
  const path = cudaProviderPath();
  const reason = linker(path);
  if (reason === undefined) return `${prefix}: ${ortMessage}`;
  if (reason.includes(path)) {
    return `${prefix}: ${CUDA_PROVIDER_LIBRARY} is not in this image (${reason}); use the CUDA image, or EXECUTION_PROVIDER=cpu`;
  }
  if (reason.includes(DRIVER_LIBRARY)) {
    return (
      `${prefix}: ${CUDA_PROVIDER_LIBRARY} cannot load the NVIDIA driver (${reason}). ` +
      `${DRIVER_LIBRARY} comes with the driver, which the node provides to the container ` +
      '(NVIDIA container toolkit or GPU operator): run on a GPU node with an nvidia.com/gpu limit, ' +
      'or set EXECUTION_PROVIDER=cpu'
    );
  }
  return `${prefix}: ${CUDA_PROVIDER_LIBRARY} cannot load a CUDA library this image should carry (${reason})`;
}
