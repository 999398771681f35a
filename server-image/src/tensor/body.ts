// Splits a request body into its JSON header and binary tensor data, per the binary tensor
// data extension: `Inference-Header-Content-Length` gives the JSON part's size in bytes and
// everything after it is the concatenated binary data of the inputs, in order.
import { badRequest } from '../errors.ts';

export interface SplitBody {
  header: unknown;
  binary: Uint8Array;
}

/** A byte count from a header (Content-Length, Inference-Header-Content-Length); undefined
 * when absent or not a whole number. */
export function byteCount(header: string | undefined): number | undefined {
  return header !== undefined && /^\d+$/.test(header.trim()) ? Number(header) : undefined;
}

export function splitBody(body: Buffer, headerLength: string | undefined): SplitBody {
  let jsonPart: Buffer = body;
  let binary: Uint8Array = new Uint8Array(0);
  if (headerLength !== undefined) {
    const n = byteCount(headerLength);
    if (n === undefined || n > body.length) {
      throw badRequest(
        `Inference-Header-Content-Length must be a whole number of bytes no larger than the body (${body.length}), got '${headerLength}'`,
      );
    }
    jsonPart = body.subarray(0, n);
    binary = body.subarray(n);
  }
  try {
    return { header: JSON.parse(jsonPart.toString('utf8')), binary };
  } catch (err) {
    throw badRequest(`malformed JSON in request body: ${(err as Error).message}`);
  }
}
