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

    /// Applies `optimizer` to `parameters` using `gradients`: one pass over the flat buffers.
    func update(with optimizer: SGD)
}

extension Plan {
    /// `computeGradients` then `update`: one training step. Returns the loss.
    @discardableResult
    public func trainingStep(input: Tensor, labels: [Int], step: UInt64, optimizer: SGD) -> Float {
        let loss = computeGradients(input: input, labels: labels, step: step)
        update(with: optimizer)
        return loss
    }

    /// Fills parameters and state with the network's initialization scheme.
    public func initialize(seed: UInt64) {
        network.network.initialization.initialize(
            network, parameters: parameters.pointer, state: state.pointer, seed: seed)
    }
}

/// Stochastic gradient descent with momentum and weight decay, exactly as the paper writes it
/// (section 5), with eps the learning rate:
///
///     v <- momentum * v - weightDecay * eps * w - eps * dL/dw
///     w <- w + v
///
/// With momentum 0 and weight decay 0 it is plain SGD (d2l's recipe).
public struct SGD: Sendable, Equatable {
    public var learningRate: Float
    public var momentum: Float
    public var weightDecay: Float

    public init(learningRate: Float, momentum: Float = 0, weightDecay: Float = 0) {
        self.learningRate = learningRate
        self.momentum = momentum
        self.weightDecay = weightDecay
    }

    /// The paper's: momentum 0.9, weight decay 0.0005.
    public static func paper(learningRate: Float = 0.01) -> SGD {
        SGD(learningRate: learningRate, momentum: 0.9, weightDecay: 0.0005)
    }

    /// One pass over flat buffers of equal length.
    public func apply(parameters w: UnsafeMutableBufferPointer<Float>, gradients g: UnsafeMutableBufferPointer<Float>,
                      velocity v: UnsafeMutableBufferPointer<Float>) {
        precondition(w.count == g.count && w.count == v.count, "SGD: buffers of different lengths")
        for i in 0..<w.count {
            v[i] = momentum * v[i] - weightDecay * learningRate * w[i] - learningRate * g[i]
            w[i] += v[i]
        }
    }
}
