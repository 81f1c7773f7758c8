#!/usr/bin/env bash
# Fuzzes one parser with libFuzzer and AddressSanitizer:
#
#   scripts/fuzz.sh idx|cifar|safetensors|image [seconds, default 300]
#
# Builds Fuzz/ (the harnesses) with -sanitize=fuzzer,address, then mutates the seeds of
# Fuzz/Corpus/TARGET (plus what earlier runs found, kept in .build-fuzz-corpus/TARGET). An input
# that crashes, leaks, hangs or allocates more than 2 GB is written to
# Tests/Fixtures/fuzz/TARGET/; `swift test --filter FuzzRegression` replays every file there, so
# once the bug is fixed the crasher stays as a test.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${1:?usage: scripts/fuzz.sh idx|cifar|safetensors|image [seconds]}"
seconds="${2:-300}"
case "$target" in
  idx) product=FuzzIDX ;;
  cifar) product=FuzzCIFAR ;;
  safetensors) product=FuzzSafeTensors ;;
  image) product=FuzzImage ;;
  *) echo "unknown target '$target': idx, cifar, safetensors or image" >&2; exit 2 ;;
esac
# SwiftPM can keep a stale build plan for the parent package (a path dependency) and miss
# files added there since: dropping the plan makes it look again.
rm -f Fuzz/.build/debug.yaml Fuzz/.build/build.db
(cd Fuzz && swift build -c debug --product "$product" --sanitize=fuzzer --sanitize=address)
corpus=".build-fuzz-corpus/$target"
crashers="Tests/Fixtures/fuzz/$target"
mkdir -p "$corpus" "$crashers"
dict=()
if [[ -f "Fuzz/$target.dict" ]]; then dict=(-dict="Fuzz/$target.dict"); fi
# -rss_limit_mb/-malloc_limit_mb: an allocation that large from a small input is a bug here too.
exec "Fuzz/.build/debug/$product" "$corpus" "Fuzz/Corpus/$target" \
  -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 \
  -artifact_prefix="$crashers/" -print_final_stats=1 "${dict[@]}"
