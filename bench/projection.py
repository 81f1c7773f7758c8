#!/usr/bin/env python3
"""Projects data-parallel AlexNet training to 8-64 workers from a measured step time.

    python3 bench/projection.py --cpu-images-per-second 21 --gpu-images-per-second 3000

Each worker keeps a batch of --local-batch images per step (weak scaling, as a cluster is used)
and all-reduces paper-1gpu's 62,378,344 float32 gradients (249.5 MB) with a ring:
    time = 2 (N - 1) / N x bytes / bandwidth + 2 (N - 1) x latency.
Without overlap the step is compute + all-reduce; with overlap, the all-reduce hides behind the
backward pass of the convolutions, which is --hideable of the compute time (the fully connected
layers, 96% of the bytes, finish their backward first; the convolutions take most of the
time), and only what does not fit shows. Prints the scaling efficiency (one worker's step time
over the cluster's) for each network. Not part of the tests.
"""
import argparse

NETWORKS = {  # bandwidth in bytes/s, latency in s (typical: TCP over Ethernet, RDMA over InfiniBand)
    "10 GbE": (1.25e9, 30e-6),
    "25 GbE": (3.125e9, 25e-6),
    "100 GbE": (12.5e9, 15e-6),
    "InfiniBand HDR (200 Gb/s)": (25e9, 2e-6),
}
GRADIENT_BYTES = 62_378_344 * 4


def main():
    arguments = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    arguments.add_argument("--cpu-images-per-second", type=float, required=True, help="one CPU node, measured")
    arguments.add_argument("--gpu-images-per-second", type=float, default=3000)
    arguments.add_argument("--local-batch", type=int, default=128)
    arguments.add_argument("--hideable", type=float, default=0.5,
                           help="share of a step's compute that runs after the FC gradients are ready")
    args = arguments.parse_args()
    workers = [8, 16, 32, 64]
    print("| worker | network | all-reduce per step | " + " | ".join(f"{n} workers" for n in workers) + " |")
    print("|---|---|---|" + "---|" * len(workers))
    for name, rate in [("CPU node", args.cpu_images_per_second), ("GPU", args.gpu_images_per_second)]:
        compute = args.local_batch / rate
        for network, (bandwidth, latency) in NETWORKS.items():
            cells = []
            for n in workers:
                reduce = 2 * (n - 1) / n * GRADIENT_BYTES / bandwidth + 2 * (n - 1) * latency
                plain = compute / (compute + reduce)
                overlapped = compute / (compute + max(0.0, reduce - args.hideable * compute))
                cells.append(f"{100 * plain:.0f}% / {100 * overlapped:.0f}%")
            reduce64 = 2 * 63 / 64 * GRADIENT_BYTES / bandwidth + 2 * 63 * latency
            print(f"| {name} ({compute * 1000:.0f} ms/step) | {network} | {reduce64 * 1000:.0f} ms | " + " | ".join(cells) + " |")
    print()
    print("Cells: scaling efficiency without overlap / with the all-reduce hidden behind the convolutions' backward.")


if __name__ == "__main__":
    main()
