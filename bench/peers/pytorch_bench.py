#!/usr/bin/env python3
"""The same AlexNet presets and steps as `alexnet bench`, in PyTorch, printing the same JSON keys.

    python bench/peers/pytorch_bench.py --model paper-1gpu --mode train --batch 128 --threads 2 --json

Models mirror Sources/AlexNetNetwork/Zoo.swift layer for layer. LRN uses PyTorch's alpha/size
convention, so the paper's alpha 1e-4 is passed as 5e-4. Not part of the tests.

--int8 (inference only) times PyTorch's own x86 int8: FX graph mode post-training static
quantization with the "x86" backend's default qconfig (per-channel s8 weights, u8 activations,
histogram observers), calibrated on four random batches, batch norm fused, channels-last input
as the x86 (fbgemm/oneDNN) kernels prefer; LRN, which has no quantized kernel, stays in float.
"""

from peer_common import MACS, batch_size, measure_and_report, parser

import torch
import torch.nn as nn


def paper(groups, classes=1000):
    lrn = lambda: nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)
    return nn.Sequential(
        nn.Conv2d(3, 96, 11, stride=4), nn.ReLU(), lrn(), nn.MaxPool2d(3, 2),
        nn.Conv2d(96, 256, 5, padding=2, groups=groups), nn.ReLU(), lrn(), nn.MaxPool2d(3, 2),
        nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 384, 3, padding=1, groups=groups), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1, groups=groups), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Flatten(),
        nn.Linear(9216, 4096), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(4096, classes)), (3, 227, 227)


def torchvision_alexnet(classes=1000):
    return nn.Sequential(
        nn.Conv2d(3, 64, 11, stride=4, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.AdaptiveAvgPool2d(6), nn.Flatten(),
        nn.Dropout(0.5), nn.Linear(9216, 4096), nn.ReLU(),
        nn.Dropout(0.5), nn.Linear(4096, 4096), nn.ReLU(),
        nn.Linear(4096, classes)), (3, 224, 224)


def d2l_fashion(classes=10):
    return nn.Sequential(
        nn.Conv2d(1, 96, 11, stride=4, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(96, 256, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Flatten(),
        nn.Linear(6400, 4096), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(4096, classes)), (1, 224, 224)


def cifar10(classes=10):
    bn = lambda c: nn.BatchNorm2d(c, eps=1e-3, momentum=0.01)
    return nn.Sequential(
        nn.Conv2d(3, 96, 3), bn(96), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(96, 256, 3), bn(256), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Flatten(),
        nn.Linear(1024, 2048), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(2048, 2048), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(2048, classes)), (3, 32, 32)


MODELS = {
    "paper": lambda: paper(2), "paper-1gpu": lambda: paper(1), "torchvision": torchvision_alexnet,
    "d2l-fashion": d2l_fashion, "cifar10": cifar10,
}
assert set(MODELS) == set(MACS)


def main():
    arguments = parser(__doc__)
    arguments.add_argument("--channels-last", action="store_true", help="NHWC memory format")
    arguments.add_argument("--int8", action="store_true", help="PyTorch's x86 int8 (FX post-training static quantization)")
    arguments.add_argument("--freeze-features", action="store_true",
                           help="train with the convolutions frozen (requires_grad False), as `alexnet bench --freeze 'features.*'`")
    args = arguments.parse_args()
    batch = batch_size(args)
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    model, shape = MODELS[args.model]()
    x = torch.rand(batch, *shape)
    classes = model[-1].out_features
    labels = torch.arange(batch) % classes
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    if args.freeze_features:
        for module in model:
            if isinstance(module, nn.Conv2d):
                module.requires_grad_(False)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(trainable, lr=1e-4, momentum=0.9, weight_decay=5e-4)
    loss_fn = nn.CrossEntropyLoss()

    if args.int8:
        if args.mode == "train":
            arguments.error("--int8 times inference only")
        from torch.ao.quantization import get_default_qconfig_mapping
        from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx
        torch.backends.quantized.engine = "x86"
        model.eval()
        x = x.contiguous(memory_format=torch.channels_last)
        prepared = prepare_fx(model, get_default_qconfig_mapping("x86"), example_inputs=(x,))
        with torch.inference_mode():
            for _ in range(4):
                prepared(torch.rand_like(x).contiguous(memory_format=torch.channels_last))
        model = convert_fx(prepared)

    if args.mode == "train":
        model.train()

        def step():
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), labels)
            loss.backward()
            optimizer.step()
    else:
        model.eval()

        def step():
            with torch.inference_mode():
                model(x)

    framework = "pytorch " + torch.__version__ + (" channels-last" if args.channels_last else "") + (" x86 int8" if args.int8 else "") + (
        " features frozen" if args.freeze_features else "")
    measure_and_report(args, framework, batch, step)


if __name__ == "__main__":
    main()
