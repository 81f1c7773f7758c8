#!/usr/bin/env python3
"""Nearest-neighbour search speed: `alexnet neighbors` against FAISS (PyPI faiss-cpu) on the same
feature index, same machine, same queries, taking turns so that the machine's drift hits both.

    alexnet features --checkpoint runs/quick/best.safetensors --split train --codes 256 --out train.st
    alexnet features --checkpoint runs/quick/best.safetensors --split test --out test.st
    .venv-peers/bin/python bench/neighbors_bench.py --index train.st --queries test.st [--count 100 --k 10 --rounds 5]

Exact search: faiss.IndexFlatL2 (BLAS sgemm for a batch of queries, then a heap per query) against
ours (oneDNN sgemm, then a heap per query). Binary: faiss.IndexBinaryFlat over the index's own
codes, with the queries' codes precomputed by us (FAISS is spared encoding them; we are not)
against `--codes`. Each round times one search of `--count` queries; both sides run on every core.
Our figures are the search alone as `alexnet neighbors --evaluate` reports it (loading the index,
and its row norms, computed once, are outside).
"""
import argparse, json, statistics, subprocess, time

import faiss
import numpy as np
from safetensors.numpy import load_file
from safetensors import safe_open

parser = argparse.ArgumentParser()
parser.add_argument("--alexnet", default=".build/release/alexnet")
parser.add_argument("--index", required=True)
parser.add_argument("--queries", required=True)
parser.add_argument("--count", type=int, default=100)
parser.add_argument("--k", type=int, default=10)
parser.add_argument("--rounds", type=int, default=5)
args = parser.parse_args()

index = load_file(args.index)
queries = load_file(args.queries)["features"][: args.count]
features = index["features"]
print(f"index {features.shape[0]} x {features.shape[1]}, {len(queries)} queries, k {args.k}, faiss {faiss.__version__}, "
      f"{faiss.omp_get_max_threads()} threads")

flat = faiss.IndexFlatL2(features.shape[1])
flat.add(features)
binary = None
if "codes" in index:
    codes = index["codes"]
    binary = faiss.IndexBinaryFlat(codes.shape[1] * 8)
    binary.add(codes)
    # The queries' codes, as ours: sign((x - mean) projection), bit b in byte b / 8 at b % 8.
    scores = (queries - index["codes.mean"]) @ index["codes.projection"]
    query_codes = np.packbits(scores > 0, axis=1, bitorder="little")


def faiss_round():
    start = time.perf_counter()
    flat.search(queries, args.k)
    exact = time.perf_counter() - start
    hamming = None
    if binary is not None:
        start = time.perf_counter()
        binary.search(query_codes, args.k)
        hamming = time.perf_counter() - start
    return exact, hamming


def ours_round():
    out = subprocess.run([args.alexnet, "neighbors", "--index", args.index, "--evaluate", args.queries, "--limit", str(args.count),
                          "--depth", str(args.k), "--json"], check=True, capture_output=True, text=True).stdout
    reports = {r["method"]: r for r in json.loads(out)}
    exact = reports["exact euclidean"]["seconds"]
    hamming = next((r["seconds"] for m, r in reports.items() if m.endswith("-bit codes")), None)
    return exact, hamming


results = {"faiss": [], "ours": []}
for _ in range(args.rounds):
    results["ours"].append(ours_round())
    results["faiss"].append(faiss_round())

print(f"{'':8} {'exact q/s (min-max, median)':>34} {'binary q/s (min-max, median)':>34}")
for name, rounds in results.items():
    line = f"{name:8}"
    for column in (0, 1):
        times = [r[column] for r in rounds if r[column] is not None]
        if not times:
            line += f" {'-':>34}"
            continue
        rates = [args.count / t for t in times]
        line += f" {min(rates):10.0f}-{max(rates):<10.0f} {statistics.median(rates):10.0f}"
    print(line)
for column, label in ((0, "exact"), (1, "binary")):
    pairs = [(o[column], f[column]) for o, f in zip(results["ours"], results["faiss"]) if o[column] and f[column]]
    if pairs:
        ratios = sorted(f / o for o, f in pairs)
        print(f"{label}: ours / faiss queries per second, round by round: {ratios[0]:.2f}-{ratios[-1]:.2f}x "
              f"(median {statistics.median(ratios):.2f}x)")
