import AlexNetCore
import AlexNetNetwork
import Dispatch

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
/// - `adamw` (Loshchilov and Hutter, "Decoupled Weight Decay Regularization", 2019) as PyTorch's
///   `torch.optim.AdamW` computes it, with its defaults (beta1 0.9, beta2 0.999, epsilon 1e-8,
///   weight decay lambda 0.01); t = step + 1. The decay shrinks the weights directly instead of
///   entering the gradient:
///
///       w <- w - eps * lambda * w
///       m <- beta1 m + (1 - beta1) g;   v <- beta2 v + (1 - beta2) g^2
///       w <- w - eps * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + epsilon)
/// - `lars`, layer-wise adaptive rate scaling (You, Gitman and Ginsburg 2017, arXiv 1708.03888,
///   Algorithm 1), for large batches: every parameter tensor (each layer's weight and bias) gets
///   its own local rate from a trust ratio, with eta the trust coefficient and beta the weight
///   decay:
///
///       lambda <- eta * ||w|| / (||g|| + beta * ||w||)     (1 when ||w|| or ||g|| is 0)
///       v <- momentum * v + eps * lambda * (g + beta * w)
///       w <- w - v
public struct Optimizer: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        /// The paper's SGD with momentum and weight decay (plain SGD when both are 0).
        case sgd
        /// Adam with Keras's defaults.
        case adam
        /// Adam with decoupled weight decay, PyTorch's `AdamW` and its defaults.
        case adamw
        /// LARS: SGD with momentum whose rate each tensor scales by its trust ratio.
        case lars
    }

    public var kind: Kind
    public var momentum: Float = 0
    public var weightDecay: Float = 0
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var epsilon: Float = 1e-7
    /// LARS's trust coefficient eta (nil: 0.001, the paper's).
    public var trustCoefficient: Float?
    /// Clip the gradients to this L2 norm over all parameters before each update (nil: never),
    /// as PyTorch's `clip_grad_norm_`: g <- g * min(1, clipNorm / (||g|| + 1e-6)).
    public var clipNorm: Float?
    /// Learning-rate multipliers by layer name, PyTorch's parameter groups (nil: 1 for every
    /// layer). 0 freezes a layer: no update at all, neither decay nor momentum (and plans compute
    /// no gradient for it, see `ResolvedNetwork.frozenLayers`); fine-tuning's usual recipe gives
    /// a new head 10. Layers not named take 1.
    public var layerRates: [String: Float]?

    public init(kind: Kind, momentum: Float = 0, weightDecay: Float = 0) {
        self.kind = kind
        self.momentum = momentum
        self.weightDecay = weightDecay
    }

    /// LARS with momentum 0.9, weight decay 5e-4 and trust coefficient 0.001 by default.
    public static func lars(momentum: Float = 0.9, weightDecay: Float = 0.0005, trustCoefficient: Float = 0.001) -> Optimizer {
        var optimizer = Optimizer(kind: .lars, momentum: momentum, weightDecay: weightDecay)
        optimizer.trustCoefficient = trustCoefficient
        return optimizer
    }

    /// Whether the rule needs whole tensors (norms), not just elements.
    public var isLayerwise: Bool { kind == .lars }

    /// SGD with momentum and weight decay (plain SGD with the defaults).
    public static func sgd(momentum: Float = 0, weightDecay: Float = 0) -> Optimizer {
        Optimizer(kind: .sgd, momentum: momentum, weightDecay: weightDecay)
    }

    /// The paper's: SGD with momentum 0.9 and weight decay 0.0005.
    public static let paper = sgd(momentum: 0.9, weightDecay: 0.0005)

    /// Adam with Keras's defaults (beta1 0.9, beta2 0.999, epsilon 1e-7).
    public static let adam = Optimizer(kind: .adam)

    /// AdamW with PyTorch's defaults (beta1 0.9, beta2 0.999, epsilon 1e-8, weight decay 0.01).
    public static func adamw(weightDecay: Float = 0.01) -> Optimizer {
        var optimizer = Optimizer(kind: .adamw, weightDecay: weightDecay)
        optimizer.epsilon = 1e-8
        return optimizer
    }

    /// Names of the per-parameter state buffers (checkpoints store them under these names).
    public var stateNames: [String] {
        switch kind {
        case .sgd, .lars: ["velocity"]
        case .adam, .adamw: ["m", "v"]
        }
    }

    public var summary: String { rule + (clipNorm.map { ", gradients clipped to norm \($0)" } ?? "") }

    private var rule: String {
        switch kind {
        case .sgd where momentum == 0 && weightDecay == 0: "plain SGD"
        case .sgd: "SGD momentum \(momentum) weight decay \(weightDecay)"
        case .adam: "Adam (beta1 \(beta1), beta2 \(beta2), epsilon \(epsilon))"
        case .adamw: "AdamW (beta1 \(beta1), beta2 \(beta2), epsilon \(epsilon)) weight decay \(weightDecay)"
        case .lars: "LARS (trust \(trustCoefficient ?? 0.001)) momentum \(momentum) weight decay \(weightDecay)"
        }
    }

    /// Scales `gradients` down to `clipNorm` when their L2 norm is larger (see `clipNorm`);
    /// returns the norm before clipping (nil without `clipNorm`).
    @discardableResult
    public func clip(_ gradients: FloatBuffer) -> Float? {
        guard let clipNorm else { return nil }
        let norm = Self.norm(gradients.pointer)
        let coefficient = Double(clipNorm) / (norm + 1e-6)
        if coefficient < 1 {
            let scale = Float(coefficient)
            for i in 0..<gradients.count { gradients.baseAddress[i] *= scale }
        }
        return Float(norm)
    }

    /// The L2 norm of `values`, summed in double precision.
    static func norm(_ values: UnsafeMutableBufferPointer<Float>) -> Double {
        var sum = 0.0
        for value in values { sum += Double(value) * Double(value) }
        return sum.squareRoot()
    }

    /// LARS's trust ratio of one tensor (see the type's comment).
    public func trustRatio(parameters w: UnsafeMutableBufferPointer<Float>, gradients g: UnsafeMutableBufferPointer<Float>) -> Float {
        let (weightNorm, gradientNorm) = (Self.norm(w), Self.norm(g))
        guard weightNorm > 0, gradientNorm > 0 else { return 1 }
        return Float(Double(trustCoefficient ?? 0.001) * weightNorm / (gradientNorm + Double(weightDecay) * weightNorm))
    }

    /// The update over whole flat buffers laid out by `layout`, on the host, in `chunks`
    /// parallel pieces: elementwise rules split the buffers evenly; LARS takes one tensor at a
    /// time (its norms first, then the elementwise step at its own rate).
    public func update(learningRate eps: Float, step: Int, parameters: FloatBuffer, gradients: FloatBuffer, state: [FloatBuffer],
                       layout: ParameterLayout, chunks: Int) {
        if isLayerwise {
            let slots = layout.slots.filter { $0.isTrainable && rateMultiplier(of: $0) != 0 }
            DispatchQueue.concurrentPerform(iterations: slots.count) { index in
                let slot = slots[index]
                let (w, g) = (parameters.view(offset: slot.offset, count: slot.count), gradients.view(offset: slot.offset, count: slot.count))
                apply(learningRate: eps * rateMultiplier(of: slot) * trustRatio(parameters: w, gradients: g), step: step, parameters: w, gradients: g,
                      state: state.map { $0.view(offset: slot.offset, count: slot.count) })
            }
            return
        }
        for run in rateRuns(layout) {
            let count = run.end - run.start
            let chunkSize = (count + max(chunks, 1) - 1) / max(chunks, 1)
            DispatchQueue.concurrentPerform(iterations: max(chunks, 1)) { chunk in
                let start = run.start + chunk * chunkSize, end = min(run.end, start + chunkSize)
                guard start < end else { return }
                apply(learningRate: eps * run.multiplier, step: step, parameters: parameters.view(offset: start, count: end - start),
                      gradients: gradients.view(offset: start, count: end - start),
                      state: state.map { $0.view(offset: start, count: end - start) })
            }
        }
    }

    /// The multiplier of `slot`'s layer (`layerRates`).
    public func rateMultiplier(of slot: ParameterSlot) -> Float {
        guard let layerRates else { return 1 }
        return layerRates[String(slot.name.dropLast(slot.spec.name.count + 1))] ?? 1
    }

    /// The trainable buffer as runs of equal rate multiplier, frozen layers left out (one run
    /// over the whole buffer without `layerRates`). Alignment gaps between tensors are zeros,
    /// which every rule leaves zero, so a run may span them.
    func rateRuns(_ layout: ParameterLayout) -> [(start: Int, end: Int, multiplier: Float)] {
        guard layerRates != nil else { return [(0, layout.trainableCount, 1)] }
        var runs: [(start: Int, end: Int, multiplier: Float)] = []
        for slot in layout.slots where slot.isTrainable {
            let multiplier = rateMultiplier(of: slot)
            if let last = runs.last, last.multiplier == multiplier, last.end <= slot.offset {
                runs[runs.count - 1].end = slot.offset + slot.count
            } else {
                runs.append((slot.offset, slot.offset + slot.count, multiplier))
            }
        }
        return runs.filter { $0.multiplier != 0 }
    }

    /// The update on host memory, for one chunk of the flat buffers (backends on the host split
    /// the buffers across threads; the rule is elementwise, so chunks are independent; for LARS,
    /// `eps` is the tensor's own rate, the base rate times its trust ratio). `state` holds one
    /// buffer per `stateNames`, each as long as `w`; `step` counts from 0.
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
        case .adamw:
            let (m, v) = (state[0], state[1])
            let t = Double(step + 1)
            let (c1, c2) = (Float(1 - pow(Double(beta1), t)), Float(1 - pow(Double(beta2), t)))
            let (a1, a2, shrink) = (1 - beta1, 1 - beta2, 1 - eps * weightDecay)
            for i in 0..<w.count {
                w[i] *= shrink
                m[i] += a1 * (g[i] - m[i])
                v[i] += a2 * (g[i] * g[i] - v[i])
                w[i] -= eps * (m[i] / c1) / ((v[i] / c2).squareRoot() + epsilon)
            }
        case .lars:
            let v = state[0]
            let (beta, mu) = (weightDecay, momentum)
            for i in 0..<w.count {
                v[i] = mu * v[i] + eps * (g[i] + beta * w[i])
                w[i] -= v[i]
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
