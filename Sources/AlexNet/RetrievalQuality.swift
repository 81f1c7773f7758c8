import Dispatch

/// How well a search finds images of the query's class, as retrieval papers measure it: every
/// image of a labelled query set searches the index; a found image is relevant when its label
/// is the query's.
public struct RetrievalQuality: Sendable, Encodable {
    /// "exact euclidean", "256-bit codes", "256-bit codes, top 500 re-ranked".
    public var method: String
    public var queries: Int
    /// The mean share of relevant images among the 10 nearest.
    public var precisionAt10: Double
    /// The mean over queries of the average precision of the `depth` nearest: the mean of the
    /// precision at each rank where a relevant image is found (mAP@depth).
    public var meanAveragePrecision: Double
    public var depth: Int
    /// The search alone (query codes included, feature extraction not), over all queries, after
    /// a warm-up search of a few.
    public var seconds: Double
    public var queriesPerSecond: Double { Double(queries) / max(seconds, 1e-9) }

    /// Searches an index labelled `indexLabels` (through `search(features, count, k)`) with
    /// every row of `queries`, `depth` neighbours each.
    public static func measure(method: String, queries: FeatureIndex, indexLabels: [Int], depth: Int = 1000,
                               search: ([Float], Int, Int) -> [[Neighbor]]) -> RetrievalQuality {
        // One small search first: oneDNN generates its sgemm kernels on first use, once per
        // process, and that belongs to no query.
        let warmUp = min(4, queries.count)
        _ = search(Array(queries.features[..<(warmUp * queries.dimension)]), warmUp, depth)
        let start = DispatchTime.now().uptimeNanoseconds
        let found = search(queries.features, queries.count, depth)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return RetrievalQuality(method: method, queries: queries.count, labels: queries.labels, found: found, depth: depth,
                                seconds: seconds, indexLabels: indexLabels)
    }

    /// The scores of `found[q]` (rows of an index whose labels are `indexLabels`) for queries
    /// labelled `labels`.
    public init(method: String, queries: Int, labels: [Int], found: [[Neighbor]], depth: Int, seconds: Double, indexLabels: [Int]) {
        self.method = method
        self.queries = queries
        self.depth = depth
        self.seconds = seconds
        var precision = 0.0, averagePrecision = 0.0
        for (query, neighbors) in found.enumerated() {
            var relevant = 0, sum = 0.0
            for (rank, neighbor) in neighbors.prefix(depth).enumerated() where indexLabels[neighbor.row] == labels[query] {
                relevant += 1
                sum += Double(relevant) / Double(rank + 1)
                if rank < 10 { precision += 0.1 }
            }
            averagePrecision += relevant > 0 ? sum / Double(relevant) : 0
        }
        precisionAt10 = precision / Double(max(queries, 1))
        meanAveragePrecision = averagePrecision / Double(max(queries, 1))
    }
}
