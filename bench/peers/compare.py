#!/usr/bin/env python3
"""Runs `alexnet bench`, PyTorch and Keras on the same work back to back and prints the ratios.

    .venv-peers/bin/python bench/peers/compare.py                       # the issue's table
    .venv-peers/bin/python bench/peers/compare.py --only cifar10:train:128 --passes 3
    .venv-peers/bin/python bench/peers/compare.py --int8 --only paper-1gpu:infer:64 torchvision:latency:1

Each configuration runs ours, then PyTorch (NCHW and channels-last), then Keras, `--passes`
times, interleaved, so machine drift hits all alike; the table shows medians. The ratio is ours
over the better peer: images/s for training and inference (higher is better), milliseconds for
batch-1 latency (lower is better). Build ours first: swift build -c release.

--int8 adds, for inference configurations, ours in int8 (`--precision int8`) and ONNX Runtime
in float32 and in its own static int8 (ort_bench.py; pip install onnxruntime onnx) and PyTorch's
x86 int8 (pytorch_bench.py --int8), and takes
the ratio of ours in int8 over the best peer in any precision.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OURS = os.path.join(ROOT, ".build", "release", "alexnet")
HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT = ["paper-1gpu:train:128", "d2l-fashion:train:128", "cifar10:train:128", "torchvision:train:128",
           "paper-1gpu:infer:64", "torchvision:infer:64", "paper-1gpu:latency:1", "torchvision:latency:1"]


def run(command):
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": (done.stderr or done.stdout).strip().splitlines()[-1:]}
    try:
        return json.loads(done.stdout)
    except json.JSONDecodeError:  # log lines before the JSON
        return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", default=DEFAULT, help="model:mode:batch ...")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--json", help="also write every measurement to this file")
    parser.add_argument("--int8", action="store_true", help="inference: add ours in int8 and ONNX Runtime (float32, int8)")
    args = parser.parse_args()
    python = sys.executable
    rows, everything = [], []
    for config in args.only:
        model, mode, batch = config.split(":")
        common = ["--model", model, "--mode", mode, "--batch", batch, "--threads", str(args.threads),
                  "--steps", str(args.steps), "--json"]
        runners = {
            "ours": [OURS, "bench"] + common,
            "pytorch": [python, os.path.join(HERE, "pytorch_bench.py")] + common,
            "pytorch-cl": [python, os.path.join(HERE, "pytorch_bench.py"), "--channels-last"] + common,
            "keras": [python, os.path.join(HERE, "keras_bench.py")] + common,
        }
        if args.int8 and mode != "train":
            runners["ours-int8"] = [OURS, "bench", "--precision", "int8"] + common
            runners["ort"] = [python, os.path.join(HERE, "ort_bench.py")] + common
            runners["ort-int8"] = [python, os.path.join(HERE, "ort_bench.py"), "--int8"] + common
            runners["pytorch-int8"] = [python, os.path.join(HERE, "pytorch_bench.py"), "--int8"] + common
        results = {name: [] for name in runners}
        for _ in range(args.passes):
            for name, command in runners.items():
                result = run(command)
                results[name].append(result)
                everything.append(result)
                print(f"  {config:24} {name:10} " + (f"{result['imagesPerSecond']:8.1f} img/s {result['millisecondsMedian']:9.1f} ms"
                      f" {result['peakResidentBytes'] / 2**30:5.2f} GiB" if "error" not in result else f"failed: {result['error']}"),
                      file=sys.stderr, flush=True)
        median = {}
        for name, values in results.items():
            ok = [v for v in values if "error" not in v]
            if ok:
                median[name] = {key: statistics.median(v[key] for v in ok)
                                for key in ("imagesPerSecond", "millisecondsMedian", "peakResidentBytes")}
        peers = [n for n in median if not n.startswith("ours")]
        ours = "ours-int8" if "ours-int8" in median else "ours"
        if ours not in median or not peers:
            rows.append((config, median, None, None))
            continue
        if mode == "latency":
            best = min(peers, key=lambda n: median[n]["millisecondsMedian"])
            ratio = median[ours]["millisecondsMedian"] / median[best]["millisecondsMedian"]
        else:
            best = max(peers, key=lambda n: median[n]["imagesPerSecond"])
            ratio = median[ours]["imagesPerSecond"] / median[best]["imagesPerSecond"]
        rows.append((config, median, best, ratio))

    if args.json:
        with open(args.json, "w") as file:
            json.dump(everything, file, indent=1)
    unit = lambda mode: "ms" if mode == "latency" else "img/s"
    if args.int8:
        print("| configuration | ours float32 | ours int8 | PyTorch | PyTorch channels-last | Keras NHWC | ORT float32 | ORT int8 | PyTorch x86 int8 | ratio ours int8 vs best peer |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for config, median, best, ratio in rows:
            mode = config.split(":")[1]
            key = "millisecondsMedian" if mode == "latency" else "imagesPerSecond"
            cell = lambda n: f"{median[n][key]:.1f}" if n in median else "-"
            ratio_text = f"{ratio:.2f}x ({'time' if mode == 'latency' else 'speed'} vs {best})" if ratio else ""
            print(f"| {config} ({unit(mode)}) | " + " | ".join(cell(n) for n in ("ours", "ours-int8", "pytorch", "pytorch-cl", "keras", "ort", "ort-int8", "pytorch-int8"))
                  + f" | {ratio_text} |")
        return
    print(f"| configuration | ours | PyTorch | PyTorch channels-last | Keras NHWC | ratio vs better peer | peak memory ours / PyTorch |")
    print("|---|---|---|---|---|---|---|")
    for config, median, best, ratio in rows:
        mode = config.split(":")[1]
        key = "millisecondsMedian" if mode == "latency" else "imagesPerSecond"
        cell = lambda n: f"{median[n][key]:.1f}" if n in median else "failed"
        memory = (f"{median['ours']['peakResidentBytes'] / 2**30:.2f} / {median['pytorch']['peakResidentBytes'] / 2**30:.2f} GiB"
                  if "ours" in median and "pytorch" in median else "")
        ratio_text = f"{ratio:.2f}x ({'time' if mode == 'latency' else 'speed'} vs {best})" if ratio else ""
        print(f"| {config} ({unit(mode)}) | {cell('ours')} | {cell('pytorch')} | {cell('pytorch-cl')} | {cell('keras')} | {ratio_text} | {memory} |")


if __name__ == "__main__":
    main()
