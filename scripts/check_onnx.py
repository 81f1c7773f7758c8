#!/usr/bin/env python3
"""Runs every exported model in DIR in ONNX Runtime and compares with our outputs.

    .venv-peers/bin/pip install onnxruntime onnx
    ALEXNET_ONNX_PYTHON=.venv-peers/bin/python swift test --filter onnxRuntime

The Swift test writes NAME.onnx and NAME.io.safetensors (a batch `input` and our `logits` for
it) into DIR and then runs this script, which checks each model with onnx's checker, runs it in
ONNX Runtime (CPU), and prints the largest differences of the logits and of the probabilities.
It exits 1 if any logit differs from ours by more than 1e-4 of the largest logit (or any
probability by more than 1e-4). An io file whose metadata has "tolerance" (the int8 QDQ exports:
Int8Tests.onnxRuntimeRunsTheQDQExport) is held to that fraction of the largest logit instead
(probabilities to that fraction absolutely), and the script also prints how many rows agree on the top class.
"""
import json
import struct
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort


def load_file(path):
    """The float32 tensors of a safetensors file (the format is an 8-byte header length, a
    JSON header, then the data), without needing the safetensors package, and its metadata."""
    data = Path(path).read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    body = data[8 + length:]
    tensors = {"__metadata__": header.get("__metadata__", {})}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        assert entry["dtype"] == "F32", f"{path}: {name} is {entry['dtype']}"
        start, end = entry["data_offsets"]
        tensors[name] = np.frombuffer(body[start:end], dtype="<f4").reshape(entry["shape"])
    return tensors

directory = Path(sys.argv[1])
failed = False
models = sorted(directory.glob("*.onnx"))
if not models:
    sys.exit(f"no .onnx files in {directory}")
for path in models:
    name = path.stem
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    io = load_file(str(directory / f"{name}.io.safetensors"))
    # An int8 export's tolerance is a fraction of the largest logit however small the logits
    # are (random weights give logits of ~0.1); a float one's is absolute below 1.
    int8_tolerance = io["__metadata__"].get("tolerance")
    tolerance = float(int8_tolerance or 1e-4)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    logits, probabilities = session.run(["logits", "probabilities"], {"input": io["input"]})
    ours = io["logits"]
    shifted = np.exp(ours - ours.max(axis=1, keepdims=True))
    our_probabilities = shifted / shifted.sum(axis=1, keepdims=True)
    scale = float(np.abs(ours).max()) if int8_tolerance else max(1.0, float(np.abs(ours).max()))
    logit_difference = float(np.abs(logits - ours).max())
    probability_difference = float(np.abs(probabilities - our_probabilities).max())
    ok = logit_difference <= tolerance * scale and probability_difference <= max(tolerance, 1e-4)
    failed |= not ok
    same_top = int((logits.argmax(axis=1) == ours.argmax(axis=1)).sum())
    print(f"{name:12s} logits {ours.shape}: largest |ours| {float(np.abs(ours).max()):.4g}, "
          f"largest difference {logit_difference:.3g}; probabilities {probability_difference:.3g}; "
          f"same top class {same_top}/{len(ours)}  {'ok' if ok else 'TOO FAR'}")
sys.exit(1 if failed else 0)
