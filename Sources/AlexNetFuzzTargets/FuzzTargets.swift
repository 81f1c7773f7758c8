import AlexNetData
import AlexNetInterop

/// What each libFuzzer harness (the `Fuzz/` package) does with one input, kept here so that
/// the test suite replays the same code on every saved crasher and corpus file
/// (`Tests/Fixtures/fuzz/TARGET/`). A target may throw (hostile input is expected to be refused
/// with an error); it must never crash, hang or allocate without bound.
public enum FuzzTargets {
    public static let all: [String: @Sendable ([UInt8]) -> Void] = [
        "idx": idx, "cifar": cifar, "safetensors": safetensors, "image": image,
    ]

    /// IDX images and labels, gzip-compressed or raw, and a dataset pairing them.
    @Sendable public static func idx(_ bytes: [UInt8]) {
        guard let bytes = try? (Gzip.isCompressed(bytes) ? Gzip.decompress(bytes, source: "fuzz") : bytes) else { return }
        let images = try? IDX.parseImages(bytes, source: "fuzz")
        let labels = try? IDX.parseLabels(bytes, source: "fuzz")
        if let images {
            let dataset = try? IDXDataset(images: images, labels: [UInt8](repeating: 0, count: images.count), classNames: ["a"], source: "fuzz")
            if let dataset, dataset.count > 0 { _ = dataset.pixels(at: dataset.count - 1) }
        }
        _ = labels
    }

    /// CIFAR-10 batches, alone or inside a (gzip-compressed) tar archive.
    @Sendable public static func cifar(_ bytes: [UInt8]) {
        try? CIFAR10.check(bytes[...], source: "fuzz", classes: 10)
        guard let unpacked = try? (Gzip.isCompressed(bytes) ? Gzip.decompress(bytes, source: "fuzz") : bytes),
              let entries = try? Tar.entries(unpacked, source: "fuzz") else { return }
        for entry in entries {
            try? CIFAR10.check(unpacked[entry.range], source: entry.name, classes: 10)
        }
    }

    /// A safetensors file: parse, then read every tensor as float32.
    @Sendable public static func safetensors(_ bytes: [UInt8]) {
        guard let file = try? SafeTensors(data: bytes, source: "fuzz") else { return }
        for entry in file.entries { _ = try? file.floats(entry.name) }
    }

    /// A JPEG or PNG: decode in full and scaled, with the EXIF orientation applied.
    @Sendable public static func image(_ bytes: [UInt8]) {
        _ = try? ImageCodec.decode(bytes, source: "fuzz")
        _ = try? ImageCodec.decode(bytes, source: "fuzz", shorterSideAtLeast: 8)
    }
}
