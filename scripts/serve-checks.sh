#!/usr/bin/env bash
# `alexnet serve` checked from outside, as CI runs it: the page in headless Chromium driven by
# Selenium (scripts/browser_test.py), then a soak of 20,000 mixed good and bad requests
# (bench/serve_soak.py). Installs what it needs (Debian's chromium and chromium-driver, selenium
# from PyPI into .venv-browser) and trains a small checkpoint when none is given.
#   scripts/serve-checks.sh [CHECKPOINT] [SCREENSHOT]
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
command -v chromium > /dev/null || missing+=(chromium)
command -v chromedriver > /dev/null || missing+=(chromium-driver)
python3 -c "import ensurepip" 2> /dev/null || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
    for attempt in 1 2 3; do
        $sudo apt-get install -y -q "${missing[@]}" > /dev/null && break
        $sudo apt-get update -q > /dev/null || true
        sleep 5
    done
    command -v chromedriver > /dev/null || { echo "serve-checks: could not install ${missing[*]}" >&2; exit 1; }
fi
if [ ! -x .venv-browser/bin/python ]; then
    python3 -m venv .venv-browser
    .venv-browser/bin/pip install -q selenium
fi
swift build --product alexnet 2>&1 | tail -1
alexnet=$(swift build --show-bin-path)/alexnet
checkpoint=${1:-}
if [ -z "$checkpoint" ]; then
    out=$(mktemp -d)
    trap 'rm -rf "$out"' EXIT
    echo "training a small checkpoint (quick preset, 1 epoch on 3,000 images, 4 warm-up steps instead of 200) ..."
    "$alexnet" train --preset quick --epochs 1 --warmup 4 --limit 3000 --val-limit 500 --out "$out/run" > "$out/train.log" 2>&1 \
        || { cat "$out/train.log"; exit 1; }
    checkpoint="$out/run/best.safetensors"
fi
.venv-browser/bin/python scripts/browser_test.py "$alexnet" "$checkpoint" "${2:-$(mktemp -d)/serve-page.png}"
python3 bench/serve_soak.py --alexnet "$alexnet" --checkpoint "$checkpoint"
