#!/usr/bin/env python3
"""Data-parallel training speed, ours against PyTorch DDP, interleaved on this machine.

    python3 bench/distributed.py [--models paper-1gpu,torchvision,quick] [--rounds 2] [--steps 5]

For each model at global batch 128, every round runs back to back:
  ours-1x2     alexnet bench, 1 process x 2 threads
  ours-2x1     mpirun -np 2 alexnet bench --threads 1 (shared memory)
  ours-2x1-tcp scripts/mpi-two-hosts.sh: 2 processes in two network namespaces, TCP over a veth pair
  torch-1x2    bench/peers/ddp_bench.py, one process, 2 threads
  ddp-2x1      torchrun --nproc_per_node 2 ddp_bench.py --threads 1 (gloo)
and prints images/s (min-max over rounds), the all-reduce time per step and how much of it was
hidden, and the ratios the issue asks for. Needs a release build (swift build -c release), root
for the namespaces, and .venv-peers with torch (see BENCHMARKS.md). Not part of the tests.
"""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ALEXNET = os.path.join(ROOT, ".build/release/alexnet")
PYTHON = os.path.join(ROOT, ".venv-peers/bin/python3")
TORCHRUN = os.path.join(ROOT, ".venv-peers/bin/torchrun")
DDP = os.path.join(ROOT, "bench/peers/ddp_bench.py")
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")


def commands(model, steps):
    ours = ["bench", "--model", model, "--batch", "128", "--steps", str(steps), "--json"]
    peer = [DDP, "--model", model, "--batch", "128", "--steps", str(steps), "--json"]
    return {
        "ours-1x2": [ALEXNET] + ours + ["--threads", "2"],
        "ours-2x1": ["mpirun", "-np", "2", "--mca", "btl", "self,vader", ALEXNET] + ours + ["--threads", "1"],
        "ours-2x1-tcp": [os.path.join(ROOT, "scripts/mpi-two-hosts.sh"), ALEXNET] + ours,
        "torch-1x2": [PYTHON] + peer + ["--threads", "2"],
        "ddp-2x1": [TORCHRUN, "--nproc_per_node", "2"] + peer + ["--threads", "1"],
    }


def run(command):
    result = subprocess.run(command, capture_output=True, text=True, env=ENV, cwd=ROOT)
    start = result.stdout.find("{")
    if result.returncode == 0 and start >= 0:
        return json.JSONDecoder().raw_decode(result.stdout[start:])[0]
    sys.exit(f"failed: {' '.join(command)}\n{result.stdout}\n{result.stderr}")


def span(values, digits=1):
    low, high = min(values), max(values)
    return f"{low:.{digits}f}" if abs(high - low) < 10 ** -digits else f"{low:.{digits}f}-{high:.{digits}f}"


def main():
    arguments = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    arguments.add_argument("--models", default="paper-1gpu,torchvision,quick")
    arguments.add_argument("--rounds", type=int, default=2)
    arguments.add_argument("--steps", type=int, default=5)
    arguments.add_argument("--configs", help="comma-separated subset of the configurations (default: all)")
    args = arguments.parse_args()
    chosen = args.configs.split(",") if args.configs else None
    results = {}
    for round in range(args.rounds):
        for model in args.models.split(","):
            for name, command in commands(model, args.steps).items():
                if chosen and name not in chosen:
                    continue
                result = run(command)
                results.setdefault((model, name), []).append(result)
                print(f"round {round + 1} {model:12} {name:13} {result['imagesPerSecond']:7.1f} images/s", file=sys.stderr)
    print("| model | configuration | images/s | all-reduce ms/step | hidden | sent MiB/step |")
    print("|---|---|---|---|---|---|")
    for (model, name), runs in results.items():
        rates = [r["imagesPerSecond"] for r in runs]
        communication = [r["communication"] for r in runs if r.get("communication")]
        reduce = span([c["allReduceMillisecondsPerStep"] for c in communication], 0) if communication else ""
        hidden = span([100 * c["hiddenFraction"] for c in communication], 0) + "%" if communication else ""
        sent = f"{communication[0]['bytesSentPerStep'] / 2**20:.1f}" if communication else ""
        print(f"| {model} | {name} | {span(rates)} | {reduce} | {hidden} | {sent} |")
    print()
    print("| model | 2x1 shm / 1x2 (efficiency) | 2x1 tcp / 1x2 | ours 2x1 / DDP 2x1 |")
    print("|---|---|---|---|")
    for model in args.models.split(","):
        def rates(name):
            return [r["imagesPerSecond"] for r in results[(model, name)]]
        def ratio(a, b):
            if (model, a) not in results or (model, b) not in results:
                return ""
            return span([x / y for x, y in zip(rates(a), rates(b))], 2)
        print(f"| {model} | {ratio('ours-2x1', 'ours-1x2')} | {ratio('ours-2x1-tcp', 'ours-1x2')} | {ratio('ours-2x1', 'ddp-2x1')} |")


if __name__ == "__main__":
    main()
