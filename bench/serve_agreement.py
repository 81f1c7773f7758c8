#!/usr/bin/env python3
"""Every Fashion-MNIST test image through `alexnet serve` (TorchServe's route, 8 concurrent
clients so that answers come from batches) against `alexnet predict` on the same PNG files: the
same classes in the same order, probabilities equal to 1e-6.

    python3 bench/serve_agreement.py --alexnet .build/release/alexnet --checkpoint runs/quick/best.safetensors
"""
import argparse, http.client, json, os, re, signal, subprocess, sys, tempfile
from concurrent.futures import ThreadPoolExecutor

from fashion_png import png, test_images

parser = argparse.ArgumentParser()
parser.add_argument("--alexnet", default=".build/release/alexnet")
parser.add_argument("--checkpoint", required=True)
parser.add_argument("--images", type=int, default=10000)
parser.add_argument("--top", type=int, default=10)
args = parser.parse_args()

work = tempfile.mkdtemp(prefix="alexnet-agreement-")


files = []
for k, image in enumerate(test_images(args.images)):
    files.append(os.path.join(work, f"{k:05d}.png"))
    with open(files[-1], "wb") as f:
        f.write(png(image, 28, 28))
predicted = {p["image"]: p["classes"] for p in json.loads(subprocess.check_output(
    [args.alexnet, "predict", "--checkpoint", args.checkpoint, "--json", "--top", str(args.top), work]))}

server = subprocess.Popen([args.alexnet, "serve", "--checkpoint", args.checkpoint, "--port", "0"], stdout=subprocess.PIPE, text=True)
match = re.search(r"'([^']+)'.* at http://127\.0\.0\.1:(\d+)/", server.stdout.readline())
name, port = match.group(1), int(match.group(2))


def ask(paths):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    answers = {}
    for path in paths:
        with open(path, "rb") as f:
            connection.request("POST", f"/predictions/{name}?top={args.top}", body=f.read(), headers={"Content-Type": "image/png"})
        response = connection.getresponse()
        answers[path] = (response.status, json.loads(response.read(), object_pairs_hook=list))
    return answers


served = {}
with ThreadPoolExecutor(8) as pool:
    for part in pool.map(ask, [files[k::8] for k in range(8)]):
        served.update(part)
server.send_signal(signal.SIGTERM)
server.wait(timeout=30)

worst, disagreements = 0.0, []
for path in files:
    status, pairs = served[path]
    want = predicted[path]
    if status != 200 or [n for n, _ in pairs] != [c["name"] for c in want]:
        disagreements.append((path, status, pairs[:3], [(c["name"], c["probability"]) for c in want[:3]]))
        continue
    worst = max(worst, max(abs(p - c["probability"]) for (_, p), c in zip(pairs, want)))
print(f"{len(files)} test images, top {args.top}: {len(disagreements)} disagree in classes or order; "
      f"largest probability difference {worst:.2e}")
for item in disagreements[:5]:
    print("  ", item)
sys.exit(0 if not disagreements and worst <= 1e-6 else 1)
