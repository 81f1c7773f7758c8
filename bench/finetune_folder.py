#!/usr/bin/env python3
"""An RGB image folder (DIR/train/CLASS/*.png, DIR/val/CLASS/*.png) from Fashion-MNIST.

No photo dataset can be downloaded here, so the fine-tuning measurement (BENCHMARKS.md) makes
its folders from Debian's dataset-fashion-mnist: each 28x28 gray image written as a 3-channel
PNG (the loader upscales it to the network's 224x224). Classes are chosen by number, so that
one folder (say classes 0-4) can stand in for the pre-training data and another (5-9) for the
task fine-tuned on.

    python3 bench/finetune_folder.py --out /tmp/ft-target --classes 5,6,7,8,9 --train 100 --val 200

takes the first --train images of each class from the training set and the first --val from
the test set.
"""
import argparse
import gzip
import os

from fashion_png import png

ROOT = "/usr/share/datasets/fashion-mnist"
NAMES = ["T-shirt-top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle-boot"]


def split(prefix):
    images = gzip.open(f"{ROOT}/{prefix}-images-idx3-ubyte.gz").read()[16:]
    labels = gzip.open(f"{ROOT}/{prefix}-labels-idx1-ubyte.gz").read()[8:]
    return images, labels


def write(out, part, prefix, classes, per_class):
    images, labels = split(prefix)
    counts = {c: 0 for c in classes}
    for k, label in enumerate(labels):
        if label not in counts or counts[label] >= per_class:
            continue
        gray = images[784 * k:784 * (k + 1)]
        rgb = bytes(v for v in gray for _ in range(3))
        folder = f"{out}/{part}/{label}-{NAMES[label]}"
        os.makedirs(folder, exist_ok=True)
        with open(f"{folder}/{k:05d}.png", "wb") as f:
            f.write(png(rgb, 28, 28, channels=3))
        counts[label] += 1
    return sum(counts.values())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--classes", default="5,6,7,8,9")
    parser.add_argument("--train", type=int, default=100, help="training images per class")
    parser.add_argument("--val", type=int, default=200, help="validation images per class")
    args = parser.parse_args()
    classes = [int(c) for c in args.classes.split(",")]
    train = write(args.out, "train", "train", classes, args.train)
    val = write(args.out, "val", "t10k", classes, args.val)
    print(f"wrote {train} training and {val} validation images of classes {classes} to {args.out}")


if __name__ == "__main__":
    main()
