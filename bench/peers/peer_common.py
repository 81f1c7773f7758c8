"""What the peer scripts share: the command line, the timed loop, and the JSON they print
(the same keys as `alexnet bench --json`)."""
import argparse
import json
import resource
import statistics
import time

# Multiply-accumulates per image, from `alexnet models`.
MACS = {"paper": 724_406_816, "paper-1gpu": 1_135_256_096, "torchvision": 714_188_480,
        "d2l-fashion": 938_146_176, "cifar10": 117_909_632}


def parser(description):
    result = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    result.add_argument("--model", choices=list(MACS), required=True)
    result.add_argument("--mode", choices=["train", "infer", "latency"], default="train")
    result.add_argument("--batch", type=int)
    result.add_argument("--threads", type=int, default=2)
    result.add_argument("--steps", type=int, default=10)
    result.add_argument("--warmup", type=int, default=2)
    result.add_argument("--json", action="store_true")
    return result


def batch_size(args):
    return args.batch or {"train": 128, "infer": 64, "latency": 1}[args.mode]


def measure_and_report(args, framework, batch, step, macs=None, extra=None, report=True):
    """Runs `step` warm-up then timed times and prints the figures (when `report`: one process
    of a distributed job prints for all). `macs` per image defaults to the model's in MACS;
    `extra` adds keys."""
    for _ in range(args.warmup):
        step()
    seconds = []
    for _ in range(args.steps):
        start = time.perf_counter()
        step()
        seconds.append(time.perf_counter() - start)
    median = statistics.median(seconds)
    flops = (6 if args.mode == "train" else 2) * (macs or MACS[args.model]) * batch
    result = {
        "framework": framework, "model": args.model, "mode": args.mode, "batch": batch,
        "threads": args.threads, "steps": args.steps,
        "imagesPerSecond": batch / median, "millisecondsMedian": 1000 * median,
        "millisecondsMin": 1000 * min(seconds), "millisecondsMax": 1000 * max(seconds),
        "gflops": flops / median / 1e9,
        "peakResidentBytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        **(extra or {}),
    }
    if not report:
        return
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:20} {value}")
