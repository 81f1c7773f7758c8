import AlexNetBackends
import Dispatch

/// One found row of an index and how far it is from the query.
public struct Neighbor: Sendable, Equatable, Encodable {
    /// The row in the index.
    public var row: Int
    /// Euclidean distance, 1 - cosine similarity, or Hamming distance, by the search.
    public var distance: Float

    public init(row: Int, distance: Float) {
        self.row = row
        self.distance = distance
    }
}

/// How feature vectors are compared: Euclidean distance (the paper's) or cosine.
public enum DistanceMetric: String, CaseIterable, Sendable, Encodable {
    case euclidean, cosine
}

/// Exact and binary-code nearest-neighbour search over a `FeatureIndex`.
///
/// Exact search is one matrix product per block of queries: for Euclidean distance
/// |q - x|² = |q|² - 2 q·x + |x|², with q·x for every query and row from oneDNN's sgemm and |x|²
/// computed once; for cosine, the rows are scaled to unit length once and 1 - q·x ranks them.
/// Binary search ranks by Hamming distance (a popcount of XORed 64-bit words) and can re-rank
/// its best candidates by the exact distance.
public final class NeighborSearch: @unchecked Sendable {
    public let index: FeatureIndex
    public let metric: DistanceMetric
    /// The rows the products are taken with (unit rows for cosine).
    private let rows: [Float]
    /// |x|² per row (Euclidean).
    private let squaredNorms: [Float]
    /// Queries per matrix product: bounds the scores' memory to `block x count` floats.
    private let block = 256

    public init(index: FeatureIndex, metric: DistanceMetric = .euclidean) {
        self.index = index
        self.metric = metric
        let d = index.dimension
        var norms = [Float](repeating: 0, count: index.count)
        index.features.withUnsafeBufferPointer { features in
            norms.withUnsafeMutableBufferPointer { norms in
                let (x, out, n) = (Shared(features.baseAddress!), Shared(norms.baseAddress!), norms.count)
                DispatchQueue.concurrentPerform(iterations: 8) { part in
                    for row in stride(from: part, to: n, by: 8) { out[row] = Self.dot(x.pointer + row * d, x.pointer + row * d, d) }
                }
            }
        }
        squaredNorms = norms
        rows = metric == .cosine ? Self.unitRows(index.features, dimension: d) : index.features
    }

    /// Each row scaled to unit length (zero rows stay zero).
    static func unitRows(_ features: [Float], dimension d: Int) -> [Float] {
        var unit = features
        for row in 0..<(features.count / max(d, 1)) {
            let sum = features.withUnsafeBufferPointer { dot($0.baseAddress! + row * d, $0.baseAddress! + row * d, d) }
            let scale = sum > 0 ? 1 / sum.squareRoot() : 0
            for j in (row * d)..<((row + 1) * d) { unit[j] *= scale }
        }
        return unit
    }

    /// The dot product of `n` floats, sixteen lanes at a time (a plain loop is not vectorised:
    /// it would change the order of the additions).
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var lanes = SIMD16<Float>()
        var j = 0
        while j + 16 <= n {
            lanes += UnsafeRawPointer(a + j).loadUnaligned(as: SIMD16<Float>.self) * UnsafeRawPointer(b + j).loadUnaligned(as: SIMD16<Float>.self)
            j += 16
        }
        var sum = lanes.sum()
        while j < n { sum += a[j] * b[j]; j += 1 }
        return sum
    }

    /// The `k` nearest rows of each of `count` queries (`dimension` floats each, end to end),
    /// nearest first (ties by row). `excluding[q]`, when given, is a row left out of query q's
    /// results (a query taken from the index itself).
    public func exact(_ queries: [Float], count: Int, k: Int, excluding: [Int?]? = nil) -> [[Neighbor]] {
        let d = index.dimension, n = index.count
        precondition(queries.count == count * d, "NeighborSearch.exact: \(queries.count) values for \(count) queries of \(d)")
        let queries = metric == .cosine ? Self.unitRows(queries, dimension: d) : queries
        var results = [[Neighbor]](repeating: [], count: count)
        var scores = [Float](repeating: 0, count: min(block, max(count, 1)) * n)
        for first in stride(from: 0, to: count, by: block) {
            let m = min(block, count - first)
            // scores = -2 Q X^T (Euclidean) or -Q X^T (cosine), then per row the norms or 1 are added.
            queries.withUnsafeBufferPointer { q in
                MatrixMultiply.sgemm(transposeB: true, m: m, n: n, k: d, alpha: metric == .cosine ? -1 : -2,
                                     q.baseAddress! + first * d, lda: d, rows, ldb: d, &scores, ldc: n)
            }
            scores.withUnsafeBufferPointer { scores in
                results.withUnsafeMutableBufferPointer { results in
                    let (scores, results) = (Shared(scores.baseAddress!), Shared(results.baseAddress!))
                    DispatchQueue.concurrentPerform(iterations: m) { r in
                        let query = first + r
                        var selection = TopK(k: k)
                        let line = scores.pointer + r * n
                        let skip = excluding?[query] ?? -1
                        if metric == .cosine {
                            for j in 0..<n where j != skip { selection.offer(1 + line[j], row: j) }
                        } else {
                            let queryNorm = queries.withUnsafeBufferPointer { Self.dot($0.baseAddress! + query * d, $0.baseAddress! + query * d, d) }
                            for j in 0..<n where j != skip { selection.offer(queryNorm + line[j] + squaredNorms[j], row: j) }
                        }
                        results[query] = selection.sorted().map { Neighbor(row: $0.row, distance: self.reported($0.distance)) }
                    }
                }
            }
        }
        return results
    }

    /// The distance users see: the square root of the squared Euclidean distance.
    private func reported(_ score: Float) -> Float {
        metric == .euclidean ? max(score, 0).squareRoot() : score
    }

    /// The `k` nearest rows by Hamming distance between binary codes (`index.codes` must
    /// exist). With `rerank` > 0, the best `max(rerank, k)` by Hamming distance are ordered by
    /// the exact distance instead, and distances are exact; otherwise they are bit counts.
    public func hamming(_ queries: [Float], count: Int, k: Int, rerank: Int = 0, excluding: [Int?]? = nil) -> [[Neighbor]] {
        guard let codes = index.codes else { preconditionFailure("NeighborSearch.hamming: the index has no binary codes") }
        let d = index.dimension, n = index.count, words = codes.wordsPerCode
        let queryCodes = codes.encode(queries, count: count)
        let candidates = rerank > 0 ? max(rerank, k) : k
        var results = [[Neighbor]](repeating: [], count: count)
        let unitQueries = metric == .cosine ? Self.unitRows(queries, dimension: d) : queries
        let group = 8
        codes.codes.withUnsafeBufferPointer { table in
            queryCodes.withUnsafeBufferPointer { queryCodes in
                results.withUnsafeMutableBufferPointer { results in
                    let (table, queryCodes, results) = (Shared(table.baseAddress!), Shared(queryCodes.baseAddress!), Shared(results.baseAddress!))
                    DispatchQueue.concurrentPerform(iterations: (count + group - 1) / group) { task in
                        let first = task * group, size = min(group, count - first)
                        let skips = (first..<(first + size)).map { excluding?[$0] ?? -1 }
                        let found = Self.nearestCodes(to: queryCodes.pointer + first * words, queries: size, in: table.pointer, count: n,
                                                      words: words, k: candidates, skip: skips)
                        for (offset, neighbors) in found.enumerated() {
                            let query = first + offset
                            results[query] = rerank > 0
                                ? self.exactOrder(of: neighbors.map(\.row), query: unitQueries[(query * d)..<((query + 1) * d)], k: k)
                                : neighbors
                        }
                    }
                }
            }
        }
        return results
    }

    /// The `k` codes of `table` (`count` codes of `words` words) nearest to each of `queries`
    /// codes by Hamming distance, ties by row, leaving out row `skip[q]` for query q. The table
    /// is read in blocks that stay in cache while every query of the group scans them (256-bit
    /// codes two queries at a time); each query keeps its best `k` in a heap and rejects a row
    /// with one comparison against the worst it keeps (rows come in order, so an equal distance
    /// never displaces one), most rows already after the first half of their words: once the
    /// heap holds close codes, half the bits of a far one differ in more places than the whole
    /// of the worst kept.
    static func nearestCodes(to query: UnsafePointer<UInt64>, queries: Int, in table: UnsafePointer<UInt64>, count: Int, words: Int,
                             k: Int, skip: [Int]) -> [[Neighbor]] {
        var heaps = (0..<queries).map { _ in TopK(k: k) }
        var bounds = [Int](repeating: Int.max, count: queries)
        let blockRows = 2048
        for blockStart in stride(from: 0, to: count, by: blockRows) {
            let blockEnd = min(count, blockStart + blockRows)
            func keep(_ q: Int, _ distance: Int, _ row: Int) {
                guard row != skip[q] else { return }
                heaps[q].offer(Float(distance), row: row)
                if heaps[q].heap.count == k { bounds[q] = Int(heaps[q].heap[0].distance) }
            }
            var q = 0
            while q < queries {
                if words == 4 && q + 1 < queries {
                    // 256-bit codes, two queries per pass: each table word is loaded once for both.
                    let (a, b) = (query + q * 4, query + (q + 1) * 4)
                    let (a0, a1, a2, a3, b0, b1, b2, b3) = (a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3])
                    var row = blockStart
                    var entry = table + row &* 4
                    while row < blockEnd {
                        let (boundA, boundB) = (bounds[q], bounds[q + 1])
                        var hit = -1, distanceA = 0, distanceB = 0
                        while row < blockEnd {
                            let (e0, e1) = (entry[0], entry[1])
                            distanceA = (a0 ^ e0).nonzeroBitCount &+ (a1 ^ e1).nonzeroBitCount
                            distanceB = (b0 ^ e0).nonzeroBitCount &+ (b1 ^ e1).nonzeroBitCount
                            row &+= 1
                            entry += 4
                            // Half the bits already reach both bounds for most rows: skip the rest.
                            guard distanceA < boundA || distanceB < boundB else { continue }
                            let (e2, e3) = (entry[-2], entry[-1])
                            distanceA &+= (a2 ^ e2).nonzeroBitCount &+ (a3 ^ e3).nonzeroBitCount
                            distanceB &+= (b2 ^ e2).nonzeroBitCount &+ (b3 ^ e3).nonzeroBitCount
                            if distanceA < boundA || distanceB < boundB { hit = row - 1; break }
                        }
                        guard hit >= 0 else { break }
                        if distanceA < boundA { keep(q, distanceA, hit) }
                        if distanceB < boundB { keep(q + 1, distanceB, hit) }
                    }
                    q += 2
                    continue
                }
                // Any code length, one query: scan until a row beats the worst kept, keep it,
                // go on from the next row.
                let code = query + q * words
                var row = blockStart
                while row < blockEnd {
                    let bound = bounds[q]
                    var hit = -1, hitDistance = 0
                    let half = words / 2
                    while row < blockEnd {
                        let entry = table + row * words
                        var distance = 0
                        for w in 0..<half { distance &+= (code[w] ^ entry[w]).nonzeroBitCount }
                        row += 1
                        // Half the bits already reach the bound for most rows: skip the rest.
                        guard distance < bound else { continue }
                        for w in half..<words { distance &+= (code[w] ^ entry[w]).nonzeroBitCount }
                        if distance < bound { (hit, hitDistance) = (row - 1, distance); break }
                    }
                    guard hit >= 0 else { break }
                    keep(q, hitDistance, hit)
                }
                q += 1
            }
        }
        return heaps.map { $0.sorted().map { Neighbor(row: $0.row, distance: $0.distance) } }
    }

    /// `candidates` ordered by the exact distance to `query`, the first `k`.
    private func exactOrder(of candidates: [Int], query: ArraySlice<Float>, k: Int) -> [Neighbor] {
        let d = index.dimension
        var selection = TopK(k: k)
        rows.withUnsafeBufferPointer { x in
            query.withUnsafeBufferPointer { q in
                let queryNorm = Self.dot(q.baseAddress!, q.baseAddress!, d)
                for row in candidates {
                    let dot = Self.dot(q.baseAddress!, x.baseAddress! + row * d, d)
                    selection.offer(metric == .cosine ? 1 - dot : queryNorm - 2 * dot + squaredNorms[row], row: row)
                }
            }
        }
        return selection.sorted().map { Neighbor(row: $0.row, distance: reported($0.distance)) }
    }
}

/// A pointer the threads of one `concurrentPerform` share, each touching its own elements.
struct Shared<Element>: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Element>
    init(_ pointer: UnsafeMutablePointer<Element>) { self.pointer = pointer }
    init(_ pointer: UnsafePointer<Element>) { self.pointer = UnsafeMutablePointer(mutating: pointer) }
    subscript(index: Int) -> Element {
        get { pointer[index] }
        nonmutating set { pointer[index] = newValue }
    }
}

/// The `k` smallest (distance, row) pairs offered, ties broken by the smaller row: a max-heap
/// of `k` entries whose top is the worst kept.
struct TopK {
    let k: Int
    private(set) var heap: [(distance: Float, row: Int)] = []

    init(k: Int) {
        self.k = max(k, 0)
        heap.reserveCapacity(self.k)
    }

    private static func worse(_ a: (distance: Float, row: Int), _ b: (distance: Float, row: Int)) -> Bool {
        a.distance > b.distance || (a.distance == b.distance && a.row > b.row)
    }

    mutating func offer(_ distance: Float, row: Int) {
        let entry = (distance: distance, row: row)
        if heap.count < k {
            heap.append(entry)
            var child = heap.count - 1
            while child > 0 {
                let parent = (child - 1) / 2
                guard Self.worse(heap[child], heap[parent]) else { break }
                heap.swapAt(child, parent)
                child = parent
            }
        } else if k > 0, Self.worse(heap[0], entry) {
            heap[0] = entry
            var parent = 0
            while true {
                let left = 2 * parent + 1, right = left + 1
                var largest = parent
                if left < k, Self.worse(heap[left], heap[largest]) { largest = left }
                if right < k, Self.worse(heap[right], heap[largest]) { largest = right }
                guard largest != parent else { break }
                heap.swapAt(parent, largest)
                parent = largest
            }
        }
    }

    /// The kept pairs, nearest first.
    func sorted() -> [(distance: Float, row: Int)] { heap.sorted { Self.worse($1, $0) } }
}
