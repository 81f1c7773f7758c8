// swift-tools-version: 6.0
// AlexNet in Swift: build, train, evaluate, explain and serve the 2012 network and its variants.
import PackageDescription

/// The reference math runs inside the tests (every preset's training step is checked against
/// it), so the library targets are optimized even in debug builds: a full-size AlexNet step on
/// the reference takes seconds instead of minutes.
let optimized: [SwiftSetting] = [.unsafeFlags(["-O"])]

/// The inference API's search kernels count bits with the POPCNT instruction, which the default
/// x86-64 target lacks (it would count with a dozen shifts and masks): x86-64-v2 (SSE4.2 and
/// POPCNT, every x86 CPU since 2009; LLVM calls it nehalem) for that target.
#if arch(x86_64)
let searchKernels: [SwiftSetting] = optimized + [.unsafeFlags(["-target-cpu", "nehalem"])]
#else
let searchKernels: [SwiftSetting] = optimized
#endif

let package = Package(
    name: "AlexNet",
    products: [
        .executable(name: "alexnet", targets: ["AlexNetCLI"]),
        .library(name: "AlexNetFuzzTargets", targets: ["AlexNetFuzzTargets"]),
        // `import AlexNet`: the whole library and its inference API.
        .library(name: "AlexNet", targets: ["AlexNet"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // Only the runtime: the ONNX messages are generated once from Protos/ and committed.
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        // `alexnet serve` only: HTTP, its metrics and multipart uploads. The library never sees them.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.0"),
        .package(url: "https://github.com/vapor/multipart-kit", from: "4.7.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.3.0"),
    ],
    targets: [
        // Shapes, host tensors, aligned buffers, the counter-based RNG.
        .target(name: "AlexNetCore", swiftSettings: optimized),
        // Layer kinds with their math, the network description, its file format, the model zoo.
        .target(name: "AlexNetNetwork", dependencies: ["AlexNetCore"], swiftSettings: optimized),
        // Module maps for Debian's C libraries; no code.
        .systemLibrary(name: "CDNNL", path: "Sources/CDNNL"),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        .systemLibrary(name: "CPNG", path: "Sources/CPNG"),
        .systemLibrary(name: "CTurboJPEG", path: "Sources/CTurboJPEG"),
        .systemLibrary(name: "CCrypto", path: "Sources/CCrypto"),
        .systemLibrary(name: "CMPI", path: "Sources/CMPI", pkgConfig: "ompi-c"),
        .systemLibrary(name: "CLAPACK", path: "Sources/CLAPACK"),
        // The one C of our own: the command-line tool's SIGINT and SIGTERM, kept off the threads that compute.
        .target(name: "CInterrupts"),
        // Hand-declared prototypes of NVIDIA's libraries, opened with dlopen at run time.
        .systemLibrary(name: "CCUDA", path: "Sources/CCUDA"),
        // The Backend protocol, the plain-Swift reference backend (the oracle), and the cpu
        // backend on oneDNN.
        .target(name: "AlexNetBackends", dependencies: ["AlexNetCore", "AlexNetNetwork", "CDNNL", "CCUDA"], swiftSettings: optimized),
        // Datasets (IDX with gzip, CIFAR-10 and its tar.gz, image folders), their download,
        // image transforms, the prefetching loader.
        .target(name: "AlexNetData", dependencies: ["AlexNetCore", "CZlib", "CPNG", "CTurboJPEG", "CCrypto"], swiftSettings: optimized),
        // safetensors (read, write, atomically) and ONNX export.
        .target(
            name: "AlexNetInterop",
            dependencies: ["AlexNetCore", "AlexNetNetwork", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            swiftSettings: optimized),
        // The training loop, optimizers' recipes, schedules, metrics, checkpoints, history, plots.
        .target(
            name: "AlexNetTraining",
            dependencies: ["AlexNetCore", "AlexNetNetwork", "AlexNetBackends", "AlexNetData", "AlexNetInterop"],
            swiftSettings: optimized),
        // The umbrella: re-exports every library module and holds the inference API
        // (`TrainedModel`, `Classifier`, features, neighbours, binary codes, Grad-CAM) that the CLI
        // and other Swift packages use.
        .target(
            name: "AlexNet",
            dependencies: ["AlexNetCore", "AlexNetNetwork", "AlexNetBackends", "AlexNetData", "AlexNetInterop", "AlexNetTraining", "CLAPACK"],
            swiftSettings: searchKernels),
        // Data-parallel training over Open MPI: the reducer that averages gradients on a
        // communication thread. Only the command line links it; the library stays MPI-free.
        .target(name: "AlexNetDistributed", dependencies: ["AlexNetCore", "AlexNetTraining", "CMPI"], swiftSettings: optimized),
        // `alexnet serve`: an HTTP inference service on Hummingbird 2 over the library's
        // `Classifier` and `DynamicBatcher`: the page, TorchServe's and the Open Inference
        // Protocol's routes, Prometheus metrics.
        .target(
            name: "AlexNetServer",
            dependencies: ["AlexNet",
                           .product(name: "Hummingbird", package: "hummingbird"),
                           .product(name: "Prometheus", package: "swift-prometheus"),
                           .product(name: "MultipartKit", package: "multipart-kit"),
                           .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "HTTPTypes", package: "swift-http-types")]),
        // What the libFuzzer harnesses in Fuzz/ run on each input; the tests replay the crashers.
        .target(name: "AlexNetFuzzTargets", dependencies: ["AlexNetData", "AlexNetInterop"], swiftSettings: optimized),
        // The `alexnet` command: one file per subcommand.
        .executableTarget(
            name: "AlexNetCLI",
            dependencies: ["AlexNet", "AlexNetDistributed", "AlexNetServer", "CInterrupts", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .testTarget(name: "AlexNetCoreTests", dependencies: ["AlexNetCore"]),
        .testTarget(name: "AlexNetNetworkTests", dependencies: ["AlexNetCore", "AlexNetNetwork"]),
        .testTarget(
            name: "AlexNetBackendsTests",
            dependencies: ["AlexNetCore", "AlexNetNetwork", "AlexNetBackends", "AlexNetInterop"]
        ),
        // What several test targets share: an HTTP server on 127.0.0.1 for download tests.
        .target(name: "AlexNetTestSupport", path: "Tests/Support"),
        .testTarget(name: "AlexNetDataTests", dependencies: ["AlexNetCore", "AlexNetData", "AlexNetTestSupport"]),
        .testTarget(name: "AlexNetFuzzTargetsTests", dependencies: ["AlexNetFuzzTargets"]),
        .testTarget(
            name: "AlexNetInteropTests",
            dependencies: ["AlexNetCore", "AlexNetNetwork", "AlexNetBackends", "AlexNetInterop",
                           .product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        .testTarget(
            name: "AlexNetTrainingTests",
            dependencies: ["AlexNetCore", "AlexNetNetwork", "AlexNetBackends", "AlexNetData", "AlexNetInterop", "AlexNetTraining"]),
        .testTarget(name: "AlexNetTests", dependencies: ["AlexNet"]),
        .testTarget(
            name: "AlexNetServerTests",
            dependencies: ["AlexNetServer", "AlexNet", .product(name: "HummingbirdTesting", package: "hummingbird")]),
        .testTarget(name: "AlexNetCLITests", dependencies: ["AlexNet", "AlexNetCLI", "AlexNetData", "AlexNetInterop", "AlexNetTraining", "AlexNetTestSupport"]),
    ]
)
