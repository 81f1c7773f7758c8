#!/usr/bin/env python3
"""Test top-1 of an exported ONNX model (float or QDQ int8) on Fashion-MNIST, in ONNX Runtime.

    .venv-peers/bin/python scripts/onnx_accuracy.py quick-int8.onnx [--data /usr/share/datasets/fashion-mnist]

Prepares the test images as the model's metadata says (`preprocessing`: scale, bilinear
upscaling with half-pixel centres as ours and PyTorch's, mean/std), runs them through ONNX
Runtime's CPU provider in batches of 100, and prints the accuracy beside the run time. It is how
BENCHMARKS.md compares ONNX Runtime's execution of our QDQ export with our own int8 plan.
"""
import argparse
import gzip
import json
import time

import numpy as np
import onnx
import onnxruntime as ort


def idx(path):
    with gzip.open(path) as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * k:8 + 4 * k], "big") for k in range(dims)]
    return np.frombuffer(data[4 + 4 * dims:], dtype=np.uint8).reshape(shape)


def bilinear_matrix(size_in, size_out):
    """[out, in] weights of upscaling with pixel centres at half-integers, clamped at the edges."""
    m = np.zeros((size_out, size_in), dtype=np.float64)
    for x in range(size_out):
        s = min(max((x + 0.5) * size_in / size_out - 0.5, 0), size_in - 1)
        lo = int(np.floor(s))
        hi = min(lo + 1, size_in - 1)
        m[x, lo] += 1 - (s - lo)
        m[x, hi] += s - lo
    return m


parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("model")
parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
parser.add_argument("--threads", type=int, default=2)
args = parser.parse_args()

meta = {p.key: p.value for p in onnx.load(args.model, load_external_data=False).metadata_props}
prep = json.loads(meta["preprocessing"])
images = idx(f"{args.data}/t10k-images-idx3-ubyte.gz").astype(np.float64) * prep["scale"]
labels = idx(f"{args.data}/t10k-labels-idx1-ubyte.gz")
size = prep.get("resize") or images.shape[1]
if size != images.shape[1]:
    rows, cols = bilinear_matrix(images.shape[1], size), bilinear_matrix(images.shape[2], size)
    images = np.einsum("oi,nij,pj->nop", rows, images, cols)
inputs = ((images - prep["mean"][0]) / prep["std"][0]).astype(np.float32)[:, None]

options = ort.SessionOptions()
options.intra_op_num_threads = args.threads
session = ort.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
start = time.perf_counter()
predictions = np.concatenate([session.run(["logits"], {"input": inputs[k:k + 100]})[0].argmax(axis=1)
                              for k in range(0, len(inputs), 100)])
elapsed = time.perf_counter() - start
print(f"{args.model}: top-1 {100 * (predictions == labels).mean():.2f}% on {len(labels)} test images "
      f"({elapsed:.1f} s, {len(labels) / elapsed:.0f} images/s, ONNX Runtime {ort.__version__})")
