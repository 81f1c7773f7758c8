#!/usr/bin/env python3
"""The same AlexNet presets in ONNX Runtime, in float32 or int8, printing `alexnet bench`'s JSON keys.

    .venv-peers/bin/pip install onnxruntime onnx
    .venv-peers/bin/python bench/peers/ort_bench.py --model paper-1gpu --mode infer --batch 64 --threads 2 [--int8] --json

The network is pytorch_bench.py's (ours, layer for layer) exported to ONNX (opset 13) with
random weights. --int8 quantizes it with ONNX Runtime's own post-training static quantization,
as its documentation recommends for CNNs on x86: QDQ format, s8 weights per output channel, u8
activations with min-max ranges calibrated on four random batches. Inference only (infer and
latency). Not part of the tests.
"""
import os
import tempfile

import numpy as np
import onnxruntime as ort
import torch
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

from peer_common import batch_size, measure_and_report, parser
from pytorch_bench import MODELS


class RandomBatches(CalibrationDataReader):
    """`count` batches of uniform [0, 1) input, the same distribution the timing uses."""

    def __init__(self, shape, count=4):
        rng = np.random.default_rng(2)
        self.batches = iter([{"input": rng.random(shape, dtype=np.float32)} for _ in range(count)])

    def get_next(self):
        return next(self.batches, None)


def load_session(args, model, batch, shape, directory):
    """The model exported to ONNX in `directory` (and quantized with --int8), in a session."""
    path = os.path.join(directory, f"{args.model}.onnx")
    torch.onnx.export(model, torch.rand(batch, *shape), path, input_names=["input"], output_names=["logits"],
                      opset_version=13, dynamo=False)
    if args.int8:
        # The preparation ONNX Runtime asks for first (shape inference, graph optimisation).
        prepared = os.path.join(directory, f"{args.model}-prepared.onnx")
        quant_pre_process(path, prepared)
        quantized = os.path.join(directory, f"{args.model}-int8.onnx")
        quantize_static(prepared, quantized, RandomBatches((batch, *shape)), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        path = quantized
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    return session


def main():
    arguments = parser(__doc__)
    arguments.add_argument("--int8", action="store_true", help="ONNX Runtime's static int8 quantization (QDQ, per channel)")
    args = arguments.parse_args()
    if args.mode == "train":
        raise SystemExit("ort_bench.py times inference: --mode infer or latency")
    batch = batch_size(args)
    torch.manual_seed(1)
    model, shape = MODELS[args.model]()
    model.eval()
    with tempfile.TemporaryDirectory(prefix="ort-bench-") as directory:  # hundreds of MB for AlexNet
        session = load_session(args, model, batch, shape, directory)
    x = np.random.default_rng(1).random((batch, *shape), dtype=np.float32)

    def step():
        session.run(None, {"input": x})

    measure_and_report(args, f"onnxruntime {ort.__version__}" + (" int8 QDQ" if args.int8 else ""), batch, step)


if __name__ == "__main__":
    main()
