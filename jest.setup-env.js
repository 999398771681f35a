// onnxruntime 1.29+ sends usage telemetry unless this is set before the runtime loads.
process.env.ORT_DISABLE_TELEMETRY = '1';
