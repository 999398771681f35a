"""Triton's own Python client (tritonclient[http]) against the server, unmodified.

Usage: client-check.py <host:port> <model>. Prints one JSON object of what it saw; a failure
raises (the test reads the exit status and the output).
"""
import json
import sys

import numpy as np
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

url, model = sys.argv[1], sys.argv[2]
client = httpclient.InferenceServerClient(url=url)
seen = {}

seen["live"] = client.is_server_live()
seen["ready"] = client.is_model_ready(model)
seen["extensions"] = client.get_server_metadata()["extensions"]
config = client.get_model_config(model)
seen["max_batch_size"] = config["max_batch_size"]
seen["input"] = config["input"]
index = client.get_model_repository_index()
seen["index"] = index

x = (np.arange(2 * 16, dtype=np.float32).reshape(2, 16) / 32.0)
answers = {}
for label, binary, compression in [
    ("json", False, None),
    ("binary", True, None),
    ("gzip", False, "gzip"),
    ("deflate", True, "deflate"),
]:
    inp = httpclient.InferInput("input", [2, 16], "FP32")
    inp.set_data_from_numpy(x, binary_data=binary)
    out = httpclient.InferRequestedOutput("probabilities", binary_data=binary)
    result = client.infer(
        model,
        [inp],
        outputs=[out],
        request_compression_algorithm=compression,
        response_compression_algorithm=compression,
    )
    answers[label] = result.as_numpy("probabilities").tolist()
seen["answers_agree"] = all(np.allclose(answers["json"], a) for a in answers.values())
seen["answer_shape"] = list(np.array(answers["json"]).shape)

stats = client.get_inference_statistics(model)
s = stats["model_stats"][0]
seen["stats"] = {
    "inference_count": s["inference_count"],
    "execution_count": s["execution_count"],
    "success": s["inference_stats"]["success"]["count"],
    "queue_ns": s["inference_stats"]["queue"]["ns"],
    "compute_infer_ns": s["inference_stats"]["compute_infer"]["ns"],
}

# An error reaches the client's users with its message (the client reads it only from
# `{"error": ...}` with Content-Type application/json).
try:
    bad = httpclient.InferInput("input", [2, 15], "FP32")
    bad.set_data_from_numpy(np.zeros((2, 15), dtype=np.float32), binary_data=False)
    client.infer(model, [bad])
    seen["error"] = None
except InferenceServerException as e:
    seen["error"] = e.message()
try:
    client.get_model_config("nope")
    seen["missing_model_error"] = None
except InferenceServerException as e:
    seen["missing_model_error"] = e.message()

print(json.dumps(seen))
