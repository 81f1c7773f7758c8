import AlexNetCore
import AlexNetNetwork

/// What a plan is made for: training plans have backward passes, gradient buffers and optimizer
/// state; inference plans only run forward in evaluation mode (and need less memory);
/// attribution plans give the gradient of the network in evaluation mode (dropout the identity,
/// batch norm with its running statistics) with respect to its input (`Plan.inputGradient`),
/// which training never needs: what Grad-CAM and saliency maps explain is the network that
/// classifies, not the one that trains.
public enum PlanMode: String, Sendable, CaseIterable {
    case training, inference, attribution
}

/// A backend turns a network description, for one batch size and mode, into an executable
/// `Plan`. `ReferenceBackend` runs the layers' own plain-Swift math and is the oracle every other
/// backend is tested against. `Backends` finds one by name.
public protocol Backend: Sendable, CustomStringConvertible {
    /// The name users pass to `--backend`.
    var name: String { get }
    /// What it runs on, for a run's header (`cpu, 2 threads`).
    var description: String { get }
    func makePlan(for network: ResolvedNetwork, batchSize: Int, mode: PlanMode, seed: UInt64) throws -> any Plan
}

extension Backend {
    /// A training plan.
    public func makePlan(for network: ResolvedNetwork, batchSize: Int, seed: UInt64) throws -> any Plan {
        try makePlan(for: network, batchSize: batchSize, mode: .training, seed: seed)
    }
}

/// What one training pass gives back.
public struct StepOutput {
    /// The mean softmax cross-entropy over the batch.
    public var loss: Float
    /// `[N, classes]`, from the same forward pass (training mode: dropout on).
    public var logits: Tensor
}

/// An executable network for one batch size: the flat parameter buffer, its gradient mirror,
/// the state buffer (batch norm statistics), the optimizer's buffers, and the passes over them.
///
/// The buffers are the host's view of the plan's tensors. A backend whose tensors live
/// elsewhere (a GPU) keeps its own copies and synchronises at two explicit points:
/// `copyToHost()` before the host reads (checkpoints, export, comparisons) and `copyFromHost()`
/// after the host wrote (initialisation, loading a checkpoint). Host backends do nothing there.
/// Gradients reach the host only through `withHostGradients`, the one place a gradient
/// reducer (an all-reduce across processes) works on them.
public protocol Plan: AnyObject {
    var network: ResolvedNetwork { get }
    var batchSize: Int { get }
    var mode: PlanMode { get }
    /// Trainable parameters, laid out by `network.layout`.
    var parameters: FloatBuffer { get }
    /// Gradients, a mirror of `parameters` (used by training plans only).
    var gradients: FloatBuffer { get }
    /// Non-trainable state (batch norm running statistics).
    var state: FloatBuffer { get }
    /// The optimizer's per-parameter buffers (velocity, Adam's moments), mirrors of
    /// `parameters`; allocated by the first `update`.
    var optimizerState: OptimizerState { get }
    /// Label smoothing eps of the training loss (0: plain cross-entropy; see
    /// `SoftmaxCrossEntropy`).
    var labelSmoothing: Float { get set }

    /// Makes `parameters`, `state` and the optimizer's buffers on the host current.
    func copyToHost()
    /// Takes `parameters`, `state` and the optimizer's buffers from the host.
    func copyFromHost()
    /// Runs `body` on the gradients of the last `computeGradients` in host memory; what `body`
    /// leaves there is what `update` uses.
    func withHostGradients(_ body: (FloatBuffer) throws -> Void) rethrows

    /// Logits `[N, classes]` for `input` (`[N] + inputShape`), in evaluation mode.
    func infer(_ input: Tensor) throws -> Tensor

    /// One forward and backward pass in training mode at optimizer step `step` (from 0; it keys
    /// dropout masks): sets the gradients to those of the mean softmax cross-entropy loss (with `labelSmoothing`).
    ///
    /// Data-parallel training gives two more things. `firstRow` is the global position of the
    /// batch's first row when the batch is one process's slice of a larger one (dropout masks
    /// follow the rows). `gradientsReady`, called on the calling thread during backward, says
    /// that the gradients from a flat offset to the end of the buffer are final: backward runs
    /// from the last layer, whose parameters are last in the buffer, so a reducer can send the
    /// fully connected layers' gradients while the convolutions' are being computed. The last
    /// call says 0 (all of them).
    func computeGradients(input: Tensor, labels: [Int], step: Int, firstRow: Int,
                          gradientsReady: ((Int) -> Void)?) throws -> StepOutput

    /// Applies `optimizer` at `learningRate` to the parameters using the gradients, as step
    /// `step` (from 0, the same count `computeGradients` took).
    func update(with optimizer: Optimizer, learningRate: Float, step: Int) throws

    /// The gradient with respect to `input` (`[N] + inputShape`) of the sum of `outputGradient`
    /// times the plan's output (`[N, outputs]`) in evaluation mode (dropout the identity, batch
    /// norm with its running statistics, which it leaves alone): one forward pass, then backward
    /// from `outputGradient`. Plans made for `.attribution` only.
    func inputGradient(input: Tensor, outputGradient: Tensor) throws -> Tensor
}

extension Plan {
    /// A training pass over a whole batch (see the requirement).
    public func computeGradients(input: Tensor, labels: [Int], step: Int) throws -> StepOutput {
        try computeGradients(input: input, labels: labels, step: step, firstRow: 0, gradientsReady: nil)
    }

    /// `computeGradients` then `update`: training step `step` (from 0). Returns the loss.
    @discardableResult
    public func trainingStep(input: Tensor, labels: [Int], step: Int, optimizer: Optimizer, learningRate: Float) throws -> Float {
        let output = try computeGradients(input: input, labels: labels, step: step)
        try update(with: optimizer, learningRate: learningRate, step: step)
        return output.loss
    }

    /// Fills parameters and state with the network's initialization scheme.
    public func initialize(seed: UInt64) {
        network.network.initialization.initialize(
            network, parameters: parameters.pointer, state: state.pointer, seed: seed)
        copyFromHost()
    }

    /// Checks an `inputGradient` request: an attribution plan, an input batch and an output
    /// gradient of the plan's shapes.
    public func checkAttribution(input: Tensor, outputGradient: Tensor) throws(PlanError) {
        guard mode == .attribution else { throw .wrongMode("give input gradients", mode) }
        try check(input: input)
        let outputShape = [batchSize] + network.outputShape.dimensions
        guard outputGradient.shape == outputShape else { throw .inputShape(outputGradient.shape, expected: outputShape) }
    }

    /// Checks an input batch and its labels against the plan, before anything runs.
    public func check(input: Tensor, labels: [Int]? = nil) throws(PlanError) {
        let expected = [batchSize] + network.inputShape.dimensions
        guard input.shape == expected else { throw .inputShape(input.shape, expected: expected) }
        guard let labels else { return }
        guard labels.count == batchSize else { throw .labelCount(labels.count, batchSize: batchSize) }
        let classes = network.outputShape.elementCount
        if let bad = labels.first(where: { $0 < 0 || $0 >= classes }) { throw .label(bad, classes: classes) }
    }
}

/// A request a plan cannot run, with what it expected.
public enum PlanError: Error, Equatable, CustomStringConvertible {
    case inputShape([Int], expected: [Int])
    case labelCount(Int, batchSize: Int)
    case label(Int, classes: Int)
    case wrongMode(String, PlanMode)
    case batchSize(Int)
    case batchMismatch(Int, expected: Int)
    case memory(network: String, batchSize: Int, mode: PlanMode, needed: Int, available: Int, largestBatch: Int)

    public var description: String {
        switch self {
        case let .inputShape(shape, expected): "input of shape \(shape), but the plan takes \(expected)"
        case let .labelCount(count, batchSize): "\(count) labels for a batch of \(batchSize)"
        case let .label(label, classes): "label \(label) outside 0..<\(classes)"
        case let .batchSize(size): "the batch size must be positive, got \(size)"
        case let .batchMismatch(size, expected): "a plan for batches of \(size), where batches of \(expected) are needed"
        case let .memory(network, batchSize, mode, needed, available, largestBatch):
            "a plan for \(mode.rawValue) of \(network) at batch \(batchSize) needs at least \(gibibytes(needed)), but this machine "
                + "has \(gibibytes(available)) available; "
                + (largestBatch > 0 ? "try a batch of \(largestBatch) or less" : "the network's parameters alone do not fit: make it smaller")
        case let .wrongMode(what, mode):
            "a plan made for \(mode.rawValue) cannot \(what); make one for \(what == "give input gradients" ? "attribution" : "training")"
        }
    }
}

/// Time spent in one operation of a plan, summed over the steps since the last reset.
public struct OperationTiming: Sendable {
    public var name: String
    public var implementation: String
    /// Multiply-accumulates per example.
    public var multiplyAccumulates: Int
    public var forwardSeconds: Double
    public var backwardSeconds: Double
}

/// A plan that can time each of its operations (`alexnet bench --per-layer`).
public protocol ProfilingPlan: Plan {
    /// When true, passes record the time of every operation.
    var isProfiling: Bool { get set }
    /// Per-operation times since the last `resetTimings()`.
    var timings: [OperationTiming] { get }
    func resetTimings()
}
