import AlexNetCore

/// Per-channel statistics of a dataset's pixels (scaled to [0, 1]), and for RGB data the
/// eigen-decomposition of the 3x3 channel covariance that the paper's PCA lighting uses
/// (SPEC.md section 3).
public struct DatasetStatistics: Codable, Sendable, Equatable {
    public var source: String
    public var images: Int
    public var pixels: Int
    public var mean: [Double]
    public var std: [Double]
    /// Row-major channels x channels covariance.
    public var covariance: [Double]
    /// Eigenvalues, largest first (RGB only).
    public var eigenvalues: [Double]?
    /// Eigenvectors as the columns of a row-major 3x3 matrix, matching `eigenvalues`.
    public var eigenvectors: [Double]?

    /// Accumulates over every image of `source` (as decoded, at its own size), calling
    /// `progress(done, total)` now and then.
    public static func compute(_ source: any ImageSource, channels: Int,
                               skipping: ((Int, DataError) -> Void)? = nil,
                               progress: (Int, Int) -> Void = { _, _ in }) throws(DataError) -> DatasetStatistics {
        var sums = [Double](repeating: 0, count: channels)
        var products = [Double](repeating: 0, count: channels * channels)
        var count = 0
        for index in 0..<source.count {
            guard let decoded = try source.image(at: index, skipping: skipping) else { continue }
            let image = decoded.withChannels(channels)
            var localSums = [Double](repeating: 0, count: channels)
            var localProducts = [Double](repeating: 0, count: channels * channels)
            image.pixels.withUnsafeBufferPointer { p in
                for pixel in 0..<(image.width * image.height) {
                    for a in 0..<channels {
                        let x = Double(p[pixel * channels + a]) / 255
                        localSums[a] += x
                        for b in a..<channels { localProducts[a * channels + b] += x * Double(p[pixel * channels + b]) / 255 }
                    }
                }
            }
            for a in 0..<channels {
                sums[a] += localSums[a]
                for b in a..<channels { products[a * channels + b] += localProducts[a * channels + b] }
            }
            count += image.width * image.height
            if index % 1000 == 999 || index == source.count - 1 { progress(index + 1, source.count) }
        }
        let n = Double(max(count, 1))
        let mean = sums.map { $0 / n }
        var covariance = [Double](repeating: 0, count: channels * channels)
        for a in 0..<channels {
            for b in a..<channels {
                covariance[a * channels + b] = products[a * channels + b] / n - mean[a] * mean[b]
                covariance[b * channels + a] = covariance[a * channels + b]
            }
        }
        var statistics = DatasetStatistics(
            source: source.name, images: source.count, pixels: count, mean: mean,
            std: (0..<channels).map { covariance[$0 * channels + $0].squareRoot() }, covariance: covariance)
        if channels == 3 {
            let (values, vectors) = Self.symmetricEigen3(covariance)
            statistics.eigenvalues = values
            statistics.eigenvectors = vectors
        }
        return statistics
    }

    /// Eigenvalues (descending) and eigenvectors (columns) of a symmetric 3x3 matrix, by
    /// cyclic Jacobi rotations.
    public static func symmetricEigen3(_ matrix: [Double]) -> (values: [Double], vectors: [Double]) {
        var a = matrix
        var v: [Double] = [1, 0, 0, 0, 1, 0, 0, 0, 1]
        for _ in 0..<50 {
            let off = a[1] * a[1] + a[2] * a[2] + a[5] * a[5]
            if off < 1e-30 { break }
            for (p, q) in [(0, 1), (0, 2), (1, 2)] where abs(a[p * 3 + q]) > 1e-300 {
                let theta = (a[q * 3 + q] - a[p * 3 + p]) / (2 * a[p * 3 + q])
                let t = (theta >= 0 ? 1.0 : -1.0) / (abs(theta) + (theta * theta + 1).squareRoot())
                let c = 1 / (t * t + 1).squareRoot(), s = t * c
                for k in 0..<3 {  // A <- A J (columns p, q)
                    let (akp, akq) = (a[k * 3 + p], a[k * 3 + q])
                    a[k * 3 + p] = c * akp - s * akq
                    a[k * 3 + q] = s * akp + c * akq
                }
                for k in 0..<3 {  // A <- J^T A (rows p, q)
                    let (apk, aqk) = (a[p * 3 + k], a[q * 3 + k])
                    a[p * 3 + k] = c * apk - s * aqk
                    a[q * 3 + k] = s * apk + c * aqk
                }
                for k in 0..<3 {  // V <- V J
                    let (vkp, vkq) = (v[k * 3 + p], v[k * 3 + q])
                    v[k * 3 + p] = c * vkp - s * vkq
                    v[k * 3 + q] = s * vkp + c * vkq
                }
            }
        }
        let order = [0, 1, 2].sorted { a[$0 * 3 + $0] > a[$1 * 3 + $1] }
        let values = order.map { a[$0 * 3 + $0] }
        var vectors = [Double](repeating: 0, count: 9)
        for (column, source) in order.enumerated() { for row in 0..<3 { vectors[row * 3 + column] = v[row * 3 + source] } }
        return (values, vectors)
    }
}
