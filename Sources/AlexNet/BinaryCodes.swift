import AlexNetBackends
import AlexNetCore
import CLAPACK

#if canImport(Glibc)
import Glibc
#endif

/// Short binary codes for image features, the paper's proposal for fast retrieval (SPEC.md §5):
/// PCA to the code length, then iterative quantization (ITQ; Gong and Lazebnik, "Iterative
/// Quantization: A Procrustean Approach to Learning Binary Codes", CVPR 2011), which rotates the
/// PCA space so that taking signs loses as little as possible. A code's bit b is 1 when
/// `((x - mean) projection)[b] > 0`; codes are compared by Hamming distance, a popcount of XORed
/// 64-bit words.
///
/// The matrix products go through oneDNN's sgemm, the eigenvectors and SVDs through LAPACK.
public struct BinaryCodes: Sendable {
    /// Bits per code, a multiple of 64.
    public var bits: Int
    public var wordsPerCode: Int { bits / 64 }
    /// The feature mean, `[D]`.
    public var mean: [Float]
    /// `[D, bits]`, row-major: the top principal directions times the ITQ rotation.
    public var projection: [Float]
    /// The codes of the indexed rows, `wordsPerCode` 64-bit words each.
    public var codes: [UInt64]
    /// How the codes were made, for the index's metadata.
    public var method: String

    public init(bits: Int, mean: [Float], projection: [Float], codes: [UInt64], method: String) {
        self.bits = bits
        self.mean = mean
        self.projection = projection
        self.codes = codes
        self.method = method
    }

    /// Learns `bits`-bit codes from `count` rows of `dimension` features and encodes them.
    /// `iterations` of ITQ (50 in the paper); 0 gives plain PCA signs.
    public static func learn(features: [Float], count: Int, dimension: Int, bits: Int, iterations: Int = 50,
                             seed: UInt64 = 0) throws -> BinaryCodes {
        guard bits > 0, bits % 64 == 0 else { throw CodesError("the code length must be a positive multiple of 64, got \(bits)") }
        guard bits <= dimension else { throw CodesError("\(bits)-bit codes need features of at least \(bits) values, these have \(dimension)") }
        guard count >= 2 else { throw CodesError("learning codes needs at least 2 images, got \(count)") }
        singleThreadedLAPACK()
        // The mean and the covariance of the centred features, a block of rows at a time.
        var mean = [Float](repeating: 0, count: dimension)
        var sums = [Double](repeating: 0, count: dimension)
        for row in 0..<count { for d in 0..<dimension { sums[d] += Double(features[row * dimension + d]) } }
        for d in 0..<dimension { mean[d] = Float(sums[d] / Double(count)) }
        var covariance = [Float](repeating: 0, count: dimension * dimension)
        forCentredBlocks(of: features, count: count, dimension: dimension, mean: mean) { block, rows, _ in
            MatrixMultiply.sgemm(transposeA: true, m: dimension, n: dimension, k: rows, alpha: 1 / Float(count - 1),
                                 block, lda: dimension, block, ldb: dimension, beta: 1, &covariance, ldc: dimension)
        }
        // The `bits` eigenvectors of the largest eigenvalues (LAPACK returns them ascending).
        var found: Int32 = 0
        var values = [Float](repeating: 0, count: dimension)
        var vectors = [Float](repeating: 0, count: dimension * bits)
        var support = [Int32](repeating: 0, count: 2 * bits)
        let status = LAPACKE_ssyevr(LAPACK_ROW_MAJOR, CChar(UInt8(ascii: "V")), CChar(UInt8(ascii: "I")), CChar(UInt8(ascii: "U")),
                                    Int32(dimension), &covariance, Int32(dimension), 0, 0,
                                    Int32(dimension - bits + 1), Int32(dimension), 0, &found, &values,
                                    &vectors, Int32(bits), &support)
        guard status == 0, found == bits else { throw CodesError("LAPACK's ssyevr failed (info \(status)) on the \(dimension)x\(dimension) covariance") }
        // V = (X - mean) P, the features in the PCA space.
        var projected = [Float](repeating: 0, count: count * bits)
        forCentredBlocks(of: features, count: count, dimension: dimension, mean: mean) { block, rows, first in
            MatrixMultiply.sgemm(m: rows, n: bits, k: dimension, block, lda: dimension, vectors, ldb: bits,
                                 &projected[first * bits], ldc: bits)
        }
        let rotation = try iterativeQuantization(projected, count: count, bits: bits, iterations: iterations, seed: seed)
        var projection = [Float](repeating: 0, count: dimension * bits)
        MatrixMultiply.sgemm(m: dimension, n: bits, k: bits, vectors, lda: bits, rotation, ldb: bits, &projection, ldc: bits)
        var codes = BinaryCodes(bits: bits, mean: mean, projection: projection, codes: [],
                                method: iterations > 0 ? "PCA + ITQ (\(iterations) iterations)" : "PCA signs")
        codes.codes = codes.encode(features, count: count)
        return codes
    }

    /// The rotation R (`bits x bits`, row-major) that ITQ finds for the PCA-projected rows V:
    /// alternately B = sign(V R), then R from the SVD of B^T V = S Ω Ŝ^T as R = Ŝ S^T, starting
    /// from a random orthogonal matrix.
    static func iterativeQuantization(_ projected: [Float], count: Int, bits: Int, iterations: Int, seed: UInt64) throws -> [Float] {
        let random = Philox(seed: seed, stream: 0x17C0)
        var rotation = (0..<(bits * bits)).map { random.normal(at: UInt64($0)) }
        try orthogonalPolarFactor(&rotation, size: bits)
        guard iterations > 0 else { return rotation }
        var signs = [Float](repeating: 0, count: count * bits)
        var product = [Float](repeating: 0, count: bits * bits)
        for _ in 0..<iterations {
            MatrixMultiply.sgemm(m: count, n: bits, k: bits, projected, lda: bits, rotation, ldb: bits, &signs, ldc: bits)
            for i in signs.indices { signs[i] = signs[i] > 0 ? 1 : -1 }
            // B^T V (bits x bits); with its SVD U Σ W^T, R = W U^T: the transpose of U W^T.
            MatrixMultiply.sgemm(transposeA: true, m: bits, n: bits, k: count, signs, lda: bits, projected, ldb: bits,
                                 &product, ldc: bits)
            try orthogonalPolarFactor(&product, size: bits)
            for i in 0..<bits { for j in 0..<bits { rotation[i * bits + j] = product[j * bits + i] } }
        }
        return rotation
    }

    /// Replaces a square matrix M (row-major) by U W^T from its SVD M = U Σ W^T: the orthogonal
    /// matrix nearest to it.
    static func orthogonalPolarFactor(_ matrix: inout [Float], size: Int) throws {
        var singular = [Float](repeating: 0, count: size), superb = [Float](repeating: 0, count: size)
        var left = [Float](repeating: 0, count: size * size), rightT = [Float](repeating: 0, count: size * size)
        let n = Int32(size)
        let status = LAPACKE_sgesvd(LAPACK_ROW_MAJOR, CChar(UInt8(ascii: "A")), CChar(UInt8(ascii: "A")), n, n, &matrix, n,
                                    &singular, &left, n, &rightT, n, &superb)
        guard status == 0 else { throw CodesError("LAPACK's sgesvd failed (info \(status)) on a \(size)x\(size) matrix") }
        MatrixMultiply.sgemm(m: size, n: size, k: size, left, lda: size, rightT, ldb: size, &matrix, ldc: size)
    }

    /// OpenBLAS's LAPACK (what Debian's alternatives usually pick) starts its own threads per
    /// call, which fight oneDNN's OpenMP threads still spinning after the last sgemm: 50 small
    /// SVDs took 40 s that way and 1 s on one thread. The matrices LAPACK gets here are small
    /// (the work is in the sgemms), so it runs on one thread when it is OpenBLAS.
    private static func singleThreadedLAPACK() {
        typealias SetThreads = @convention(c) (Int32) -> Void
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "openblas_set_num_threads") else { return }
        unsafeBitCast(symbol, to: SetThreads.self)(1)
    }

    /// Calls `body(block, rows, firstRow)` on blocks of at most 4096 centred rows.
    private static func forCentredBlocks(of features: [Float], count: Int, dimension: Int, mean: [Float],
                                         _ body: (UnsafePointer<Float>, Int, Int) -> Void) {
        let blockRows = 4096
        var block = [Float](repeating: 0, count: min(blockRows, count) * dimension)
        for first in stride(from: 0, to: count, by: blockRows) {
            let rows = min(blockRows, count - first)
            for r in 0..<rows {
                for d in 0..<dimension { block[r * dimension + d] = features[(first + r) * dimension + d] - mean[d] }
            }
            block.withUnsafeBufferPointer { body($0.baseAddress!, rows, first) }
        }
    }

    /// The codes of `count` rows of features, `wordsPerCode` 64-bit words per row.
    public func encode(_ features: [Float], count: Int) -> [UInt64] {
        let dimension = mean.count
        precondition(features.count == count * dimension, "BinaryCodes.encode: \(features.count) values for \(count) rows of \(dimension)")
        var words = [UInt64](repeating: 0, count: count * wordsPerCode)
        // (x - mean) P = x P - mean P: the rows go to the sgemm as they are, the mean's share
        // is subtracted per bit.
        var offset = [Float](repeating: 0, count: bits)
        MatrixMultiply.sgemm(m: 1, n: bits, k: dimension, mean, lda: dimension, projection, ldb: bits, &offset, ldc: bits)
        let blockRows = 4096
        var scores = [Float](repeating: 0, count: min(blockRows, max(count, 1)) * bits)
        features.withUnsafeBufferPointer { features in
            for first in stride(from: 0, to: count, by: blockRows) {
                let rows = min(blockRows, count - first)
                MatrixMultiply.sgemm(m: rows, n: bits, k: dimension, features.baseAddress! + first * dimension, lda: dimension,
                                     projection, ldb: bits, &scores, ldc: bits)
                for r in 0..<rows {
                    for b in 0..<bits where scores[r * bits + b] > offset[b] {
                        words[(first + r) * wordsPerCode + b / 64] |= 1 << UInt64(b % 64)
                    }
                }
            }
        }
        return words
    }
}

/// Codes that cannot be learnt, with why.
public struct CodesError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
