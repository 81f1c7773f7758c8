import AlexNetCore

#if canImport(Glibc)
import Glibc
#endif

/// An update rule over the flat parameter buffer. It is applied to contiguous chunks (one per
/// thread), so it must be elementwise: element i of the result depends only on element i of
/// the parameters, the gradients and the state buffers.
public protocol Optimizer: Sendable {
    /// What users pass to `--optimizer`.
    var name: String { get }
    /// Names of the per-parameter state buffers (checkpoints store them under these names).
    var stateNames: [String] { get }
    var learningRate: Float { get set }
    /// Updates one chunk. `state` holds one buffer per `stateNames`, each as long as
    /// `parameters`; `step` counts updates from 1.
    func apply(parameters w: UnsafeMutableBufferPointer<Float>, gradients g: UnsafeMutableBufferPointer<Float>,
               state: [UnsafeMutableBufferPointer<Float>], step: Int)
}

/// Stochastic gradient descent with momentum and weight decay, exactly as the paper writes it
/// (section 5), with eps the learning rate:
///
///     v <- momentum * v - weightDecay * eps * w - eps * dL/dw
///     w <- w + v
///
/// With momentum 0 and weight decay 0 it is plain SGD, w <- w - eps * dL/dw (d2l's recipe).
/// Note: PyTorch's `SGD(momentum=)` keeps v without eps in it (v <- m v + g + wd w;
/// w <- w - eps v); the two agree while eps is constant and differ right after eps changes.
public struct SGD: Optimizer, Equatable {
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

    public var name: String { "sgd" }
    public var stateNames: [String] { ["velocity"] }

    public func apply(parameters w: UnsafeMutableBufferPointer<Float>, gradients g: UnsafeMutableBufferPointer<Float>,
                      state: [UnsafeMutableBufferPointer<Float>], step: Int) {
        let v = state[0]
        precondition(w.count == g.count && w.count == v.count, "SGD: buffers of different lengths")
        let (eps, decay, mu) = (learningRate, weightDecay * learningRate, momentum)
        for i in 0..<w.count {
            v[i] = mu * v[i] - decay * w[i] - eps * g[i]
            w[i] += v[i]
        }
    }
}

/// Adam (Kingma and Ba, 2015) as Keras computes it, with Keras's defaults:
///
///     m <- m + (1 - beta1) (g - m)
///     v <- v + (1 - beta2) (g^2 - v)
///     w <- w - eps * sqrt(1 - beta2^t) / (1 - beta1^t) * m / (sqrt(v) + epsilon)
///
/// (epsilon is added to sqrt(v) after the bias correction is folded into the step size, so it
/// matches Keras's "epsilon hat", not PyTorch's epsilon.)
public struct Adam: Optimizer, Equatable {
    public var learningRate: Float
    public var beta1: Float
    public var beta2: Float
    public var epsilon: Float

    public init(learningRate: Float = 0.001, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-7) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
    }

    public var name: String { "adam" }
    public var stateNames: [String] { ["m", "v"] }

    public func apply(parameters w: UnsafeMutableBufferPointer<Float>, gradients g: UnsafeMutableBufferPointer<Float>,
                      state: [UnsafeMutableBufferPointer<Float>], step: Int) {
        let (m, v) = (state[0], state[1])
        precondition(w.count == g.count && w.count == m.count && w.count == v.count, "Adam: buffers of different lengths")
        let t = Double(max(step, 1))
        let alpha = Float(Double(learningRate) * (1 - pow(Double(beta2), t)).squareRoot() / (1 - pow(Double(beta1), t)))
        let (a1, a2) = (1 - beta1, 1 - beta2)
        for i in 0..<w.count {
            m[i] += a1 * (g[i] - m[i])
            v[i] += a2 * (g[i] * g[i] - v[i])
            w[i] -= alpha * m[i] / (v[i].squareRoot() + epsilon)
        }
    }
}

/// The optimizer's buffers of a plan: one mirror of the parameters per `stateNames` entry,
/// allocated (as zeros) the first time an optimizer asks for them.
public final class OptimizerState: @unchecked Sendable {
    public private(set) var names: [String] = []
    public private(set) var buffers: [FloatBuffer] = []

    public init() {}

    /// The buffers for `optimizer`, allocating zeros if it needs other ones than are held.
    public func buffers(for optimizer: any Optimizer, count: Int) -> [FloatBuffer] {
        if names != optimizer.stateNames || buffers.first?.count != count {
            names = optimizer.stateNames
            buffers = names.map { _ in FloatBuffer(count: count) }
        }
        return buffers
    }
}
