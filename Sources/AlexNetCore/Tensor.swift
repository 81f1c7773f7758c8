/// A float32 tensor on the host: a row-major (C order) array of scalars and its full shape,
/// batch dimension included (`[N, C, H, W]` or `[N, F]`).
///
/// This is the currency of the reference math and of tests. Backends keep their own buffers;
/// they copy to and from `Tensor` only at their edges.
public struct Tensor: Equatable, Sendable, CustomStringConvertible {
    public var shape: [Int]
    public var scalars: [Float]

    public init(shape: [Int], scalars: [Float]) {
        precondition(
            shape.reduce(1, *) == scalars.count,
            "Tensor: shape \(shape) needs \(shape.reduce(1, *)) scalars, got \(scalars.count)")
        self.shape = shape
        self.scalars = scalars
    }

    public init(zeros shape: [Int]) {
        self.init(shape: shape, scalars: Array(repeating: 0, count: shape.reduce(1, *)))
    }

    public init(shape: [Int], repeating value: Float) {
        self.init(shape: shape, scalars: Array(repeating: value, count: shape.reduce(1, *)))
    }

    /// Uniform values in [low, high) from a seeded counter-based generator.
    public init(randomUniform shape: [Int], low: Float = -1, high: Float = 1, seed: UInt64) {
        let count = shape.reduce(1, *)
        let rng = Philox(seed: seed)
        self.init(
            shape: shape,
            scalars: (0..<count).map { low + (high - low) * rng.uniform(at: UInt64($0)) })
    }

    public var count: Int { scalars.count }
    /// The leading (batch) dimension.
    public var batchSize: Int { shape.first ?? 1 }

    public func reshaped(to newShape: [Int]) -> Tensor { Tensor(shape: newShape, scalars: scalars) }

    public var description: String {
        let head = scalars.prefix(6).map { String($0) }.joined(separator: ", ")
        return "Tensor(\(shape), [\(head)\(scalars.count > 6 ? ", ..." : "")])"
    }
}
