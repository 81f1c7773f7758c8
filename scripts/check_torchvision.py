#!/usr/bin/env python3
"""Full-size check: torchvision's AlexNet with random weights, in PyTorch, against ours.

    .venv-peers/bin/python scripts/check_torchvision.py /tmp/torchvision-check
    ALEXNET_TORCHVISION_CHECK=/tmp/torchvision-check swift test --filter torchvisionLogits

Writes weights.safetensors (torchvision's state-dict names, float32, 244 MB) and
io.safetensors (a batch of two inputs and PyTorch's logits for them). The architecture below
is torchvision's `models.alexnet` written out, so torchvision itself is not needed; with
torchvision installed, `torchvision.models.alexnet().state_dict()` has the same names and shapes.
"""
import sys
from pathlib import Path

import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_fixtures import write  # noqa: E402

out = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/torchvision-check")
out.mkdir(parents=True, exist_ok=True)
torch.manual_seed(56)
model = nn.Sequential()
model.features = nn.Sequential(
    nn.Conv2d(3, 64, 11, 4, 2), nn.ReLU(True), nn.MaxPool2d(3, 2),
    nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(True), nn.MaxPool2d(3, 2),
    nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(True),
    nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(True),
    nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(True), nn.MaxPool2d(3, 2))
model.avgpool = nn.AdaptiveAvgPool2d((6, 6))
model.classifier = nn.Sequential(
    nn.Dropout(0.5), nn.Linear(9216, 4096), nn.ReLU(True), nn.Dropout(0.5), nn.Linear(4096, 4096), nn.ReLU(True),
    nn.Linear(4096, 1000))
model.eval()
# Default-initialised, the logits stay near 0.03; doubling every weight (8 layers, so x256 at
# the end) makes every layer's contribution visible in the comparison.
with torch.no_grad():
    for name, p in model.named_parameters():
        if name.endswith("weight"):
            p *= 2
x = torch.randn(2, 3, 224, 224, dtype=torch.float32)
with torch.no_grad():
    h = model.avgpool(model.features(x))
    logits = model.classifier(torch.flatten(h, 1))
write(out / "weights.safetensors", dict(model.state_dict()), {"format": "pt"})
write(out / "io.safetensors", {"input": x, "logits": logits}, {})
