// What builders need from the operator's configuration; passed in, so builders stay pure.
export interface BuildContext {
  /** The server image when neither the pool nor the stack names one. */
  defaultImage: string;
}
