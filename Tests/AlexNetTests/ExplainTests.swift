@testable import AlexNet
import Foundation
import Testing

/// A small gray network with two convolutions and a hidden dense layer, written as a checkpoint.
enum ExplainFixture {
    static let networkText = """
        name: tiny-explain
        input: 1x16x16

        conv1    conv     out=4 kernel=3 pad=1
        relu1    relu
        pool1    maxpool  kernel=2 stride=2
        conv2    conv     out=6 kernel=3 pad=1
        relu2    relu
        pool2    maxpool  kernel=2 stride=2
        flatten  flatten
        fc1      linear   out=12
        relu3    relu
        drop     dropout  p=0.5
        fc2      linear   out=3
        """

    static func model() throws -> TrainedModel {
        try TrainedModel(checkpoint: ClassifierFixture.checkpoint(networkText, seed: 11).path)
    }

    static func images(_ count: Int) -> [Image] {
        (0..<count).map { ClassifierFixture.photo(width: 20 + 3 * $0, height: 18 + $0) }
    }

    /// Rows of `dimension` values drawn around `clusters` centres, labelled by centre.
    static func clustered(count: Int, dimension: Int, clusters: Int, seed: UInt64) -> (features: [Float], labels: [Int]) {
        let random = Philox(seed: seed)
        var features = [Float](repeating: 0, count: count * dimension), labels = [Int](repeating: 0, count: count)
        for row in 0..<count {
            labels[row] = row % clusters
            for d in 0..<dimension {
                let centre: Float = (labels[row] * 7 + d) % clusters == 0 ? 2 : 0
                features[row * dimension + d] = centre + 0.5 * random.normal(at: UInt64(row * dimension + d))
            }
        }
        return (features, labels)
    }

    static func index(features: [Float], labels: [Int], dimension: Int, codes: BinaryCodes? = nil) -> FeatureIndex {
        FeatureIndex(features: features, labels: labels, dimension: dimension, layer: "relu7", network: "test", fingerprint: "f00d",
                     data: "synthetic", split: "train", classNames: ["x", "y", "z"], codes: codes)
    }

    /// Sorted (distance, row) pairs by brute force, in double precision.
    static func bruteForce(_ query: ArraySlice<Float>, _ index: FeatureIndex, metric: DistanceMetric, skip: Int? = nil) -> [Int] {
        let q = Array(query)
        func norm(_ v: [Float]) -> Double { v.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot() }
        var scored: [(Double, Int)] = []
        for row in 0..<index.count where row != skip {
            let x = Array(index.row(row))
            let value: Double
            if metric == .euclidean {
                value = zip(q, x).reduce(0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }
            } else {
                value = 1 - zip(q, x).reduce(0) { $0 + Double($1.0) * Double($1.1) } / max(norm(q) * norm(x), 1e-30)
            }
            scored.append((value, row))
        }
        return scored.sorted { $0 < $1 }.map(\.1)
    }
}

@Suite struct FeatureTests {
    @Test func featuresAreThePlansOwnActivationsOfTheLayer() throws {
        let model = try ExplainFixture.model()
        let whole = try model.network.resolved()
        let reference = try ReferenceBackend().makePlan(for: whole, batchSize: 1, mode: .inference, seed: 0) as! ReferencePlan
        try model.load(into: reference)
        let images = ExplainFixture.images(5)
        let preprocessing = model.preprocessing.fitted(to: whole.inputShape)
        for (layer, kept, dimension) in [(nil, "relu3", 12), ("fc1", "relu3", 12), ("conv2", "relu2", 6 * 8 * 8), ("pool2", "pool2", 6 * 4 * 4)] {
            let keptIndex = whole.layers.firstIndex { $0.name == kept }!
            var expected: [Float] = []
            for image in images {
                let input = try preprocessing.evaluationInput(for: image, as: whole.inputShape)
                expected += reference.forward(Tensor(shape: [1] + whole.inputShape.dimensions, scalars: input), isTraining: false, step: 0)[keptIndex + 1].scalars
            }
            for backend in [ReferenceBackend() as any Backend, CPUBackend(threads: 2)] {
                let extractor = try FeatureExtractor(model: model, layer: layer, backend: backend, batchSize: 3)
                #expect(extractor.layer == kept && extractor.dimension == dimension)
                let features = try extractor.features(of: images)
                let check = Comparison(features, expected, atol: backend is ReferenceBackend ? 0 : 1e-5, rtol: 1e-4)
                #expect(check.isClose, "\(layer ?? "default") on \(backend.name): \(check)")
            }
        }
        #expect(throws: NetworkError.unknownLayer("fc7", network: "tiny-explain", layers: whole.layers.map(\.name))) {
            try FeatureExtractor(model: model, layer: "fc7")
        }
        #expect("\(NetworkError.unknownLayer("fc7", network: "n", layers: ["conv1", "fc1"]))".contains("its layers are conv1, fc1"))
    }

    @Test func theFingerprintFollowsTheWeightsUpToTheLayer() throws {
        let model = try ExplainFixture.model()
        let a = try FeatureExtractor(model: model, backend: ReferenceBackend())
        let b = try FeatureExtractor(model: model, backend: CPUBackend(threads: 1))
        let other = try FeatureExtractor(model: model, layer: "conv2", backend: ReferenceBackend())
        #expect(a.fingerprint == b.fingerprint && a.fingerprint != other.fingerprint)
    }

    @Test func anIndexRoundTripsAndBadFilesAreRefused() throws {
        let (features, labels) = ExplainFixture.clustered(count: 70, dimension: 64, clusters: 3, seed: 2)
        let codes = try BinaryCodes.learn(features: features, count: 70, dimension: 64, bits: 64, iterations: 5)
        var index = ExplainFixture.index(features: features, labels: labels, dimension: 64, codes: codes)
        index.paths = (0..<70).map { "images/\($0).png" }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("index-\(UUID().uuidString).safetensors").path
        try index.write(to: path)
        let back = try FeatureIndex(path: path)
        #expect(back.features == features && back.labels == labels && back.paths == index.paths && back.layer == "relu7")
        #expect(back.codes?.codes == codes.codes && back.codes?.projection == codes.projection && back.codes?.bits == 64)

        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        try bytes.prefix(bytes.count - 10).write(to: URL(fileURLWithPath: path + ".cut"))
        #expect { try FeatureIndex(path: path + ".cut") } throws: { "\($0)".contains("truncated") }
        let checkpoint = try ExplainFixture.model().source
        #expect { try FeatureIndex(path: checkpoint) } throws: { "\($0)".contains("is not a feature index") }
        try ExplainFixture.index(features: [], labels: [], dimension: 64).write(to: path + ".empty")
        #expect { try FeatureIndex(path: path + ".empty") } throws: { "\($0)".contains("is empty") }
    }
}

@Suite struct NeighborSearchTests {
    @Test(arguments: DistanceMetric.allCases)
    func exactSearchFindsWhatABruteForceLoopFinds(_ metric: DistanceMetric) throws {
        let (features, labels) = ExplainFixture.clustered(count: 300, dimension: 37, clusters: 3, seed: 4)
        let index = ExplainFixture.index(features: features, labels: labels, dimension: 37)
        let search = NeighborSearch(index: index, metric: metric)
        let (queries, _) = ExplainFixture.clustered(count: 9, dimension: 37, clusters: 3, seed: 5)
        let found = search.exact(queries, count: 9, k: 12)
        for q in 0..<9 {
            #expect(found[q].map(\.row) == Array(ExplainFixture.bruteForce(queries[(q * 37)..<((q + 1) * 37)], index, metric: metric).prefix(12)))
            #expect(zip(found[q], found[q].dropFirst()).allSatisfy { $0.distance <= $1.distance })
        }
        // A query from the index itself leaves itself out.
        let own = search.exact(Array(index.row(17)), count: 1, k: 5, excluding: [17])[0]
        #expect(own.map(\.row) == Array(ExplainFixture.bruteForce(index.row(17), index, metric: metric, skip: 17).prefix(5)))
        if metric == .euclidean {
            let distance = zip(index.row(17), index.row(own[0].row)).reduce(Float(0)) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot()
            #expect(abs(own[0].distance - distance) < 1e-3 * max(1, distance))
        }
    }

    /// 128-bit codes take the general path, 256-bit ones the two-queries-per-pass one (with an
    /// odd number of queries, so the last goes alone).
    @Test(arguments: [128, 256])
    func hammingSearchCountsDifferingBitsAndReRanksExactly(_ bits: Int) throws {
        let (features, labels) = ExplainFixture.clustered(count: 400, dimension: 300, clusters: 3, seed: 6)
        let codes = try BinaryCodes.learn(features: features, count: 400, dimension: 300, bits: bits, iterations: 10)
        let index = ExplainFixture.index(features: features, labels: labels, dimension: 300, codes: codes)
        let search = NeighborSearch(index: index)
        let (queries, _) = ExplainFixture.clustered(count: 5, dimension: 300, clusters: 3, seed: 7)
        let words = bits / 64
        let queryCodes = codes.encode(queries, count: 5)
        let excluded: [Int?] = [nil, 12, nil, nil, 3]
        let found = search.hamming(queries, count: 5, k: 20, excluding: excluded)
        let reranked = search.hamming(queries, count: 5, k: 5, rerank: 50)
        for q in 0..<5 {
            let distances = (0..<400).map { row in
                (0..<words).reduce(0) { $0 + (queryCodes[q * words + $1] ^ codes.codes[row * words + $1]).nonzeroBitCount }
            }
            let expected = (0..<400).filter { $0 != excluded[q] }.sorted { (distances[$0], $0) < (distances[$1], $1) }
            #expect(found[q].map(\.row) == Array(expected.prefix(20)), "query \(q)")
            #expect(found[q].map { Int($0.distance) } == expected.prefix(20).map { distances[$0] })
            // Re-ranking orders the 50 best by Hamming distance by the exact distance.
            let all = (0..<400).sorted { (distances[$0], $0) < (distances[$1], $1) }
            let candidates = Set(all.prefix(50))
            let exact = ExplainFixture.bruteForce(queries[(q * 300)..<((q + 1) * 300)], index, metric: .euclidean).filter { candidates.contains($0) }
            #expect(reranked[q].map(\.row) == Array(exact.prefix(5)))
        }
    }

    @Test func codesKeepClustersApartAndITQLosesLessThanPlainSigns() throws {
        let (features, labels) = ExplainFixture.clustered(count: 600, dimension: 96, clusters: 3, seed: 8)
        let plain = try BinaryCodes.learn(features: features, count: 600, dimension: 96, bits: 64, iterations: 0)
        let itq = try BinaryCodes.learn(features: features, count: 600, dimension: 96, bits: 64, iterations: 50)
        #expect(itq.encode(features, count: 600) == itq.codes)
        /// ||B - V R||², the loss ITQ minimises: V R are the projected centred features.
        func quantizationLoss(_ codes: BinaryCodes) -> Double {
            var loss = 0.0
            for row in 0..<600 {
                for b in 0..<64 {
                    var value: Float = 0
                    for d in 0..<96 { value += (features[row * 96 + d] - codes.mean[d]) * codes.projection[d * 64 + b] }
                    let bit: Float = codes.codes[row] >> UInt64(b) & 1 == 1 ? 1 : -1
                    loss += Double((bit - value) * (bit - value))
                }
            }
            return loss
        }
        #expect(quantizationLoss(itq) < quantizationLoss(plain))
        // Within a cluster codes differ in fewer bits than across clusters.
        var same = (0, 0), other = (0, 0)
        for a in stride(from: 0, to: 600, by: 7) {
            for b in stride(from: 1, to: 600, by: 11) where a != b {
                let distance = (itq.codes[a] ^ itq.codes[b]).nonzeroBitCount
                if labels[a] == labels[b] { same = (same.0 + distance, same.1 + 1) } else { other = (other.0 + distance, other.1 + 1) }
            }
        }
        #expect(Double(same.0) / Double(same.1) < 0.6 * Double(other.0) / Double(other.1))
        #expect { try BinaryCodes.learn(features: features, count: 600, dimension: 96, bits: 128) } throws: { "\($0)".contains("at least 128 values") }
        #expect { try BinaryCodes.learn(features: features, count: 600, dimension: 96, bits: 48) } throws: { "\($0)".contains("multiple of 64") }
    }

    @Test func retrievalQualityCountsRelevantNeighbours() {
        let found = [[Neighbor(row: 0, distance: 0), Neighbor(row: 1, distance: 1), Neighbor(row: 2, distance: 2)]]
        // Relevant at ranks 1 and 3: AP = (1/1 + 2/3) / 2; P@10 counts 2 of 10.
        let quality = RetrievalQuality(method: "t", queries: 1, labels: [5], found: found, depth: 3, seconds: 1, indexLabels: [5, 4, 5])
        #expect(abs(quality.meanAveragePrecision - (1 + 2.0 / 3) / 2) < 1e-12)
        #expect(abs(quality.precisionAt10 - 0.2) < 1e-12)
    }
}

@Suite struct GradCAMTests {
    @Test func backendsAgreeAndTheMapIsScaledToOne() throws {
        let model = try ExplainFixture.model()
        let image = ClassifierFixture.photo()
        let reference = try GradCAM(model: model, backend: ReferenceBackend()).map(of: image)
        let cpu = try GradCAM(model: model, backend: CPUBackend(threads: 2)).map(of: image)
        #expect(reference.width == 8 && reference.height == 8, "relu2's maps")
        #expect(reference.label == cpu.label)
        let check = Comparison(cpu.heat, reference.heat, atol: 1e-4, rtol: 1e-3)
        #expect(check.isClose, "\(check)")
        #expect(reference.heat.allSatisfy { (0...1).contains($0) } && reference.heat.max() == 1)
        let png = GradCAM.Map.png([(reference, "a", "photo")], layer: "relu2", size: 64)
        #expect(try ImageCodec.decode(png, source: "figure").width == 2 * 64 + 36)
        // Another class, chosen, is explained as asked; classes out of range are refused.
        #expect(try GradCAM(model: model, backend: ReferenceBackend()).map(of: image, label: 2).label == 2)
        #expect { try GradCAM(model: model).map(of: image, label: 3) } throws: { "\($0)".contains("outside") }
        #expect { try GradCAM(model: model, layer: "fc1") } throws: { "\($0)".contains("needs a convolutional layer") }
    }

    /// On a layer with batch norms after it (CIFAR-10's conv1), the rest runs in evaluation
    /// mode, so the explanation is of the classifier's own logits; both backends agree.
    @Test func explainsALayerWithBatchNormAfterIt() throws {
        let text = """
            name: tiny-bn
            input: 3x16x16

            conv1    conv       out=4 kernel=3 pad=1
            bn1      batchnorm
            relu1    relu
            pool1    maxpool    kernel=2 stride=2
            conv2    conv       out=6 kernel=3 pad=1
            bn2      batchnorm
            relu2    relu
            flatten  flatten
            fc1      linear     out=8
            drop     dropout    p=0.5
            fc2      linear     out=3
            """
        let model = try TrainedModel(checkpoint: ClassifierFixture.checkpoint(text, seed: 4).path)
        let image = ClassifierFixture.photo()
        let reference = try GradCAM(model: model, layer: "conv1", backend: ReferenceBackend())
        #expect(reference.layer == "relu1", "conv1 taken after its batch norm and ReLU")
        let (expected, cpu) = (try reference.map(of: image), try GradCAM(model: model, layer: "conv1", backend: CPUBackend(threads: 2)).map(of: image))
        #expect(expected.width == 16 && expected.label == cpu.label)
        let check = Comparison(cpu.heat, expected.heat, atol: 1e-4, rtol: 1e-3)
        #expect(check.isClose, "\(check)")
        #expect(expected.heat.max() == 1)
        // The probability explained is the evaluation pass's.
        let guesses = try Classifier(model: model, backend: "reference").classify(images: [image], top: 1)
        let top = try #require(guesses.first?.first)
        #expect(top.label == expected.label && abs(top.probability - Double(expected.probability)) < 1e-5, "\(top) \(expected.probability)")
    }
}
