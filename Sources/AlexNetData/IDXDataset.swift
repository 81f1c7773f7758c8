import AlexNetCore

/// A labelled set of grayscale images from a pair of IDX files (MNIST, Fashion-MNIST).
public struct IDXDataset: Sendable {
    public var images: IDX.Images
    public var labels: [UInt8]
    public var classNames: [String]
    /// The file or files it was read from.
    public var source: String

    public var count: Int { images.count }
    /// One example's shape: 1 x rows x columns.
    public var imageShape: Shape { Shape(channels: 1, height: images.rows, width: images.columns) }

    /// Pairs `images` with `labels`, checking that they agree and that every label names a class.
    public init(images: IDX.Images, labels: [UInt8], classNames: [String], source: String) throws(DataError) {
        guard images.count == labels.count else {
            throw DataError(source, "has \(images.count) images but \(labels.count) labels")
        }
        if let bad = labels.firstIndex(where: { Int($0) >= classNames.count }) {
            throw DataError(source, "label \(labels[bad]) of example \(bad) is outside 0..<\(classNames.count)")
        }
        self.images = images
        self.labels = labels
        self.classNames = classNames
        self.source = source
    }

    /// Reads `<directory>/<prefix>-images-idx3-ubyte[.gz]` and the matching labels file.
    public init(directory: String, prefix: String, classNames: [String]) throws(DataError) {
        let imagesPath = try Self.find(directory, "\(prefix)-images-idx3-ubyte")
        let labelsPath = try Self.find(directory, "\(prefix)-labels-idx1-ubyte")
        try self.init(images: IDX.readImages(path: imagesPath), labels: IDX.readLabels(path: labelsPath),
                      classNames: classNames, source: "\(imagesPath) and \(labelsPath)")
    }

    /// The pixels of example `index`, row-major.
    public func pixels(at index: Int) -> ArraySlice<UInt8> {
        let size = images.rows * images.columns
        return images.pixels[(index * size)..<((index + 1) * size)]
    }

    private static func find(_ directory: String, _ name: String) throws(DataError) -> String {
        for candidate in ["\(directory)/\(name).gz", "\(directory)/\(name)"] where access(candidate, F_OK) == 0 {
            return candidate
        }
        throw DataError("\(directory)/\(name)[.gz]", "does not exist")
    }
}

/// Fashion-MNIST (Xiao, Rasul and Vollgraf, 2017): 60,000 training and 10,000 test images of
/// 28x28 clothing in 10 classes. Debian's `dataset-fashion-mnist` installs it where
/// `defaultDirectory` points; `scripts/setup.sh` installs that package.
public enum FashionMNIST {
    public static let defaultDirectory = "/usr/share/datasets/fashion-mnist"
    public static let classNames = [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ]

    public static func training(directory: String = defaultDirectory) throws(DataError) -> IDXDataset {
        try IDXDataset(directory: directory, prefix: "train", classNames: classNames)
    }

    public static func test(directory: String = defaultDirectory) throws(DataError) -> IDXDataset {
        try IDXDataset(directory: directory, prefix: "t10k", classNames: classNames)
    }
}

#if canImport(Glibc)
import Glibc
#endif
