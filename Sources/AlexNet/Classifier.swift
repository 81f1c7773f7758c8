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
    /// The largest batch one forward pass runs (a power of two); larger batches run in pieces.
    public let largestPlanBatch: Int
    private let backend: any Backend
    /// Inference plans by batch size, made on first use.
    private let plans = Mutex<[Int: PlanBox]>([:])

    /// A classifier for `model` on the backend called `backend`; batches run as forward passes
    /// of at most `largestPlanBatch` images (rounded down to a power of two).
    public init(model: TrainedModel, backend: String = "cpu", options: BackendOptions = BackendOptions(),
                largestPlanBatch: Int = 16) throws {
        self.model = model
        self.largestPlanBatch = Self.planSizes(for: max(largestPlanBatch, 1), largest: max(largestPlanBatch, 1))[0]
        network = try model.network.resolved()
        preprocessing = model.preprocessing.fitted(to: network.inputShape)
        try preprocessing.validate()
        self.backend = try Backends.make(backend, options: options)
        _ = try plans.withLock { try plan(batchSize: 1, in: &$0) }
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
        try classify(images: [try decode(imageData, source: "image data")], top: top)[0]
    }

    /// The `top` most probable classes of each decoded image, computed as one batch.
    public func classify(images: [Image], top: Int = 5, sources: [String]? = nil) throws -> [[Guess]] {
        let probabilities = try self.probabilities(of: images, sources: sources)
        return probabilities.map { Self.ranked($0, top: top, names: classNames) }
    }

    /// The softmax over the classes for each image, as one batch.
    public func probabilities(of images: [Image], sources: [String]? = nil) throws -> [[Float]] {
        guard !images.isEmpty else { return [] }
        var inputs: [Float] = []
        inputs.reserveCapacity(images.count * network.inputShape.elementCount)
        for (k, image) in images.enumerated() { inputs += try input(for: image, source: sources?[k] ?? "image \(k)") }
        let classes = network.outputShape.elementCount
        let probabilities = Self.softmax(try logits(forInputs: inputs, count: images.count), classes: classes)
        return (0..<images.count).map { Array(probabilities[($0 * classes)..<(($0 + 1) * classes)]) }
    }

    // MARK: The steps of a classification, for callers that batch requests themselves

    /// An encoded image (JPEG or PNG bytes) decoded upright (EXIF orientation applied), a large
    /// JPEG at a reduced scale that still covers the preprocessing's resize. A header claiming
    /// more than `maximumPixels` is refused before anything is allocated.
    public func decode(_ bytes: [UInt8], source: String, maximumPixels: Int = ImageCodec.maximumPixels) throws -> Image {
        try ImageCodec.decode(bytes, source: source, shorterSideAtLeast: preprocessing.resize, maximumPixels: maximumPixels)
    }

    /// The network's input for one image of any size and channel count: resized, centre
    /// cropped and normalised as the training run did; `network.inputShape.elementCount` floats.
    public func input(for image: Image, source: String = "image") throws -> [Float] {
        try preprocessing.evaluationInput(for: image, as: network.inputShape, source: source)
    }

    /// The logits `[count, classes]` of `count` inputs laid end to end (each one
    /// `network.inputShape` in `[C, H, W]` order, as `input(for:)` makes them), in one forward
    /// pass per plan size that `planSizes(for:)` splits `count` into.
    public func logits(forInputs inputs: [Float], count: Int) throws -> [Float] {
        let size = network.inputShape.elementCount, classes = network.outputShape.elementCount
        guard count >= 0, inputs.count == count * size else {
            throw PlanError.inputShape([inputs.count], expected: [count * size])
        }
        var logits: [Float] = []
        logits.reserveCapacity(count * classes)
        var first = 0
        for chunk in Self.planSizes(for: count, largest: largestPlanBatch) {
            let input = Tensor(shape: [chunk] + network.inputShape.dimensions, scalars: Array(inputs[(first * size)..<((first + chunk) * size)]))
            logits += try plans.withLock { plans in try plan(batchSize: chunk, in: &plans).infer(input).scalars }
            first += chunk
        }
        return logits
    }

    /// Makes the plans for every batch size up to `largestPlanBatch` now, so that no request
    /// waits for one later (a server calls this before it listens).
    public func preparePlans() throws {
        var size = 1
        while size <= largestPlanBatch {
            try plans.withLock { _ = try plan(batchSize: size, in: &$0) }
            size *= 2
        }
    }

    /// The batch sizes a batch of `count` runs as: powers of two, largest first, none above
    /// `largest` (13 -> 8, 4, 1). So at most log2(largest) + 1 plans ever exist, each made on
    /// first use and kept (a plan holds its own copy of the weights and its activations), and
    /// no work is spent on padding.
    public static func planSizes(for count: Int, largest: Int) -> [Int] {
        var sizes: [Int] = [], left = count
        let cap = largest < 1 ? 1 : 1 << (Int.bitWidth - 1 - largest.leadingZeroBitCount)
        while left > 0 {
            let size = min(cap, 1 << (Int.bitWidth - 1 - left.leadingZeroBitCount))
            sizes.append(size)
            left -= size
        }
        return sizes
    }

    /// Softmax over each row of `[rows, classes]` logits.
    public static func softmax(_ logits: [Float], classes: Int) -> [Float] {
        var probabilities = logits
        probabilities.withUnsafeMutableBufferPointer { SoftmaxCrossEntropy.softmax($0, rows: logits.count / max(classes, 1), classes: classes) }
        return probabilities
    }

    /// The `top` classes of one row of probabilities, most probable first.
    public static func ranked(_ probabilities: [Float], top: Int, names: [String]) -> [Guess] {
        probabilities.indices.sorted { probabilities[$0] > probabilities[$1] }.prefix(max(top, 0)).map {
            Guess(label: $0, name: $0 < names.count ? names[$0] : "class \($0)", probability: Double(probabilities[$0]))
        }
    }

    private func plan(batchSize: Int, in plans: inout [Int: PlanBox]) throws -> any Plan {
        if let box = plans[batchSize] { return box.plan }
        let plan = try model.makePlan(on: backend, batchSize: batchSize)
        plans[batchSize] = PlanBox(plan: plan)
        return plan
    }
}

/// A plan kept under the classifier's lock.
private final class PlanBox: @unchecked Sendable {
    let plan: any Plan
    init(plan: any Plan) { self.plan = plan }
}
