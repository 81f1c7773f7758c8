// swift-tools-version: 6.0
// A Swift package that uses AlexNet as a library: classify an image with a trained checkpoint.
import PackageDescription

let package = Package(
    name: "ClassifyImage",
    dependencies: [
        // In your own package: .package(url: "<this repository>", branch: "main").
        .package(name: "AlexNet", path: "../.."),
    ],
    targets: [
        .executableTarget(name: "ClassifyImage", dependencies: [.product(name: "AlexNet", package: "AlexNet")]),
    ]
)
