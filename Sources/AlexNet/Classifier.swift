import AlexNetBackends
import AlexNetCore
import AlexNetData
import AlexNetNetwork
import Synchronization

/// Classifies images with a trained network:
///
///     let classifier = try Classifier(checkpoint: "runs/quick/best.safetensors")
///     for guess in try classifier.classify(imageAt: "boot.png", top: 3) {
///         print(guess.name, guess.probability)
///     }
///
/// Any image fits: it is converted to the network's channels, its shorter side resized and the
/// centre cropped to the network's input, then normalised exactly as the training run did.
/// Safe to share between threads (calls take turns on the backend).
public final class Classifier: Sendable {
    /// One class of a prediction.
    public struct Guess: Sendable, Equatable, Encodable {
        /// The class index (the network's output row).
        public var label: Int
        public var name: String
        public var probability: Double
    }

    /// The trained network, its preprocessing and class names, as read from the file.
    public let model: TrainedModel
    /// The network with its shapes and parameter layout resolved.
    public let network: ResolvedNetwork
    /// The model's preprocessing fitted to the network's input.
    public let preprocessing: Preprocessing
    /// The names of the network's outputs, in order.
    public var classNames: [String] { model.classNames }
    private let backend: any Backend
    /// Inference plans by batch size, made on first use.
    private let plans = Mutex<[Int: PlanBox]>([:])

    /// A classifier for `model` on the backend called `backend`.
    public init(model: TrainedModel, backend: String = "cpu", options: BackendOptions = BackendOptions()) throws {
        self.model = model
        network = try model.network.resolved()
        preprocessing = model.preprocessing.fitted(to: network.inputShape)
        try preprocessing.validate()
        self.backend = try Backends.make(backend, options: options)
        _ = try plan(batchSize: 1)
    }

    /// A checkpoint written by `alexnet train`.
    public convenience init(checkpoint path: String, backend: String = "cpu", options: BackendOptions = BackendOptions()) throws {
        try self.init(model: TrainedModel(checkpoint: path), backend: backend, options: options)
    }

    /// A safetensors weights file for `model` (a zoo name or network file; nil when the file
    /// names its network), with optional class names.
    public convenience init(weights path: String, model: String? = nil, classNames: [String]? = nil, backend: String = "cpu",
                            options: BackendOptions = BackendOptions()) throws {
        try self.init(model: TrainedModel(weights: path, model: model, classNames: classNames), backend: backend, options: options)
    }

    /// The `top` most probable classes of the image file at `path` (JPEG or PNG).
    public func classify(imageAt path: String, top: Int = 5) throws -> [Guess] {
        let image = try ImageCodec.read(path: path, shorterSideAtLeast: preprocessing.resize)
        return try classify(images: [image], top: top, sources: [path])[0]
    }

    /// The `top` most probable classes of an encoded image (JPEG or PNG bytes).
    public func classify(imageData: [UInt8], top: Int = 5) throws -> [Guess] {
        let image = try ImageCodec.decode(imageData, source: "image data", shorterSideAtLeast: preprocessing.resize)
        return try classify(images: [image], top: top)[0]
    }

    /// The `top` most probable classes of each decoded image, computed as one batch.
    public func classify(images: [Image], top: Int = 5, sources: [String]? = nil) throws -> [[Guess]] {
        let probabilities = try self.probabilities(of: images, sources: sources)
        return probabilities.map { Self.ranked($0, top: top, names: classNames) }
    }

    /// The softmax over the classes for each image, as one batch.
    public func probabilities(of images: [Image], sources: [String]? = nil) throws -> [[Float]] {
        guard !images.isEmpty else { return [] }
        let shape = network.inputShape
        var scalars = [Float](repeating: 0, count: images.count * shape.elementCount)
        try scalars.withUnsafeMutableBufferPointer { buffer throws(DataError) in
            for (k, image) in images.enumerated() {
                try preprocessing.prepare(image, as: shape, training: false, random: Philox(seed: 0), index: 0,
                                          into: buffer.baseAddress! + k * shape.elementCount, source: sources?[k] ?? "image \(k)")
            }
        }
        let input = Tensor(shape: [images.count] + shape.dimensions, scalars: scalars)
        var scores = try plans.withLock { plans in
            let plan = try plan(batchSize: images.count, in: &plans)
            return try plan.infer(input).scalars
        }
        let classes = network.outputShape.elementCount
        scores.withUnsafeMutableBufferPointer { SoftmaxCrossEntropy.softmax($0, rows: images.count, classes: classes) }
        return (0..<images.count).map { Array(scores[($0 * classes)..<(($0 + 1) * classes)]) }
    }

    /// The `top` classes of one row of probabilities, most probable first.
    public static func ranked(_ probabilities: [Float], top: Int, names: [String]) -> [Guess] {
        probabilities.indices.sorted { probabilities[$0] > probabilities[$1] }.prefix(max(top, 0)).map {
            Guess(label: $0, name: $0 < names.count ? names[$0] : "class \($0)", probability: Double(probabilities[$0]))
        }
    }

    private func plan(batchSize: Int) throws -> any Plan {
        try plans.withLock { try plan(batchSize: batchSize, in: &$0) }
    }

    private func plan(batchSize: Int, in plans: inout [Int: PlanBox]) throws -> any Plan {
        if let box = plans[batchSize] { return box.plan }
        let plan = try backend.makePlan(for: network, batchSize: batchSize, mode: .inference, seed: 0)
        try model.load(into: plan)
        // Keep the batch-1 plan and the latest other size: a plan holds its activations.
        plans = plans.filter { $0.key == 1 }
        plans[batchSize] = PlanBox(plan: plan)
        return plan
    }
}

/// A plan kept under the classifier's lock.
private final class PlanBox: @unchecked Sendable {
    let plan: any Plan
    init(plan: any Plan) { self.plan = plan }
}
