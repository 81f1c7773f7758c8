#!/usr/bin/env python3
"""Soak test: 20,000 mixed good and bad requests to `alexnet serve` from 16 concurrent clients
over loopback. Every request must be answered with the status its kind calls for, the server
must stay up, and its memory (VmRSS) must stay flat after the first thousand requests.

    python3 bench/serve_soak.py --alexnet .build/release/alexnet --checkpoint runs/quick/best.safetensors
"""
import argparse, http.client, json, os, random, re, signal, struct, subprocess, sys, threading, time
from collections import Counter

from fashion_png import png, test_images

parser = argparse.ArgumentParser()
parser.add_argument("--alexnet", default=".build/release/alexnet")
parser.add_argument("--checkpoint", required=True)
parser.add_argument("--requests", type=int, default=20000)
parser.add_argument("--clients", type=int, default=16)
parser.add_argument("--max-growth-mb", type=float, default=64, help="fail when memory grows more than this after warm-up")
args = parser.parse_args()


images = test_images(64)
pngs = [png(image, 28, 28) for image in images]
bomb = png(b"\x00" * 16, 4, 4)
bomb = bomb[:16] + struct.pack(">II", 60000, 60000) + bomb[24:]  # claims 60000x60000; CRC now wrong too
boundary = "soakboundary"
def form(data):
    return (f"--{boundary}\r\nContent-Disposition: form-data; name=\"data\"; filename=\"x.png\"\r\n\r\n".encode() + data
            + f"\r\n--{boundary}--\r\n".encode())
pixels = list(images[0])
good_infer = json.dumps({"inputs": [{"name": "image", "datatype": "UINT8", "shape": [1, 28, 28, 1], "data": pixels}]}).encode()
bad_infer = json.dumps({"inputs": [{"name": "image", "datatype": "UINT8", "shape": [1, 28, 28, 2], "data": pixels}]}).encode()
big = b"\xff\xd8\xff" + b"\x00" * (9 << 20)

# (weight, method, path, headers, body, expected status)
kinds = {
    "png": (30, "POST", "/predictions/{name}", {"Content-Type": "image/png"}, None, 200),
    "multipart": (10, "POST", "/predictions/{name}?top=3", {"Content-Type": f"multipart/form-data; boundary={boundary}"}, "form", 200),
    "infer": (10, "POST", "/v2/models/{name}/infer", {"Content-Type": "application/json"}, good_infer, 200),
    "truncated": (8, "POST", "/predictions/{name}", {"Content-Type": "image/png"}, "truncated", 400),
    "garbage": (8, "POST", "/predictions/{name}", {"Content-Type": "image/jpeg"}, b"GIF89a not what you think", 400),
    "bomb": (5, "POST", "/predictions/{name}", {"Content-Type": "image/png"}, bomb, 400),
    "wrong-type": (5, "POST", "/predictions/{name}", {"Content-Type": "text/plain"}, b"hello", 415),
    "unknown-model": (5, "POST", "/predictions/nobody", {"Content-Type": "image/png"}, None, 404),
    "bad-infer": (5, "POST", "/v2/models/{name}/infer", {"Content-Type": "application/json"}, bad_infer, 400),
    "bad-json": (4, "POST", "/v2/models/{name}/infer", {"Content-Type": "application/json"}, b'{"inputs": [', 400),
    "too-large": (1, "POST", "/predictions/{name}", {"Content-Type": "image/jpeg"}, big, 413),
    "metrics": (4, "GET", "/metrics", {}, None, 200),
    "ping": (5, "GET", "/ping", {}, None, 200),
}

server = subprocess.Popen([args.alexnet, "serve", "--checkpoint", args.checkpoint, "--port", "0"], stdout=subprocess.PIPE, text=True)
line = server.stdout.readline()
match = re.search(r"'([^']+)'.* at http://127\.0\.0\.1:(\d+)/", line)
if not match:
    server.kill()
    sys.exit(f"the server did not start: {line!r}")
name, port = match.group(1), int(match.group(2))


def rss_mb():
    with open(f"/proc/{server.pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1)) / 1024


names = list(kinds)
weights = [kinds[k][0] for k in names]
lock = threading.Lock()
outcomes, mismatches, memory = Counter(), [], []
done = 0


def client(seed, count):
    global done
    rng = random.Random(seed)
    connection = None
    for _ in range(count):
        kind = rng.choices(names, weights)[0]
        _, method, path, headers, body, expected = kinds[kind]
        image = rng.choice(pngs)
        body = {None: image, "form": form(image) if body == "form" else None, "truncated": image[:len(image) // 2]}.get(body, body) \
            if body in (None, "form", "truncated") else body
        if method == "GET":
            body = None
        status = None
        for attempt in range(3):
            try:
                if connection is None:
                    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                connection.request(method, path.format(name=name), body=body, headers=headers)
                response = connection.getresponse()
                payload = response.read()
                status = response.status
                if response.getheader("Connection", "").lower() == "close":
                    connection.close()
                    connection = None
                break
            except (ConnectionError, http.client.HTTPException, OSError):
                connection = None  # the server closed a connection after refusing a body: reconnect
                if kind == "too-large":
                    status = 413  # refused before the body was read; the reset is the refusal
                    break
        with lock:
            outcomes[(kind, status)] += 1
            if status != expected:
                mismatches.append((kind, status, payload[:200] if status else b""))
            done += 1
            if done % 1000 == 0:
                memory.append((done, rss_mb()))


started = time.time()
per = args.requests // args.clients
threads = [threading.Thread(target=client, args=(k, per)) for k in range(args.clients)]
for t in threads: t.start()
for t in threads: t.join()
elapsed = time.time() - started
alive = server.poll() is None
server.send_signal(signal.SIGTERM)
code = server.wait(timeout=30)

cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"CPU: {cpu}; {done} requests from {args.clients} clients in {elapsed:.1f} s ({done / elapsed:.0f}/s)")
for (kind, status), count in sorted(outcomes.items()):
    print(f"  {kind:14s} {status}: {count}")
print("memory (VmRSS, MB) after each 1000 requests:", " ".join(f"{m:.0f}" for _, m in memory))
growth = memory[-1][1] - memory[0][1] if len(memory) > 1 else 0
print(f"growth after the first 1000: {growth:+.1f} MB; server alive at the end: {alive}; exit status after SIGTERM: {code}")
failed = mismatches or not alive or code != 0 or growth > args.max_growth_mb or done != per * args.clients
for kind, status, payload in mismatches[:10]:
    print(f"  MISMATCH {kind}: got {status} {payload!r}")
print("soak:", "FAILED" if failed else "passed")
sys.exit(1 if failed else 0)
