/// The shape of one example, without the batch dimension: `[C, H, W]` for images and feature
/// maps, `[F]` for feature vectors. Written `3x227x227` in files and summaries.
public struct Shape: Hashable, Sendable, CustomStringConvertible, Codable {
    public var dimensions: [Int]

    public init(_ dimensions: [Int]) { self.dimensions = dimensions }
    public init(channels: Int, height: Int, width: Int) { self.dimensions = [channels, height, width] }
    public init(features: Int) { self.dimensions = [features] }

    public var rank: Int { dimensions.count }
    /// Number of scalars in one example.
    public var elementCount: Int { dimensions.reduce(1, *) }

    /// `C`, `H`, `W` of an image-like shape; nil for any other rank.
    public var image: (channels: Int, height: Int, width: Int)? {
        rank == 3 ? (dimensions[0], dimensions[1], dimensions[2]) : nil
    }

    public var description: String { dimensions.map(String.init).joined(separator: "x") }

    /// Parses `3x227x227` (or `3,227,227`); nil unless every dimension is a positive integer.
    public init?(parsing text: String) {
        let parts = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "x" || $0 == "," || $0 == "X" })
        let numbers = parts.compactMap { Int($0) }
        guard !parts.isEmpty, numbers.count == parts.count, numbers.allSatisfy({ $0 > 0 }) else {
            return nil
        }
        self.dimensions = numbers
    }

    public init(from decoder: any Decoder) throws {
        dimensions = try decoder.singleValueContainer().decode([Int].self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(dimensions)
    }
}
