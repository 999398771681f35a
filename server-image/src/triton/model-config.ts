// Triton's model configuration extension (GET /v2/models/{m}/config): the served model described
// in Triton's own JSON form of its model config, which perf_analyzer and Triton's clients read
// before anything else (max_batch_size, the inputs' data types and dims without the batch).
import type { Datatype } from '../tensor/datatypes.ts';

export interface ConfigSource {
  name: string;
  inputs: ReadonlyArray<{ name: string; datatype: Datatype; shape: number[] }>;
  outputs: ReadonlyArray<{ name: string; datatype: Datatype; shape: number[] }>;
  batched: boolean;
  executionProvider: 'cuda' | 'cpu';
  file: string;
}

export interface BatchingSettings {
  maxBatchSize: number;
  maxDelayMs: number;
  maxQueueSize: number;
}

/** Triton's data type names: the protocol's with a TYPE_ prefix, BYTES being TYPE_STRING. */
export const tritonDataType = (d: Datatype): string => (d === 'BYTES' ? 'TYPE_STRING' : `TYPE_${d}`);

/** `version` is the model's content identity (model-version.ts), a string parameter as Triton has them. */
export function tritonModelConfig(m: ConfigSource, b: BatchingSettings, version: string) {
  // With batching, Triton's dims leave out the batch dimension and max_batch_size says its bound.
  const dims = (shape: number[]) => (m.batched ? shape.slice(1) : shape);
  const maxBatchSize = m.batched ? b.maxBatchSize : 0;
  return {
    name: m.name,
    platform: 'onnxruntime_onnx',
    backend: 'onnxruntime',
    version_policy: { latest: { num_versions: 1 } },
    max_batch_size: maxBatchSize,
    input: m.inputs.map((i) => ({
      name: i.name,
      data_type: tritonDataType(i.datatype),
      format: 'FORMAT_NONE',
      dims: dims(i.shape),
      is_shape_tensor: false,
      allow_ragged_batch: false,
      optional: false,
    })),
    output: m.outputs.map((o) => ({
      name: o.name,
      data_type: tritonDataType(o.datatype),
      dims: dims(o.shape),
      label_filename: '',
      is_shape_tensor: false,
    })),
    batch_input: [],
    batch_output: [],
    ...(maxBatchSize > 1
      ? {
          dynamic_batching: {
            preferred_batch_size: [],
            max_queue_delay_microseconds: Math.round(b.maxDelayMs * 1000),
            preserve_ordering: false,
            priority_levels: 0,
            default_priority_level: 0,
            default_queue_policy: {
              timeout_action: 'REJECT',
              default_timeout_microseconds: 0,
              allow_timeout_override: true,
              max_queue_size: b.maxQueueSize,
            },
          },
        }
      : {}),
    instance_group: [
      {
        name: m.name,
        kind: m.executionProvider === 'cuda' ? 'KIND_GPU' : 'KIND_CPU',
        count: 1,
        gpus: m.executionProvider === 'cuda' ? [0] : [],
        secondary_devices: [],
        profile: [],
        passive: false,
        host_policy: '',
      },
    ],
    default_model_filename: m.file.split('/').at(-1) ?? 'model.onnx',
    cc_model_filenames: {},
    metric_tags: {},
    parameters: { model_version: { string_value: version } },
    model_warmup: [],
  };
}
