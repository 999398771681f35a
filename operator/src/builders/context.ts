// What builders need from the operator's configuration; passed in, so builders stay pure.
export interface BuildContext {
  /** The server image of a CPU pool (gpus: 0) when neither the pool nor the stack names one. */
  defaultImage: string;
  /** The same for a GPU pool (gpus > 0): an image with the CUDA execution provider. */
  defaultGpuImage: string;
}
