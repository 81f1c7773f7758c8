#!/usr/bin/env bash
# Regenerates Sources/AlexNetInterop/ONNX/onnx_subset.pb.swift from Protos/onnx_subset.proto.
# Run by hand after changing the schema; the build itself never needs protoc. Needs Debian's
# protobuf-compiler and swift-protobuf's plugin at the version Package.swift names:
#   apt-get install protobuf-compiler
#   git clone -b 1.39.0 https://github.com/apple/swift-protobuf /tmp/swift-protobuf
#   (cd /tmp/swift-protobuf && swift build -c release --product protoc-gen-swift)
set -euo pipefail
cd "$(dirname "$0")/.."
plugin="${PROTOC_GEN_SWIFT:-/tmp/swift-protobuf/.build/release/protoc-gen-swift}"
mkdir -p Sources/AlexNetInterop/ONNX
protoc --plugin=protoc-gen-swift="$plugin" --swift_opt=Visibility=Internal \
    --swift_out=Sources/AlexNetInterop/ONNX -IProtos Protos/onnx_subset.proto
echo "wrote Sources/AlexNetInterop/ONNX/onnx_subset.pb.swift"
