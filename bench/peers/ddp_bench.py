#!/usr/bin/env python3
"""PyTorch DistributedDataParallel (gloo) peer of `mpirun -np N alexnet bench --mode train`.

    torchrun --nproc_per_node 2 bench/peers/ddp_bench.py --model paper-1gpu --batch 128 --threads 1 --json

--batch is the global batch, split evenly among the processes as `alexnet` splits it; DDP
all-reduces gradients in 25 MB buckets (its default) overlapped with backward. Rank 0 prints the
same keys as `alexnet bench --json`, images/s counting every process. Run alone (python3 ...)
it is one process without DDP. Not part of the tests.
"""
import os

import torch
import torch.distributed as dist
import torch.nn as nn

from peer_common import MACS, measure_and_report, parser
from pytorch_bench import MODELS


def quick(classes=10):
    """Zoo.quick: a half-width d2l AlexNet for 1x46x46 inputs."""
    pool = lambda: nn.MaxPool2d(3, 2)
    return nn.Sequential(
        nn.Conv2d(1, 48, 5, stride=2, padding=2), nn.ReLU(), pool(),
        nn.Conv2d(48, 128, 5, padding=2), nn.ReLU(), pool(),
        nn.Conv2d(128, 192, 3, padding=1), nn.ReLU(),
        nn.Conv2d(192, 192, 3, padding=1), nn.ReLU(),
        nn.Conv2d(192, 128, 3, padding=1), nn.ReLU(), pool(),
        nn.Flatten(),
        nn.Linear(512, 2048), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(2048, 2048), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(2048, classes)), (1, 46, 46)


def main():
    models = dict(MODELS, quick=quick)
    macs = dict(MACS, quick=43_837_360)
    arguments = parser(__doc__)
    arguments._option_string_actions["--model"].choices = list(models)
    arguments.add_argument("--bucket-mb", type=float, default=25)
    args = arguments.parse_args()
    distributed = "WORLD_SIZE" in os.environ
    if distributed:
        dist.init_process_group("gloo")
    rank, world = (dist.get_rank(), dist.get_world_size()) if distributed else (0, 1)
    batch = args.batch or 128
    assert batch % world == 0, f"--batch {batch} does not divide among {world} processes"
    local = batch // world
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    model, shape = models[args.model]()
    classes = model[-1].out_features
    if distributed:
        model = nn.parallel.DistributedDataParallel(model, bucket_cap_mb=args.bucket_mb)
    torch.manual_seed(1 + rank)
    x = torch.rand(local, *shape)
    labels = torch.arange(local) % classes
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9, weight_decay=5e-4)
    loss_fn = nn.CrossEntropyLoss()
    model.train()

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(x), labels).backward()
        optimizer.step()

    framework = f"pytorch {torch.__version__} " + (f"DDP gloo x {world}" if distributed else "1 process")
    measure_and_report(args, framework, batch, step, macs=macs[args.model], extra={"processes": world}, report=rank == 0)
    if distributed:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
