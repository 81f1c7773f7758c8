import AlexNetCore
import AlexNetInterop

/// Image features of a whole dataset split, as `alexnet features` writes them and
/// `alexnet neighbors` searches them: one safetensors file holding
///
/// - `features` F32 `[N, D]`: the layer's activations, one row per image;
/// - `labels` I64 `[N]`;
/// - with binary codes: `codes` U8 `[N, bits / 8]` (each code as little-endian 64-bit words),
///   `codes.mean` F32 `[D]` and `codes.projection` F32 `[D, bits]` (PCA and the ITQ rotation
///   in one matrix: a code's bit b is 1 when `((x - mean) projection)[b] > 0`);
/// - metadata: the layer, the network, the fingerprint of the weights, the dataset and split,
///   the class names, and the file of each image where the images are files.
public struct FeatureIndex: @unchecked Sendable {
    /// Row-major `[count, dimension]`.
    public var features: [Float]
    public var labels: [Int]
    public var dimension: Int
    public var count: Int { labels.count }
    /// The layer whose output the features are (`relu7`).
    public var layer: String
    /// The network's name.
    public var network: String
    /// `FeatureExtractor.fingerprint` of the weights that made the features.
    public var fingerprint: String
    /// The dataset (a name or a folder) and its split the images came from.
    public var data: String
    public var split: String
    public var classNames: [String]
    /// The image file of each row, where the images are files (image folders); nil for datasets
    /// whose images are rows of one file (IDX, CIFAR-10), where the row number names the image.
    public var paths: [String]?
    /// Binary codes of every row, if learnt.
    public var codes: BinaryCodes?

    public init(features: [Float], labels: [Int], dimension: Int, layer: String, network: String, fingerprint: String,
                data: String, split: String, classNames: [String], paths: [String]? = nil, codes: BinaryCodes? = nil) {
        precondition(features.count == labels.count * dimension, "FeatureIndex: \(features.count) values for \(labels.count) rows of \(dimension)")
        self.features = features
        self.labels = labels
        self.dimension = dimension
        self.layer = layer
        self.network = network
        self.fingerprint = fingerprint
        self.data = data
        self.split = split
        self.classNames = classNames
        self.paths = paths
        self.codes = codes
    }

    static let format = "alexnet-features 1"

    /// Writes the index atomically.
    public func write(to path: String) throws {
        var metadata = ["format": Self.format, "layer": layer, "network": network, "fingerprint": fingerprint,
                        "data": data, "split": split, "class_names": classNames.joined(separator: "\n")]
        if let paths { metadata["paths"] = paths.joined(separator: "\n") }
        let labels64 = labels.map { Int64($0) }
        try features.withUnsafeBufferPointer { features in
            try labels64.withUnsafeBytes { labelBytes in
                var outputs = [SafeTensors.Output(name: "features", shape: [count, dimension], data: features),
                               SafeTensors.Output(name: "labels", shape: [count], dtype: .i64, bytes: labelBytes)]
                guard let codes else { return try SafeTensors.write(outputs, metadata: metadata, to: path) }
                metadata["codes"] = "\(codes.bits) bits, \(codes.method)"
                try codes.codes.withUnsafeBytes { words in
                    try codes.mean.withUnsafeBufferPointer { mean in
                        try codes.projection.withUnsafeBufferPointer { projection in
                            outputs += [SafeTensors.Output(name: "codes", shape: [count, codes.bits / 8], dtype: .u8, bytes: words),
                                        SafeTensors.Output(name: "codes.mean", shape: [dimension], data: mean),
                                        SafeTensors.Output(name: "codes.projection", shape: [dimension, codes.bits], data: projection)]
                            try SafeTensors.write(outputs, metadata: metadata, to: path)
                        }
                    }
                }
            }
        }
    }

    /// Reads an index written by `write(to:)`; anything else, or an inconsistent file, is
    /// refused with what is wrong.
    public init(path: String) throws {
        let file = try SafeTensors(path: path)
        func fail(_ message: String) -> FileError { FileError(path, message) }
        guard file.metadata["format"] == Self.format else {
            throw fail("is not a feature index of `alexnet features` (no \"format\": \"\(Self.format)\" in its metadata)")
        }
        guard let entry = file["features"], entry.shape.count == 2, entry.dtype == .f32 else {
            throw fail("has no F32 tensor 'features' of shape [images, dimension]")
        }
        let (count, dimension) = (entry.shape[0], entry.shape[1])
        guard count > 0 else { throw fail("is empty: it holds no images") }
        let labels = try file.integers("labels")
        guard labels.count == count else { throw fail("has \(labels.count) labels for \(count) rows of features") }
        let meta = { (key: String) throws -> String in
            guard let value = file.metadata[key] else { throw fail("has no '\(key)' in its metadata") }
            return value
        }
        let classNames = try meta("class_names").split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if let bad = labels.first(where: { $0 < 0 || $0 >= classNames.count }) {
            throw fail("has label \(bad), outside its \(classNames.count) classes")
        }
        let paths = file.metadata["paths"].map { $0.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) }
        if let paths, paths.count != count { throw fail("names \(paths.count) image files for \(count) rows") }
        var codes: BinaryCodes?
        if let codeEntry = file["codes"] {
            let bits = codeEntry.shape.count == 2 ? codeEntry.shape[1] * 8 : 0
            guard codeEntry.dtype == .u8, codeEntry.shape.first == count, bits > 0, bits % 64 == 0 else {
                throw fail("has a 'codes' tensor \(codeEntry.dtype.rawValue) \(codeEntry.shape), not U8 [\(count), bits / 8] with bits a multiple of 64")
            }
            let mean = try file.floats("codes.mean"), projection = try file.floats("codes.projection")
            guard mean.count == dimension, projection.count == dimension * bits else {
                throw fail("has codes.mean of \(mean.count) values and codes.projection of \(projection.count), "
                    + "where \(dimension) and \(dimension) x \(bits) are needed")
            }
            let bytes = try file.rawBytes("codes")
            var words = [UInt64](repeating: 0, count: bytes.count / 8)
            words.withUnsafeMutableBytes { $0.copyBytes(from: bytes) }
            codes = BinaryCodes(bits: bits, mean: mean, projection: projection, codes: words, method: file.metadata["codes"] ?? "")
        }
        self.init(features: try file.floats("features"), labels: labels, dimension: dimension, layer: try meta("layer"),
                  network: try meta("network"), fingerprint: try meta("fingerprint"), data: try meta("data"),
                  split: try meta("split"), classNames: classNames, paths: paths, codes: codes)
    }

    /// Row `row` of the features.
    public func row(_ row: Int) -> ArraySlice<Float> { features[(row * dimension)..<((row + 1) * dimension)] }
}
