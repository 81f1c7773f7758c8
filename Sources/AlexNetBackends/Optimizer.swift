import AlexNetCore

#if canImport(Glibc)
import Glibc
#endif

/// An update rule, described as data: a recipe stores it, a checkpoint records it, and each
/// backend lowers it to its own update over the flat buffers (`Plan.update`). The learning rate
/// is not part of it: the schedule gives one per step.
///
/// - `sgd`, exactly as the paper writes it (section 5), with eps the learning rate:
///
///       v <- momentum * v - weightDecay * eps * w - eps * dL/dw
///       w <- w + v
///
///   With momentum 0 and weight decay 0 it is plain SGD, w <- w - eps * dL/dw (d2l's recipe).
///   Note: PyTorch's `SGD(momentum=)` keeps v without eps in it (v <- m v + g + wd w;
///   w <- w - eps v); the two agree while eps is constant and differ right after eps changes.
/// - `adam` (Kingma and Ba, 2015) as Keras computes it, with Keras's defaults; t = step + 1:
///
///       m <- m + (1 - beta1) (g - m)
///       v <- v + (1 - beta2) (g^2 - v)
///       w <- w - eps * sqrt(1 - beta2^t) / (1 - beta1^t) * m / (sqrt(v) + epsilon)
///
///   (epsilon is added to sqrt(v) after the bias correction is folded into the step size, so it
///   matches Keras's "epsilon hat", not PyTorch's epsilon.)
public struct Optimizer: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        /// The paper's SGD with momentum and weight decay (plain SGD when both are 0).
        case sgd
        /// Adam with Keras's defaults.
        case adam
    }

    public var kind: Kind
    public var momentum: Float = 0
    public var weightDecay: Float = 0
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var epsilon: Float = 1e-7

    public init(kind: Kind, momentum: Float = 0, weightDecay: Float = 0) {
        self.kind = kind
        self.momentum = momentum
        self.weightDecay = weightDecay
    }

    /// SGD with momentum and weight decay (plain SGD with the defaults).
    public static func sgd(momentum: Float = 0, weightDecay: Float = 0) -> Optimizer {
        Optimizer(kind: .sgd, momentum: momentum, weightDecay: weightDecay)
    }

    /// The paper's: SGD with momentum 0.9 and weight decay 0.0005.
    public static let paper = sgd(momentum: 0.9, weightDecay: 0.0005)

    /// Adam with Keras's defaults (beta1 0.9, beta2 0.999, epsilon 1e-7).
    public static let adam = Optimizer(kind: .adam)

    /// Names of the per-parameter state buffers (checkpoints store them under these names).
    public var stateNames: [String] {
        switch kind {
        case .sgd: ["velocity"]
        case .adam: ["m", "v"]
        }
    }

    public var summary: String {
        switch kind {
        case .sgd where momentum == 0 && weightDecay == 0: "plain SGD"
        case .sgd: "SGD momentum \(momentum) weight decay \(weightDecay)"
        case .adam: "Adam (beta1 \(beta1), beta2 \(beta2), epsilon \(epsilon))"
        }
    }

    /// The update on host memory, for one chunk of the flat buffers (backends on the host split
    /// the buffers across threads; the rule is elementwise, so chunks are independent). `state`
    /// holds one buffer per `stateNames`, each as long as `w`; `step` counts from 0.
    public func apply(learningRate eps: Float, step: Int, parameters w: UnsafeMutableBufferPointer<Float>,
                      gradients g: UnsafeMutableBufferPointer<Float>, state: [UnsafeMutableBufferPointer<Float>]) {
        precondition(state.count == stateNames.count && w.count == g.count && state.allSatisfy { $0.count == w.count },
                     "Optimizer.apply: buffers of different lengths")
        switch kind {
        case .sgd:
            let v = state[0]
            let (decay, mu) = (weightDecay * eps, momentum)
            for i in 0..<w.count {
                v[i] = mu * v[i] - decay * w[i] - eps * g[i]
                w[i] += v[i]
            }
        case .adam:
            let (m, v) = (state[0], state[1])
            let t = Double(step + 1)
            let alpha = Float(Double(eps) * (1 - pow(Double(beta2), t)).squareRoot() / (1 - pow(Double(beta1), t)))
            let (a1, a2) = (1 - beta1, 1 - beta2)
            for i in 0..<w.count {
                m[i] += a1 * (g[i] - m[i])
                v[i] += a2 * (g[i] * g[i] - v[i])
                w[i] -= alpha * m[i] / (v[i].squareRoot() + epsilon)
            }
        }
    }
}

/// The optimizer's buffers of a plan: one mirror of the parameters per `stateNames` entry,
/// allocated (as zeros) the first time an optimizer asks for them. They live with the plan
/// because they live where the parameters do (host memory here; device memory on a GPU).
public final class OptimizerState: @unchecked Sendable {
    public private(set) var names: [String] = []
    public private(set) var buffers: [FloatBuffer] = []

    public init() {}

    /// The buffers for `optimizer`, allocating zeros if it needs other ones than are held.
    public func buffers(for optimizer: Optimizer, count: Int) -> [FloatBuffer] {
        if names != optimizer.stateNames || buffers.first?.count != count {
            names = optimizer.stateNames
            buffers = names.map { _ in FloatBuffer(count: count) }
        }
        return buffers
    }
}
