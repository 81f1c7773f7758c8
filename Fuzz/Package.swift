// swift-tools-version: 6.0
// libFuzzer harnesses for the parsers of untrusted files. Not part of the main build: run
// scripts/fuzz.sh, which builds these with -sanitize=fuzzer,address.
import PackageDescription

let harnesses = ["FuzzIDX", "FuzzCIFAR", "FuzzSafeTensors", "FuzzImage"]

let package = Package(
    name: "AlexNetFuzz",
    products: harnesses.map { .executable(name: $0, targets: [$0]) },
    dependencies: [.package(name: "AlexNet", path: "..")],
    targets: harnesses.map {
        .executableTarget(name: $0, dependencies: [.product(name: "AlexNetFuzzTargets", package: "AlexNet")])
    }
)
