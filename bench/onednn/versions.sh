#!/bin/sh
# oneDNN 2.6 (Debian's, what the cpu backend links) against Intel's oneDNN 3.2 from PyPI
# (onednn-cpu-gomp 2023.2, GNU OpenMP like Debian's) on AlexNet's convolutions, interleaved,
# 2 threads. Writes nothing outside a temporary folder. Needs g++, libdnnl-dev and pip.
#
#   bench/onednn/versions.sh [ROUNDS] [BATCH]
set -eu
rounds=${1:-3}
batch=${2:-32}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/onednn-versions.XXXXXX)
trap 'rm -rf "$work"' EXIT
pip=${PIP:-pip3}
[ -x "$here/../../.venv-peers/bin/pip" ] && pip="$here/../../.venv-peers/bin/pip"
"$pip" download --quiet --no-deps -d "$work" onednn-cpu-gomp==2023.2.0 onednn-devel-cpu-gomp==2023.2.0
for wheel in "$work"/*.whl; do python3 -m zipfile -e "$wheel" "$work/x"; done
lib3="$work/x/onednn_cpu_gomp-2023.2.0.data/data/lib"
inc3="$work/x/onednn_devel_cpu_gomp-2023.2.0.data/data/include"
g++ -O2 -std=c++17 "$here/convbench.cpp" -o "$work/convbench-2.6" -ldnnl
g++ -O2 -std=c++17 -I"$inc3" "$here/convbench.cpp" -o "$work/convbench-3.2" -L"$lib3" -l:libdnnl.so.3 -Wl,-rpath,"$lib3"
grep -m1 'model name' /proc/cpuinfo
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
# N IC OC H K S P: torchvision's conv2 and conv4, d2l's conv2 and conv4, the quick preset's conv2.
for shape in "64 192 27 5 1 2" "384 256 13 3 1 1" "96 256 26 5 1 2" "384 384 12 3 1 1" "48 128 15 5 1 2"; do
  for round in $(seq "$rounds"); do
    "$work/convbench-2.6" "$batch" $shape any 3
    "$work/convbench-3.2" "$batch" $shape any 3
    "$work/convbench-3.2" "$batch" $shape nhwc 3
  done
done
