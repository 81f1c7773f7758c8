#!/usr/bin/env python3
"""Reads a folder of events files with TensorBoard's own loader (EventAccumulator) and prints,
as JSON, every scalar tag with its (step, value) pairs and every image tag with its count and
the first image's size. The opt-in TensorBoard test runs it on a run of ours:

    .venv-peers/bin/pip install tensorboard
    ALEXNET_TENSORBOARD_PYTHON=.venv-peers/bin/python swift test --filter TensorBoard
"""
import json
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def main():
    accumulator = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0, "images": 0})
    accumulator.Reload()
    tags = accumulator.Tags()
    result = {
        "scalars": {tag: [[e.step, e.value] for e in accumulator.Scalars(tag)] for tag in tags["scalars"]},
        "images": {tag: {"count": len(accumulator.Images(tag)), "width": accumulator.Images(tag)[0].width,
                         "height": accumulator.Images(tag)[0].height} for tag in tags["images"]},
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
