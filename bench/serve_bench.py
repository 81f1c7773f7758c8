#!/usr/bin/env python3
"""Load test: `alexnet serve` against the servers a PyTorch user would run for the same weights
(TorchServe 0.12 with its image_classifier handler on a traced model, default config; FastAPI +
uvicorn + torchvision, both MODEs of bench/peers/fastapi_server.py), with `wrk`
posting the same JPEG over loopback at 1, 8 and 32 concurrent connections. Servers take turns
(ours, then each peer, repeated) so that the machine's drift hits all alike.

    .venv-peers/bin/python bench/serve_bench.py --alexnet .build/release/alexnet [--seconds 20 --repeats 2]

Needs wrk (apt) and, in the venv, torch, torchvision, fastapi, uvicorn, python-multipart, pillow,
safetensors; for TorchServe also torchserve, torch-model-archiver, pyyaml, captum and Java 17.
"""
import argparse, json, os, re, signal, socket, subprocess, sys, tempfile, time, urllib.request

parser = argparse.ArgumentParser()
parser.add_argument("--alexnet", default=".build/release/alexnet")
parser.add_argument("--seconds", type=int, default=20)
parser.add_argument("--repeats", type=int, default=2)
parser.add_argument("--clients", default="1,8,32")
parser.add_argument("--threads", type=int, default=os.cpu_count())
parser.add_argument("--peers", default="torchserve,threadpool,inline")
parser.add_argument("--json", help="also write the results here")
args = parser.parse_args()
here = os.path.dirname(os.path.abspath(__file__))
work = tempfile.mkdtemp(prefix="alexnet-serve-bench-")

# The same weights for both (torchvision's AlexNet, seeded) and a photo-sized JPEG.
import torch, torchvision
from PIL import Image
from safetensors.torch import save_file
torch.manual_seed(0)
weights = os.path.join(work, "torchvision-alexnet.safetensors")
save_file({k: v.contiguous() for k, v in torchvision.models.alexnet().state_dict().items()}, weights)
image_path = os.path.join(work, "photo.jpg")
torch.manual_seed(1)
pixels = (torch.rand(375 // 15, 500 // 20, 3) * 255).to(torch.uint8).numpy()
Image.fromarray(pixels).resize((500, 375), Image.BICUBIC).save(image_path, quality=90)
lua = os.path.join(work, "post.lua")
with open(lua, "w") as f:
    f.write(f'local f = io.open("{image_path}", "rb")\nwrk.body = f:read("*a")\nf:close()\n'
            'wrk.method = "POST"\nwrk.headers["Content-Type"] = "image/jpeg"\n')


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchserve_archive():
    """A TorchServe model archive of the same weights (traced), made once."""
    store = os.path.join(work, "model-store")
    if os.path.exists(os.path.join(store, "alexnet.mar")):
        return store
    os.makedirs(store)
    model = torchvision.models.alexnet()
    from safetensors.torch import load_file
    model.load_state_dict(load_file(weights))
    model.eval()
    traced = os.path.join(work, "alexnet.pt")
    torch.jit.trace(model, torch.randn(1, 3, 224, 224)).save(traced)
    names = os.path.join(work, "index_to_name.json")
    with open(names, "w") as f:
        json.dump({str(i): c for i, c in enumerate(torchvision.models.AlexNet_Weights.IMAGENET1K_V1.meta["categories"])}, f)
    subprocess.check_call([os.path.join(os.path.dirname(sys.executable), "torch-model-archiver"), "--model-name", "alexnet",
                           "--version", "1.0", "--serialized-file", traced, "--handler", "image_classifier",
                           "--extra-files", names, "--export-path", store])
    return store


def start(kind):
    port = free_port()
    if kind == "torchserve":
        config = os.path.join(work, "config.properties")
        with open(config, "w") as f:
            f.write(f"inference_address=http://127.0.0.1:{port}\nmanagement_address=http://127.0.0.1:{free_port()}\n"
                    f"metrics_address=http://127.0.0.1:{free_port()}\ndisable_token_authorization=true\n"
                    f"install_py_dep_per_model=false\nload_models=all\nmodel_store={torchserve_archive()}\n")
        env = dict(os.environ, PATH=os.path.dirname(sys.executable) + ":" + os.environ["PATH"])
        process = subprocess.Popen(["torchserve", "--start", "--ncs", "--foreground", "--ts-config", config], env=env, cwd=work,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
        url = f"http://127.0.0.1:{port}"
        for _ in range(300):  # ready once a worker has loaded the model
            try:
                answer(url)
                return process, url
            except Exception:
                time.sleep(0.5)
        process.kill()
        sys.exit("TorchServe did not answer")
    if kind == "ours":
        command = [args.alexnet, "serve", "--weights", weights, "--model", "torchvision", "--name", "alexnet",
                   "--port", str(port), "--threads", str(args.threads)]
        env = dict(os.environ)
    else:
        command = [sys.executable, "-m", "uvicorn", "fastapi_server:app", "--port", str(port), "--log-level", "warning"]
        env = dict(os.environ, WEIGHTS=weights, THREADS=str(args.threads), MODE=kind, PYTHONPATH=os.path.join(here, "peers"))
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            urllib.request.urlopen(url + "/ping", timeout=1).read()
            return process, url
        except Exception:
            if process.poll() is not None:
                sys.exit(f"{kind} server died: {process.stderr.read()}")
            time.sleep(0.1)
    sys.exit(f"{kind} server did not start")


def stop(process, kind):
    if kind == "torchserve":
        subprocess.call([os.path.join(os.path.dirname(sys.executable), "torchserve"), "--stop"], stdout=subprocess.DEVNULL, cwd=work,
                        env=dict(os.environ, PATH=os.path.dirname(sys.executable) + ":" + os.environ["PATH"]))
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


def answer(url):
    with open(image_path, "rb") as f:
        request = urllib.request.Request(url + "/predictions/alexnet", data=f.read(), headers={"Content-Type": "image/jpeg"})
    return json.loads(urllib.request.urlopen(request).read())


def milliseconds(text):
    match = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    if not match:
        sys.exit(f"cannot read the latency {text!r}")
    value, unit = match.groups()
    return float(value) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]


def load(url, clients, seconds):
    output = subprocess.check_output(["wrk", "-t1", f"-c{clients}", f"-d{seconds}s", "--latency", "--timeout", "30s",
                                      "-s", lua, url + "/predictions/alexnet"], text=True)
    if not re.search(r"^\s*50%\s+\S+", output, re.M):
        sys.exit(f"wrk gave no latency distribution:\n{output}")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
            "p50": milliseconds(re.search(r"^\s*50%\s+(\S+)", output, re.M).group(1)),
            "p99": milliseconds(re.search(r"^\s*99%\s+(\S+)", output, re.M).group(1)),
            "errors": int(errors.group(1)) if errors else 0, "socket_errors": socket_errors.group(1) if socket_errors else ""}


cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"CPU: {cpu}, {os.cpu_count()} cores; servers use {args.threads} threads; wrk -t1; {args.seconds} s per run")
kinds = ["ours"] + [p for p in args.peers.split(",") if p]
clients = [int(c) for c in args.clients.split(",")]
results = {k: {c: [] for c in clients} for k in kinds}
answers = {}
for repeat in range(args.repeats):
    for kind in kinds:
        process, url = start(kind)
        try:
            answers[kind] = answer(url)
            for c in clients:
                load(url, c, 3)  # warm-up: caches, allocator, PyTorch's first calls
                result = load(url, c, args.seconds)
                results[kind][c].append(result)
                print(f"  {kind:10s} {c:3d} clients: {result['rps']:7.1f} req/s  p50 {result['p50']:7.1f} ms  p99 {result['p99']:7.1f} ms"
                      + (f"  non-2xx {result['errors']}" if result["errors"] else "") + (f"  {result['socket_errors']}" if result["socket_errors"] else ""),
                      flush=True)
        finally:
            stop(process, kind)

print("\nTop-5 answers to the benchmark JPEG:")
for kind, top in answers.items():
    print(f"  {kind:10s} " + ", ".join(f"{k} {v:.4f}" for k, v in top.items()))
print("\nclients | ours req/s | best peer req/s | ratio | ours p50 / p99 ms | best peer p50 / p99 ms")
summary = {}
for c in clients:
    ours = results["ours"][c]
    peers = [r for k in kinds[1:] for r in results[k][c]]
    if not peers:
        continue
    best_rps = max(r["rps"] for r in peers)
    best_p50 = min(r["p50"] for r in peers)
    best_p99 = min(r["p99"] for r in peers)
    rps = [r["rps"] for r in ours]
    print(f"{c:7d} | {min(rps):.1f}-{max(rps):.1f} | {best_rps:.1f} | {min(rps) / best_rps:.2f}-{max(rps) / best_rps:.2f}x"
          f" | {min(r['p50'] for r in ours):.1f}-{max(r['p50'] for r in ours):.1f} / {min(r['p99'] for r in ours):.1f}-{max(r['p99'] for r in ours):.1f}"
          f" | {best_p50:.1f} / {best_p99:.1f}")
    summary[c] = {"ours": ours, "peers": {k: results[k][c] for k in kinds[1:]}}
if args.json:
    with open(args.json, "w") as f:
        json.dump({"cpu": cpu, "results": summary, "answers": answers}, f, indent=1)
