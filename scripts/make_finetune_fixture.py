#!/usr/bin/env python3
"""Seeded weights with torchvision's AlexNet names, exported from PyTorch, for fine-tuning.

torchvision's ImageNet weights cannot be downloaded on a machine without internet; these have
the same names (features.0.weight ... classifier.6.bias) and, with --full, the same shapes, so
that `alexnet train --from` can be checked on them.

    .venv-peers/bin/python scripts/make_finetune_fixture.py
        writes Tests/Fixtures/pytorch/tiny-torchvision.safetensors (committed, ~320 KB; its network
        file for our tool is tiny-torchvision.net beside it): a narrow
        network with exactly torchvision's module structure (widths 8/16/24/16/16, 64 hidden
        units, 10 classes, 3x63x63 input), its state dict under torchvision's names, and in
        `check.*` two input images and the logits PyTorch computes for them in eval mode.
    .venv-peers/bin/python scripts/make_finetune_fixture.py --full PATH
        writes torchvision.models.alexnet() (61,100,840 parameters, seeded) to PATH as a plain
        state dict: the file `alexnet train --from` takes in place of the real weights.

With the real weights (on a machine with internet), the conversion is the same two lines:

    sd = torchvision.models.alexnet(weights="IMAGENET1K_V1").state_dict()
    safetensors.torch.save_file(sd, "alexnet-imagenet.safetensors")
"""
import sys
from pathlib import Path

import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_fixtures import write  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "Tests" / "Fixtures" / "pytorch" / "tiny-torchvision.safetensors"


class TinyTorchvisionAlexNet(nn.Module):
    """torchvision.models.AlexNet's modules and indices, narrower."""

    def __init__(self, classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, kernel_size=11, stride=4, padding=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(8, 16, kernel_size=5, padding=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(16, 24, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(24, 16, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(16, 16, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(p=0.5), nn.Linear(16 * 6 * 6, 64), nn.ReLU(inplace=True),
            nn.Dropout(p=0.5), nn.Linear(64, 64), nn.ReLU(inplace=True),
            nn.Linear(64, classes),
        )

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def main():
    torch.manual_seed(2014)
    if len(sys.argv) == 3 and sys.argv[1] == "--full":
        import torchvision
        model = torchvision.models.alexnet(weights=None)
        tensors = dict(model.state_dict())
        write(Path(sys.argv[2]), tensors, {"seed": "2014", "source": "torchvision.models.alexnet(weights=None)"})
        return
    model = TinyTorchvisionAlexNet().eval()
    tensors = dict(model.state_dict())
    images = torch.rand(2, 3, 63, 63)
    with torch.no_grad():
        tensors["check.input"] = images
        tensors["check.logits"] = model(images)
    write(OUT, tensors, {"seed": "2014", "input": "3x63x63"})


if __name__ == "__main__":
    main()
