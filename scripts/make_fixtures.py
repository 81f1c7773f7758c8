#!/usr/bin/env python3
"""Writes the PyTorch fixtures that the Swift tests compare against (Tests/Fixtures/pytorch).

Run by hand when the fixtures must change, with PyTorch from PyPI:

    python3 -m venv .venv-peers && .venv-peers/bin/pip install torch
    .venv-peers/bin/python scripts/make_fixtures.py

Two files, both safetensors written here without the `safetensors` package:

- layers.safetensors: for each case, the input, the parameters, the output, an upstream
  gradient, and the gradients of the input and of every parameter, under `<case>.<what>`; the
  metadata maps each case to "<network-file layer line>|<input shape with batch>".
- alexnet.safetensors: a narrow AlexNet (the paper's layout with fewer channels, 3x67x67
  input, no dropout so that no random mask is involved): its parameters under our layer names,
  a batch, its labels, the logits, the loss, every parameter gradient (`grad.<name>`) and the
  losses of ten steps of the paper's SGD (momentum 0.9, weight decay 5e-4, lr 0.02).
"""
import json
import struct
import sys
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = Path(__file__).resolve().parent.parent / "Tests" / "Fixtures" / "pytorch"
torch.manual_seed(2012)
if __name__ == "__main__":
    torch.set_default_dtype(torch.float64)  # computed in double, stored as float32


def write(path, tensors, metadata):
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name, tensor in tensors.items():
        data = tensor.detach().to(torch.float32).contiguous().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensor.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        for blob in blobs:
            f.write(blob)
    print(f"wrote {path} ({path.stat().st_size:,} bytes, {len(tensors)} tensors)")


def layer_case(tensors, metadata, name, line, module, x, params=()):
    """Runs `module` forward and backward on x; records everything under `name.`."""
    x = x.clone().requires_grad_(True)
    y = module(x)
    upstream = torch.randn_like(y)
    y.backward(upstream)
    tensors[f"{name}.input"] = x
    tensors[f"{name}.output"] = y
    tensors[f"{name}.grad_output"] = upstream
    tensors[f"{name}.grad_input"] = x.grad
    for pname in params:
        p = getattr(module, pname)
        tensors[f"{name}.{pname}"] = p
        tensors[f"{name}.grad_{pname}"] = p.grad
    metadata[name] = line + "|" + "x".join(map(str, x.shape))


def layers():
    tensors, metadata = {}, {}
    conv = nn.Conv2d(4, 6, kernel_size=3, stride=2, padding=1, groups=2)
    layer_case(tensors, metadata, "conv_grouped", "conv out=6 kernel=3 stride=2 pad=1 groups=2", conv,
               torch.randn(2, 4, 9, 9), ("weight", "bias"))
    conv11 = nn.Conv2d(3, 5, kernel_size=11, stride=4)
    layer_case(tensors, metadata, "conv_stem", "conv out=5 kernel=11 stride=4", conv11, torch.randn(2, 3, 27, 27),
               ("weight", "bias"))
    # PyTorch's LRN divides alpha by the size (the averaged convention).
    lrn = nn.LocalResponseNorm(size=5, alpha=1e-4 * 5, beta=0.75, k=2.0)
    layer_case(tensors, metadata, "lrn", "lrn size=5 alpha=0.0005 beta=0.75 k=2 convention=averaged", lrn,
               torch.randn(2, 7, 5, 5) * 3)
    layer_case(tensors, metadata, "maxpool_overlapping", "maxpool kernel=3 stride=2", nn.MaxPool2d(3, 2),
               torch.randn(2, 3, 13, 13))
    layer_case(tensors, metadata, "adaptive_avgpool", "adaptive_avgpool size=6", nn.AdaptiveAvgPool2d(6),
               torch.randn(2, 3, 13, 13))
    bn = nn.BatchNorm2d(5, eps=1e-5, momentum=0.1)
    with torch.no_grad():
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.5, 0.5)
    layer_case(tensors, metadata, "batchnorm", "batchnorm eps=1e-05 momentum=0.1", bn, torch.randn(4, 5, 3, 3) * 2 + 1,
               ("weight", "bias"))
    tensors["batchnorm.running_mean"] = bn.running_mean
    tensors["batchnorm.running_var"] = bn.running_var
    linear = nn.Linear(12, 7)
    layer_case(tensors, metadata, "linear", "linear out=7", linear, torch.randn(3, 12), ("weight", "bias"))
    # Softmax cross-entropy, mean over the batch; one confident wrong row.
    logits = torch.randn(4, 10) * 3
    logits[2, 0] = 40.0
    labels = torch.tensor([3, 0, 7, 9])
    logits.requires_grad_(True)
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    tensors["cross_entropy.logits"] = logits
    tensors["cross_entropy.labels"] = labels.to(torch.float64)
    tensors["cross_entropy.loss"] = loss.reshape(1)
    tensors["cross_entropy.grad_logits"] = logits.grad
    metadata["cross_entropy"] = "loss|4x10"
    write(OUT / "layers.safetensors", tensors, metadata)


NETWORK = """name: narrow-paper
description: the paper's layout with fewer channels and no dropout, for PyTorch fixtures
input: 3x67x67
init: paper

conv1  conv     out=16 kernel=11 stride=4
relu1  relu
norm1  lrn      size=5 alpha=0.0001 beta=0.75 k=2 convention=paper
pool1  maxpool  kernel=3 stride=2
conv2  conv     out=32 kernel=5 pad=2 groups=2
relu2  relu
norm2  lrn      size=5 alpha=0.0001 beta=0.75 k=2 convention=paper
pool2  maxpool  kernel=3 stride=2
conv3  conv     out=48 kernel=3 pad=1
relu3  relu
conv4  conv     out=48 kernel=3 pad=1 groups=2
relu4  relu
conv5  conv     out=32 kernel=3 pad=1 groups=2
relu5  relu
pool5  maxpool  kernel=3 stride=2
flatten flatten
fc6    linear   out=64
relu6  relu
fc7    linear   out=64
relu7  relu
fc8    linear   out=10
"""


def alexnet():
    # The paper's LRN sums alpha over the window: PyTorch's alpha is that times the size.
    lrn = lambda: nn.LocalResponseNorm(5, alpha=1e-4 * 5, beta=0.75, k=2.0)
    layers = nn.ModuleDict({
        "conv1": nn.Conv2d(3, 16, 11, stride=4), "norm1": lrn(), "pool1": nn.MaxPool2d(3, 2),
        "conv2": nn.Conv2d(16, 32, 5, padding=2, groups=2), "norm2": lrn(), "pool2": nn.MaxPool2d(3, 2),
        "conv3": nn.Conv2d(32, 48, 3, padding=1), "conv4": nn.Conv2d(48, 48, 3, padding=1, groups=2),
        "conv5": nn.Conv2d(48, 32, 3, padding=1, groups=2), "pool5": nn.MaxPool2d(3, 2),
        "fc6": nn.Linear(32, 64), "fc7": nn.Linear(64, 64), "fc8": nn.Linear(64, 10),
    })

    def forward(x):
        x = layers["pool1"](layers["norm1"](F.relu(layers["conv1"](x))))
        x = layers["pool2"](layers["norm2"](F.relu(layers["conv2"](x))))
        x = F.relu(layers["conv3"](x))
        x = F.relu(layers["conv4"](x))
        x = layers["pool5"](F.relu(layers["conv5"](x)))
        x = torch.flatten(x, 1)
        x = F.relu(layers["fc6"](x))
        x = F.relu(layers["fc7"](x))
        return layers["fc8"](x)

    # PyTorch's default initialisation with the weights scaled by 2.5, so that the signal does
    # not fade through the layers (default-initialised, the logits stay near 0.1 and every
    # gradient below 1e-3); the Swift side loads these exact weights.
    params = {f"{k}.{n}": p for k, m in layers.items() for n, p in m.named_parameters()}
    with torch.no_grad():
        for name, p in params.items():
            if name.endswith("weight"):
                p *= 2.5
    x = torch.rand(4, 3, 67, 67) * 2 - 1
    labels = torch.tensor([1, 4, 4, 9])
    tensors = {name: p.detach().clone() for name, p in params.items()}
    tensors["input"] = x
    tensors["labels"] = labels.to(torch.float64)
    logits = forward(x)
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    tensors["logits"] = logits
    tensors["loss"] = loss.reshape(1)
    for name, p in params.items():
        tensors[f"grad.{name}"] = p.grad.clone()
    # Ten steps of the paper's SGD: v <- 0.9 v - 0.0005 lr w - lr g; w <- w + v.
    lr, velocity, losses = 0.02, {name: torch.zeros_like(p) for name, p in params.items()}, []
    for _ in range(10):
        for p in params.values():
            p.grad = None
        loss = F.cross_entropy(forward(x), labels)
        loss.backward()
        losses.append(loss.item())
        with torch.no_grad():
            for name, p in params.items():
                velocity[name] = 0.9 * velocity[name] - 0.0005 * lr * p - lr * p.grad
                p += velocity[name]
    tensors["losses"] = torch.tensor(losses)
    print("ten-step losses:", " ".join(f"{l:.4f}" for l in losses))
    write(OUT / "alexnet.safetensors", tensors, {"network": NETWORK})


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    layers()
    alexnet()
    sys.exit(0)
