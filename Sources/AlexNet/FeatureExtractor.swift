import AlexNetBackends
import AlexNetCore
import AlexNetData
import AlexNetNetwork

/// The activations of one layer of a trained network (by default the last hidden layer after
/// its ReLU, the paper's 4096-d image features) for images, computed by a plan of the network
/// cut after that layer, in evaluation mode, on any backend:
///
///     let extractor = try FeatureExtractor(model: TrainedModel(checkpoint: "best.safetensors"))
///     let features = try extractor.features(of: [image])   // extractor.dimension floats per image
public final class FeatureExtractor {
    /// The trained network the features come from.
    public let model: TrainedModel
    /// The last layer run (`relu7` when `fc7` was asked for).
    public let layer: String
    /// The network up to and including `layer`.
    public let network: ResolvedNetwork
    /// The model's preprocessing fitted to the network's input.
    public let preprocessing: Preprocessing
    /// Values per image.
    public var dimension: Int { network.outputShape.elementCount }
    /// Images per forward pass.
    public let batchSize: Int
    /// SHA-256 of the parameters that produce the features: an index of features is only
    /// comparable with queries from the same weights and layer.
    public let fingerprint: String
    private let plan: any Plan

    /// An extractor for `layer` of `model` (nil: the last hidden layer), running batches of
    /// `batchSize` on `backend`.
    public init(model: TrainedModel, layer: String? = nil, backend: any Backend = CPUBackend(), batchSize: Int = 100) throws {
        self.model = model
        let last = try model.network.featureLayerIndex(named: layer)
        network = try model.network.prefix(through: last).resolved()
        self.layer = network.layers.last!.name
        preprocessing = model.preprocessing.fitted(to: network.inputShape)
        try preprocessing.validate()
        self.batchSize = max(1, batchSize)
        // The whole network's tensors, then the part's by name (its layout is a prefix of the whole's).
        let (_, host) = try model.onHost()
        plan = try backend.makePlan(for: network, batchSize: self.batchSize, mode: .inference, seed: 0)
        Self.copyTensors(from: host, into: plan)
        let hash = SHA256()
        hash.update(Array(network.layout.slots.map(\.name).joined(separator: ",").utf8))
        hash.update(UnsafeRawBufferPointer(plan.parameters.pointer))
        hash.update(UnsafeRawBufferPointer(plan.state.pointer))
        fingerprint = hash.finalize()
    }

    /// Copies every tensor of `plan`'s network from `source`, whose network has tensors of the
    /// same names and shapes (the whole network `plan`'s is a part of).
    public static func copyTensors(from source: any Plan, into plan: any Plan) {
        source.copyToHost()
        let from = source.network.layout
        for slot in plan.network.layout.slots {
            guard let origin = from.slot(named: slot.name), origin.spec.shape == slot.spec.shape else {
                preconditionFailure("copyTensors: \(slot.name) \(slot.spec.shape) is not in \(source.network.network.name)")
            }
            let (input, output) = slot.isTrainable ? (source.parameters, plan.parameters) : (source.state, plan.state)
            (output.baseAddress + slot.offset).update(from: input.baseAddress + origin.offset, count: slot.count)
        }
        plan.copyFromHost()
    }

    /// The features of decoded images, `dimension` floats per image, end to end.
    public func features(of images: [Image], sources: [String]? = nil) throws -> [Float] {
        var result: [Float] = []
        result.reserveCapacity(images.count * dimension)
        let size = network.inputShape.elementCount
        for first in stride(from: 0, to: images.count, by: batchSize) {
            let count = min(batchSize, images.count - first)
            var input = [Float](repeating: 0, count: batchSize * size)
            for row in 0..<count {
                let prepared = try preprocessing.evaluationInput(for: images[first + row], as: network.inputShape,
                                                                 source: sources?[first + row] ?? "image \(first + row)")
                input.replaceSubrange((row * size)..<((row + 1) * size), with: prepared)
            }
            let output = try plan.infer(Tensor(shape: [batchSize] + network.inputShape.dimensions, scalars: input))
            result += output.scalars[..<(count * dimension)]
        }
        return result
    }

    /// The features of every image of `source` in order (`dimension` floats each), their labels
    /// and the source's index of each, decoded and preprocessed on the loader's threads while
    /// the plan runs; `progress(batchesDone, batches)` after each batch. With `skipping`, images
    /// that cannot be read are left out (and passed to it with why) instead of failing.
    public func features(of source: any ImageSource, skipping: ((Int, String) -> Void)? = nil,
                         progress: (Int, Int) -> Void = { _, _ in }) throws -> (features: [Float], labels: [Int], examples: [Int]) {
        let loader = try DataLoader(source: source, preprocessing: preprocessing, shape: network.inputShape,
                                    batchSize: batchSize, training: false, skipBadImages: skipping != nil)
        var features: [Float] = [], labels: [Int] = [], examples: [Int] = []
        features.reserveCapacity(source.count * dimension)
        labels.reserveCapacity(source.count)
        let stream = loader.batches(epoch: 0)
        var done = 0
        // Evaluation batches follow the source's order, less the images left out.
        while var batch = try stream.nextBatch() {
            let output = try plan.infer(batch.input)
            features += output.scalars[..<(batch.count * dimension)]
            labels += batch.labels[..<batch.count]
            examples += batch.examples
            loader.recycle(&batch)
            done += 1
            progress(done, loader.batchesPerEpoch)
        }
        for (example, reason) in loader.skippedImages { skipping?(example, reason) }
        return (features, labels, examples)
    }
}
