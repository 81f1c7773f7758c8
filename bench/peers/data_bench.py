#!/usr/bin/env python3
"""The loader benchmarks of issue 4 in torchvision, for comparison with `alexnet data bench`.

    .venv-peers/bin/pip install torchvision pillow
    .venv-peers/bin/python bench/peers/data_bench.py make-jpegs /tmp/jpegs --count 4096   # once: JPEGs of 500x375
    .venv-peers/bin/python bench/peers/data_bench.py fashion --workers 2
    .venv-peers/bin/python bench/peers/data_bench.py folder /tmp/jpegs --workers 2

`fashion` is d2l's pipeline (torchvision FashionMNIST, Resize(224), ToTensor) on Debian's
files; `folder` is ImageFolder with Resize(256), RandomCrop(224), RandomHorizontalFlip,
ToTensor (PIL decoding). Both time 20 batches of 128 after the first, like ours.
"""
import argparse
import gzip
import os
import shutil
import time

import torch
import torchvision
import torchvision.transforms as T

DEBIAN = "/usr/share/datasets/fashion-mnist"


def time_loader(dataset, batch, workers, batches):
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch, shuffle=True, num_workers=workers, drop_last=True)
    iterator = iter(loader)
    next(iterator)
    start, images = time.perf_counter(), 0
    for _ in range(batches):
        x, _ = next(iterator)
        images += x.shape[0]
    seconds = time.perf_counter() - start
    return images, seconds


def fashion_root():
    root = "/tmp/torchvision-fashion"
    raw = os.path.join(root, "FashionMNIST", "raw")
    os.makedirs(raw, exist_ok=True)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        target = os.path.join(raw, name)
        if not os.path.exists(target):
            with gzip.open(os.path.join(DEBIAN, name + ".gz")) as f, open(target, "wb") as out:
                shutil.copyfileobj(f, out)
    return root


def make_jpegs(directory, count=1024, classes=4):
    from PIL import Image
    torch.manual_seed(0)
    for k in range(count):
        folder = os.path.join(directory, "train", f"class{k % classes}")
        os.makedirs(folder, exist_ok=True)
        # Smooth random content (upsampled noise), like a photo's spectrum more than white noise.
        small = (torch.rand(3, 24, 32) * 255).to(torch.uint8)
        picture = T.functional.resize(small, [375, 500], antialias=True).permute(1, 2, 0).numpy()
        Image.fromarray(picture).save(os.path.join(folder, f"{k:05d}.jpg"), quality=90)
    print(f"wrote {count} JPEGs of 500x375 under {directory}/train")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["fashion", "folder", "make-jpegs"])
    parser.add_argument("path", nargs="?")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--count", type=int, default=1024, help="make-jpegs: how many")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.what == "make-jpegs":
        return make_jpegs(args.path or "/tmp/jpegs", count=args.count)
    if args.what == "fashion":
        dataset = torchvision.datasets.FashionMNIST(fashion_root(), train=True, transform=T.Compose([T.Resize(224), T.ToTensor()]))
    else:
        dataset = torchvision.datasets.ImageFolder(
            os.path.join(args.path, "train"),
            transform=T.Compose([T.Resize(256), T.RandomCrop(224), T.RandomHorizontalFlip(), T.ToTensor()]))
    images, seconds = time_loader(dataset, args.batch, args.workers, args.batches)
    print(f"torchvision {args.what}: {images} images in {seconds:.2f} s: {images / seconds:.0f} images/s with {args.workers} workers")


if __name__ == "__main__":
    main()
