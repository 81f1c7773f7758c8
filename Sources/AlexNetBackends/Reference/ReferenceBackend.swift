import AlexNetCore
import AlexNetNetwork

/// The oracle: runs every layer's own plain-Swift forward and backward (the files under
/// `AlexNetNetwork/Layers`). Slow and simple on purpose; every fast backend must agree with it.
public struct ReferenceBackend: Backend {
    public let name = "reference"
    public var description: String { "reference, 1 thread" }

    public init() {}

    public func makePlan(for network: ResolvedNetwork, batchSize: Int, mode: PlanMode, seed: UInt64) throws -> any Plan {
        guard batchSize > 0 else { throw PlanError.batchSize(batchSize) }
        try MemoryBudget.check(network, batchSize: batchSize, mode: mode)
        return ReferencePlan(network: network, batchSize: batchSize, mode: mode, seed: seed)
    }
}

/// A reference plan keeps every layer's output of the last forward pass for backward.
public final class ReferencePlan: Plan {
    public let network: ResolvedNetwork
    public let batchSize: Int
    public let mode: PlanMode
    public let parameters: FloatBuffer
    public let gradients: FloatBuffer
    public let state: FloatBuffer
    public let optimizerState = OptimizerState()
    public var labelSmoothing: Float = 0
    /// The run's seed for dropout masks.
    public let seed: UInt64
    /// Each layer's views into the flat buffers.
    private let layerParameters: [LayerParameters]

    public init(network: ResolvedNetwork, batchSize: Int, mode: PlanMode = .training, seed: UInt64) {
        self.network = network
        self.batchSize = batchSize
        self.mode = mode
        self.seed = seed
        parameters = FloatBuffer(count: network.layout.trainableCount)
        gradients = FloatBuffer(count: network.layout.trainableCount)
        state = FloatBuffer(count: network.layout.stateCount)
        layerParameters = network.layers.map { [parameters, gradients, state] layer in
            LayerParameters(slots: layer.slots, parameters: parameters, gradients: gradients, state: state)
        }
        initialize(seed: seed)
    }

    /// Input and every layer's output; `activations[i]` is layer i's input.
    public func forward(_ input: Tensor, isTraining: Bool, step: UInt64, firstRow: Int = 0) -> [Tensor] {
        precondition(Array(input.shape.dropFirst()) == network.inputShape.dimensions,
                     "ReferencePlan: input \(input.shape) does not match \(network.inputShape)")
        var activations = [input]
        for (index, layer) in network.layers.enumerated() {
            let context = PassContext(isTraining: trains(index, isTraining), seed: seed, step: step, layerIndex: index, firstRow: firstRow)
            activations.append(layer.layer.forward(activations[index], parameters: layerParameters[index], context: context))
        }
        return activations
    }

    /// Whether layer `index` runs in training mode in a pass that trains: not in attribution
    /// plans (evaluation mode throughout), nor for a frozen batch norm.
    private func trains(_ index: Int, _ isTraining: Bool) -> Bool {
        isTraining && mode != .attribution && !network.evaluatesInTraining(network.layers[index])
    }

    /// Backpropagates `outputGradient` through the layers from the last down to `lowest`,
    /// accumulating into `gradients` (none for frozen layers); returns the gradient with respect
    /// to layer `lowest`'s input (the network's input for 0).
    @discardableResult
    public func backward(activations: [Tensor], outputGradient: Tensor, step: UInt64, firstRow: Int = 0, lowest: Int = 0,
                         gradientsReady: ((Int) -> Void)? = nil) -> Tensor {
        var gradient = outputGradient
        var ready = network.layout.trainableCount
        for (index, layer) in network.layers.enumerated().reversed() where index >= lowest {
            let context = PassContext(isTraining: trains(index, true), seed: seed, step: step, layerIndex: index, firstRow: firstRow)
            gradient = layer.layer.backward(
                input: activations[index], output: activations[index + 1], outputGradient: gradient,
                parameters: layerParameters[index], context: context)
            if network.frozenLayers.contains(layer.name) {
                for slot in layer.slots where slot.isTrainable { gradients.view(offset: slot.offset, count: slot.count).update(repeating: 0) }
            }
            let start = network.layout.trainableStart(fromLayer: index)
            if let gradientsReady, start < ready, start > 0 {
                ready = start
                gradientsReady(start)
            }
        }
        gradientsReady?(0)
        return gradient
    }

    // The host is where this plan's tensors live.
    public func copyToHost() {}
    public func copyFromHost() {}
    public func withHostGradients(_ body: (FloatBuffer) throws -> Void) rethrows { try body(gradients) }

    public func infer(_ input: Tensor) throws -> Tensor {
        try check(input: input)
        return forward(input, isTraining: false, step: 0).last!
    }

    public func computeGradients(input: Tensor, labels: [Int], step: Int, firstRow: Int,
                                 gradientsReady: ((Int) -> Void)?) throws -> StepOutput {
        guard mode != .inference else { throw PlanError.wrongMode("compute gradients", mode) }
        try check(input: input, labels: labels)
        let activations = forward(input, isTraining: true, step: UInt64(step), firstRow: firstRow)
        let logits = activations.last!
        let (loss, outputGradient) = SoftmaxCrossEntropy.lossAndGradient(logits: logits, labels: labels, labelSmoothing: labelSmoothing)
        gradients.fill(with: 0)
        backward(activations: activations, outputGradient: outputGradient, step: UInt64(step), firstRow: firstRow,
                 lowest: network.firstTrainedLayer ?? network.layers.count, gradientsReady: gradientsReady)
        return StepOutput(loss: loss, logits: logits)
    }

    public func inputGradient(input: Tensor, outputGradient: Tensor) throws -> Tensor {
        try checkAttribution(input: input, outputGradient: outputGradient)
        let activations = forward(input, isTraining: true, step: 0)
        gradients.fill(with: 0)
        return backward(activations: activations, outputGradient: outputGradient, step: 0)
    }

    public func update(with optimizer: Optimizer, learningRate: Float, step: Int) throws {
        guard mode != .inference else { throw PlanError.wrongMode("update its parameters", mode) }
        let state = optimizerState.buffers(for: optimizer, count: parameters.count)
        optimizer.update(learningRate: learningRate, step: step, parameters: parameters, gradients: gradients, state: state,
                         layout: network.layout, chunks: 1)
    }
}
