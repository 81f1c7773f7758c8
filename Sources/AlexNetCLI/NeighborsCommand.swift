import AlexNet
import ArgumentParser
import FoundationEssentials

/// `alexnet neighbors`: the images of an index nearest to query images, by their features.
struct NeighborsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "neighbors",
        abstract: "Find the images of a feature index nearest to query images (the paper's Figure 4, right).",
        discussion: """
            Queries are image files (their features computed with --checkpoint or --weights, \
            which must be the model and layer the index was made with: its weights' fingerprint \
            is checked) or rows of the index itself (--query-index, which leaves the query out of \
            its own results).

            Exact search ranks by Euclidean distance (the paper's measure) or --metric cosine, \
            as one matrix product of the queries against the whole index (oneDNN's sgemm). \
            --codes ranks by the Hamming distance between the index's binary codes (made by \
            `alexnet features --codes`), a popcount of 64-bit words; --rerank R orders the R \
            best of those by the exact distance.

            --evaluate QUERIES.safetensors measures retrieval instead: every image of another \
            index (of the same model and layer, e.g. the test split) searches this one; a found \
            image counts when it has the query's label. It prints the precision at 10, the mean \
            average precision of the --depth nearest (mAP@1000 by default), and queries per \
            second, for exact search and, where the index has codes, for codes alone and \
            re-ranked.

            Examples:
              alexnet neighbors --index train.safetensors --checkpoint runs/quick/best.safetensors shoe.png --out grid.png
              alexnet neighbors --index train.safetensors --query-index 0 --query-index 7 --k 6 --out grid.png
              alexnet neighbors --index train.safetensors --evaluate test.safetensors
            """)

    @Option(help: ArgumentHelp("A feature index from `alexnet features`.", valueName: "file")) var index: String
    @OptionGroup var model: TrainedModelOptions
    @OptionGroup var compute: ComputeOptions
    @Argument(help: ArgumentHelp("Query images (JPEG or PNG).", valueName: "image")) var images: [String] = []
    @Option(name: .customLong("query-index"), parsing: .singleValue, help: ArgumentHelp("A row of the index to use as a query (repeatable).", valueName: "row"))
    var queryRows: [Int] = []
    @Option(parsing: .unconditional, help: "Neighbours per query.") var k = 8
    @Option(help: ArgumentHelp("euclidean or cosine.", valueName: "metric")) var metric = DistanceMetric.euclidean.rawValue
    @Flag(help: "Rank by the Hamming distance of the index's binary codes.") var codes = false
    @Option(parsing: .unconditional, help: ArgumentHelp("With --codes: re-rank this many best candidates by the exact distance (0: none).", valueName: "n"))
    var rerank = 0
    @Option(help: ArgumentHelp("Measure retrieval with every row of this index as a query.", valueName: "file")) var evaluate: String?
    @Option(parsing: .unconditional, help: "With --evaluate: how many neighbours the mean average precision looks at.") var depth = 1000
    @Option(parsing: .unconditional, help: "With --evaluate: only the first N queries.") var limit: Int?
    @Option(help: ArgumentHelp("Draw each query with its neighbours into this PNG.", valueName: "file")) var out: String?
    @Flag(help: "Print the results as JSON.") var json = false

    func validate() throws {
        guard DistanceMetric(rawValue: metric) != nil else { throw ValidationError("--metric must be euclidean or cosine, got \(metric)") }
        if k <= 0 { throw ValidationError("--k must be positive, got \(k)") }
        if depth <= 0 { throw ValidationError("--depth must be positive, got \(depth)") }
        if rerank < 0 { throw ValidationError("--rerank must be 0 or more, got \(rerank)") }
        if rerank > 0 && !codes && evaluate == nil { throw ValidationError("--rerank goes with --codes") }
        if let limit, limit <= 0 { throw ValidationError("--limit must be positive, got \(limit)") }
        if evaluate == nil, images.isEmpty, queryRows.isEmpty {
            throw ValidationError("give query images (with --checkpoint or --weights), --query-index N, or --evaluate FILE")
        }
        if !images.isEmpty, !model.isGiven { throw ValidationError("query images need the model of the index: give --checkpoint or --weights") }
    }

    struct Result: Encodable {
        var query: String
        var label: String?
        var neighbors: [Found]
    }

    struct Found: Encodable {
        var row: Int
        var label: String
        var distance: Float
        var image: String
    }

    func run() throws {
        let start = ProgressDisplay.seconds()
        let features = try FeatureIndex(path: index)
        let metric = DistanceMetric(rawValue: metric)!
        if codes, features.codes == nil {
            throw CLIError("\(index) has no binary codes: make it with `alexnet features ... --codes 256`")
        }
        let search = NeighborSearch(index: features, metric: metric)
        ProgressDisplay().note("\(index): \(features.count) images, \(features.dimension) features of \(features.layer) "
            + String(format: "(loaded in %.1f s)", ProgressDisplay.seconds() - start))
        if let evaluate { return try runEvaluation(search: search, queriesPath: evaluate) }

        var queries: [Float] = [], names: [String] = [], labels: [String?] = [], excluded: [Int?] = [], pictures: [Image] = []
        for row in queryRows {
            guard (0..<features.count).contains(row) else { throw CLIError("--query-index \(row) is outside the index's rows 0..<\(features.count)") }
            queries += features.row(row)
            names.append("index row \(row)")
            labels.append(features.classNames[features.labels[row]])
            excluded.append(row)
        }
        if !images.isEmpty {
            let extractor = try extractor(for: features)
            let decoded = try images.map { try ImageCodec.read(path: $0) }
            queries += try extractor.features(of: decoded, sources: images)
            names += images
            labels += images.map { _ in nil }
            excluded += images.map { _ in nil }
            pictures = decoded
        }
        let available = features.count - (queryRows.isEmpty ? 0 : 1)
        guard k <= available else {
            throw CLIError("--k \(k) is more than the \(available) images the index can return")
        }
        let searchStart = ProgressDisplay.seconds()
        let found = codes
            ? search.hamming(queries, count: names.count, k: k, rerank: rerank, excluding: excluded)
            : search.exact(queries, count: names.count, k: k, excluding: excluded)
        let searchSeconds = ProgressDisplay.seconds() - searchStart
        let images = IndexImages(features)
        let results = zip(names, zip(labels, found)).map { name, pair in
            Result(query: name, label: pair.0, neighbors: pair.1.map {
                Found(row: $0.row, label: features.classNames[features.labels[$0.row]], distance: $0.distance, image: images.name(of: $0.row))
            })
        }
        if let out {
            var rows: [[NeighborFigure.Tile]] = []
            for (q, result) in results.enumerated() {
                let picture = q < queryRows.count ? try images.image(queryRows[q]) : pictures[q - queryRows.count]
                var row = [NeighborFigure.Tile(image: picture, label: result.label ?? "query", note: result.label == nil ? "" : "query")]
                for neighbor in result.neighbors {
                    row.append(NeighborFigure.Tile(image: try images.image(neighbor.row), label: neighbor.label,
                                                   note: String(format: codes && rerank == 0 ? "%.0f bits" : "d %.2f", neighbor.distance),
                                                   isMismatch: result.label.map { $0 != neighbor.label } ?? false))
                }
                rows.append(row)
            }
            try AtomicFile.write(bytes: NeighborFigure.png(rows), to: out)
        }
        if json {
            print(try AlexNetCLI.json(results))
        } else {
            for result in results {
                print(result.query + (result.label.map { " (\($0))" } ?? ""))
                for (rank, neighbor) in result.neighbors.enumerated() {
                    print(String(format: "  %2d. %8.3f  ", rank + 1, neighbor.distance) + "\(neighbor.label)  \(neighbor.image)")
                }
            }
            let method = codes ? "\(features.codes!.bits)-bit codes" + (rerank > 0 ? ", top \(rerank) re-ranked" : "") : "exact \(metric.rawValue)"
            print("searched \(features.count) images for \(names.count) quer\(names.count == 1 ? "y" : "ies") in "
                + String(format: "%.1f ms", searchSeconds * 1000) + " (\(method))")
        }
    }

    /// A feature extractor of the given model for the index's layer, refused when its weights
    /// are not those the index was made with.
    private func extractor(for features: FeatureIndex) throws -> FeatureExtractor {
        let trained = try model.load()
        let extractor = try FeatureExtractor(model: trained, layer: features.layer, backend: try compute.make(), batchSize: 16)
        guard extractor.fingerprint == features.fingerprint, extractor.dimension == features.dimension else {
            throw CLIError("\(index) holds features of \(features.layer) made with other weights than \(model.path)'s "
                + "(fingerprints \(features.fingerprint.prefix(12)) and \(extractor.fingerprint.prefix(12))): "
                + "make the index with this model, `alexnet features --checkpoint \(model.path) ...`")
        }
        return extractor
    }

    private func runEvaluation(search: NeighborSearch, queriesPath: String) throws {
        let features = search.index
        var queries = try FeatureIndex(path: queriesPath)
        guard queries.fingerprint == features.fingerprint, queries.layer == features.layer, queries.dimension == features.dimension else {
            throw CLIError("\(queriesPath) holds features of \(queries.layer) (\(queries.dimension) values, weights \(queries.fingerprint.prefix(12))), "
                + "\(index) of \(features.layer) (\(features.dimension) values, weights \(features.fingerprint.prefix(12))): "
                + "both must come from the same model and layer")
        }
        if let limit, limit < queries.count {
            queries = FeatureIndex(features: Array(queries.features[..<(limit * queries.dimension)]), labels: Array(queries.labels[..<limit]),
                                   dimension: queries.dimension, layer: queries.layer, network: queries.network,
                                   fingerprint: queries.fingerprint, data: queries.data, split: queries.split, classNames: queries.classNames)
        }
        let depth = min(self.depth, features.count)
        var reports = [RetrievalQuality.measure(method: "exact \(search.metric.rawValue)", queries: queries, indexLabels: features.labels, depth: depth) {
            search.exact($0, count: $1, k: $2)
        }]
        if let codes = features.codes {
            reports.append(RetrievalQuality.measure(method: "\(codes.bits)-bit codes", queries: queries, indexLabels: features.labels, depth: depth) {
                search.hamming($0, count: $1, k: $2)
            })
            let rerank = self.rerank > 0 ? self.rerank : max(depth, 500)
            reports.append(RetrievalQuality.measure(method: "\(codes.bits)-bit codes, top \(rerank) re-ranked", queries: queries,
                                                    indexLabels: features.labels, depth: depth) {
                search.hamming($0, count: $1, k: $2, rerank: rerank)
            })
        }
        if json {
            print(try AlexNetCLI.json(reports))
            return
        }
        print("\(queries.count) queries from \(queriesPath) against \(features.count) images of \(index) (\(features.layer), \(features.dimension) values):")
        print("method                                  P@10   mAP@\(depth)    queries/s")
        for report in reports {
            print(report.method.padding(toLength: 36, withPad: " ", startingAt: 0)
                + String(format: "  %6.2f%%  %6.2f%%  %10.0f", report.precisionAt10 * 100, report.meanAveragePrecision * 100, report.queriesPerSecond))
        }
    }
}

/// The images behind an index's rows: its image files, or the rows of its dataset split
/// (opened on first use).
final class IndexImages {
    private let index: FeatureIndex
    private var source: (any ImageSource)?

    init(_ index: FeatureIndex) { self.index = index }

    func name(of row: Int) -> String { index.paths?[row] ?? "\(index.data) \(index.split) row \(row)" }

    func image(_ row: Int) throws -> Image {
        if let paths = index.paths { return try ImageCodec.read(path: paths[row]) }
        if source == nil {
            source = try Datasets.open(index.data).named(index.split)
        }
        guard let source else { throw CLIError("\(index.data) has no \(index.split) split to show row \(row) from") }
        return try source.image(at: row)
    }
}
