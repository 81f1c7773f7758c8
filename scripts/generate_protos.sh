#!/usr/bin/env bash
# Regenerates the Swift code of our protobuf schemas (Protos/) beside the sources that use them:
#   Protos/onnx_subset.proto        -> Sources/AlexNetInterop/ONNX/onnx_subset.pb.swift
#   Protos/tensorboard_subset.proto -> Sources/AlexNetInterop/TensorBoard/tensorboard_subset.pb.swift
# Run by hand after changing a schema; the build itself never needs protoc. Needs Debian's
# protobuf-compiler and swift-protobuf's plugin at the version Package.swift names:
#   apt-get install protobuf-compiler
#   git clone -b 1.39.0 https://github.com/apple/swift-protobuf /tmp/swift-protobuf
#   (cd /tmp/swift-protobuf && swift build -c release --product protoc-gen-swift)
set -euo pipefail
cd "$(dirname "$0")/.."
plugin="${PROTOC_GEN_SWIFT:-/tmp/swift-protobuf/.build/release/protoc-gen-swift}"
for pair in onnx_subset:ONNX tensorboard_subset:TensorBoard; do
    schema="${pair%%:*}" folder="Sources/AlexNetInterop/${pair##*:}"
    mkdir -p "$folder"
    protoc --plugin=protoc-gen-swift="$plugin" --swift_opt=Visibility=Internal \
        --swift_out="$folder" -IProtos "Protos/$schema.proto"
    echo "wrote $folder/$schema.pb.swift"
done
