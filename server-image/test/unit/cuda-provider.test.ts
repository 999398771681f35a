/**
 * @jest-environment ./server-image/test/support/ort-environment.js
 */
import { describe, expect, it } from '@jest/globals';
import { cudaProviderPath, explainCudaFailure, linkerError } from '../../src/cuda-provider.ts';
import { Model } from '../../src/model.ts';
import { MLP_DIR } from '../support/app.ts';

const LOAD_FAILED = 'OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library';
const notFound = (lib: string) => `${lib}: cannot open shared object file: No such file or directory`;

describe('explainCudaFailure (why the CUDA provider did not load)', () => {
  it('names the NVIDIA driver when libcuda.so.1 is what the linker cannot find', () => {
    const message = explainCudaFailure(LOAD_FAILED, () => notFound('libcuda.so.1'));
    expect(message).toContain('cannot load the NVIDIA driver (libcuda.so.1: cannot open shared object file');
    expect(message).toContain(
      'run on a GPU node with an nvidia.com/gpu limit, or set EXECUTION_PROVIDER=cpu',
    );
  });

  it('says the image lacks a CUDA library when another one is missing', () => {
    expect(explainCudaFailure(LOAD_FAILED, () => notFound('libcublasLt.so.13'))).toBe(
      'CUDA execution provider unavailable: libonnxruntime_providers_cuda.so cannot load a CUDA library ' +
        `this image should carry (${notFound('libcublasLt.so.13')})`,
    );
  });

  it('passes on errors past loading (no device, an old driver) with the prefix', () => {
    const ort = 'CUDA failure 100: no CUDA-capable device is detected';
    expect(explainCudaFailure(ort, () => 'never asked')).toBe(`CUDA execution provider unavailable: ${ort}`);
  });

  it('asks the dynamic linker itself: a library that is not there, and one that loads', () => {
    expect(linkerError('/nonexistent/libx.so')).toBe(notFound('/nonexistent/libx.so'));
    // libc loads (it is no Node addon, which is not the question asked).
    expect(linkerError('libc.so.6')).toBeUndefined();
  });

  it('in this CPU install: EXECUTION_PROVIDER=cuda fails at load, saying the provider is not in the image', async () => {
    const err = await Model.load({
      name: 'x',
      dir: MLP_DIR,
      precision: 'fp32',
      executionProvider: 'cuda',
      intraOpThreads: 1,
      interOpThreads: 1,
    }).catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toBe(
      `CUDA execution provider unavailable: libonnxruntime_providers_cuda.so is not in this image ` +
        `(${notFound(cudaProviderPath())}); use the CUDA image, or EXECUTION_PROVIDER=cpu`,
    );
  });

  it('in this CPU install: EXECUTION_PROVIDER=auto uses the CPU without trying CUDA', async () => {
    const heard: string[] = [];
    const model = await Model.load({
      name: 'x',
      dir: MLP_DIR,
      precision: 'fp32',
      executionProvider: 'auto',
      intraOpThreads: 1,
      interOpThreads: 1,
      log: (m) => heard.push(m),
    });
    expect(model.executionProvider).toBe('cpu');
    expect(heard).toEqual([]);
    await model.close();
  });
});
