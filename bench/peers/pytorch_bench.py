#!/usr/bin/env python3
"""The same AlexNet presets and steps as `alexnet bench`, in PyTorch, printing the same JSON keys.

    python bench/peers/pytorch_bench.py --model paper-1gpu --mode train --batch 128 --threads 2 --json

Models mirror Sources/AlexNetNetwork/Zoo.swift layer for layer. LRN uses PyTorch's alpha/size
convention, so the paper's alpha 1e-4 is passed as 5e-4. Not part of the tests.
"""
import argparse
import json
import resource
import statistics
import time

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
MACS = {"paper": 724_406_816, "paper-1gpu": 1_135_256_096, "torchvision": 714_188_480,
        "d2l-fashion": 938_146_176, "cifar10": 117_909_632}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=MODELS, required=True)
    parser.add_argument("--mode", choices=["train", "infer", "latency"], default="train")
    parser.add_argument("--batch", type=int)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--channels-last", action="store_true", help="NHWC memory format")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    batch = args.batch or {"train": 128, "infer": 64, "latency": 1}[args.mode]
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    model, shape = MODELS[args.model]()
    x = torch.rand(batch, *shape)
    classes = model[-1].out_features
    labels = torch.arange(batch) % classes
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9, weight_decay=5e-4)
    loss_fn = nn.CrossEntropyLoss()

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

    for _ in range(args.warmup):
        step()
    seconds = []
    for _ in range(args.steps):
        start = time.perf_counter()
        step()
        seconds.append(time.perf_counter() - start)
    median = statistics.median(seconds)
    flops = (6 if args.mode == "train" else 2) * MACS[args.model] * batch
    result = {
        "framework": "pytorch " + torch.__version__ + (" channels-last" if args.channels_last else ""),
        "model": args.model, "mode": args.mode, "batch": batch, "threads": args.threads, "steps": args.steps,
        "imagesPerSecond": batch / median, "millisecondsMedian": 1000 * median,
        "millisecondsMin": 1000 * min(seconds), "millisecondsMax": 1000 * max(seconds),
        "gflops": flops / median / 1e9,
        "peakResidentBytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:20} {value}")


if __name__ == "__main__":
    main()
