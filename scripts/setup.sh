#!/usr/bin/env bash
# Installs the Debian packages this project needs, and only those that are missing.
# Safe to run again: when everything is present it does nothing but check.
set -euo pipefail

packages=(
  pkg-config
  libdnnl-dev          # oneDNN 2.6 for the cpu backend (convolutions, pooling, LRN, sgemm)
  libturbojpeg0-dev    # JPEG decoding
  libpng-dev           # PNG decoding and plots
  zlib1g-dev           # gzip-compressed IDX files
  liblapacke-dev       # LAPACK's eigensolver for PCA and ITQ (`alexnet features --codes`)
  libopenblas-dev      # ... run by OpenBLAS's LAPACK instead of the slow reference one
  libssl-dev           # SHA-256 of downloaded datasets (libcrypto)
  libcurl4             # HTTP(S) for `alexnet data download` (Foundation's URLSession uses it)
  libopenmpi-dev       # Open MPI 4.1: data-parallel training across processes and machines (`mpirun ... alexnet train`)
  openmpi-bin          # mpirun
  iproute2             # ip netns: the two-host MPI test joins two network namespaces
  dataset-fashion-mnist  # the real dataset of the README's main job
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "setup: installing ${missing[*]}" >&2
sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
# apt refuses to run while another apt holds its lock: retry a few times.
for attempt in 1 2 3 4 5; do
  if $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
    exit 0
  fi
  echo "setup: apt failed (attempt $attempt), retrying in 5 s" >&2
  sleep 5
done
echo "setup: could not install ${missing[*]}" >&2
exit 1
