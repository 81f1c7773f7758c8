import AlexNetCore
import AlexNetNetwork

/// A backend turns a network description, for one batch size, into an executable `Plan`.
/// `ReferenceBackend` runs the layers' own plain-Swift math and is the oracle every other
/// backend is tested against.
public protocol Backend: Sendable {
    /// The name users pass to `--backend`.
    var name: String { get }
    func makePlan(for network: ResolvedNetwork, batchSize: Int, seed: UInt64) throws -> any Plan
}

/// An executable network for one batch size: the flat parameter buffer, its gradient mirror,
/// the state buffer (batch norm statistics), and the passes over them.
public protocol Plan: AnyObject {
    var network: ResolvedNetwork { get }
    var batchSize: Int { get }
    /// Trainable parameters, laid out by `network.layout`.
    var parameters: FloatBuffer { get }
    /// Gradients, a mirror of `parameters`.
    var gradients: FloatBuffer { get }
    /// Non-trainable state (batch norm running statistics).
    var state: FloatBuffer { get }

    /// Logits `[N, classes]` for `input` (`[N] + inputShape`), in evaluation mode.
    func infer(_ input: Tensor) -> Tensor

    /// One forward and backward pass in training mode at optimizer step `step`: sets
    /// `gradients` to the gradient of the mean softmax cross-entropy loss and returns the loss.
    func computeGradients(input: Tensor, labels: [Int], step: UInt64) -> Float

    /// Logits `[N, classes]` of the last forward pass (training or not).
    var lastLogits: Tensor { get }

    /// The optimizer's per-parameter buffers (velocity, Adam's moments), mirrors of
    /// `parameters`; allocated by the first `update`.
    var optimizerState: OptimizerState { get }

    /// Applies `optimizer` to `parameters` using `gradients`: one pass over the flat buffers.
    /// `step` counts updates from 1 (Adam's bias correction uses it).
    func update(with optimizer: any Optimizer, step: Int)
}

extension Plan {
    /// `computeGradients` then `update`: training step `step` (counted from 0). Returns the loss.
    @discardableResult
    public func trainingStep(input: Tensor, labels: [Int], step: UInt64, optimizer: any Optimizer) -> Float {
        let loss = computeGradients(input: input, labels: labels, step: step)
        update(with: optimizer, step: Int(step) + 1)
        return loss
    }

    /// Fills parameters and state with the network's initialization scheme.
    public func initialize(seed: UInt64) {
        network.network.initialization.initialize(
            network, parameters: parameters.pointer, state: state.pointer, seed: seed)
    }
}

