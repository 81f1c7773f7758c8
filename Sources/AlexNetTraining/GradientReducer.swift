import AlexNetBackends
import AlexNetCore

/// What joins one process's training step to others': the trainer calls `reduce(gradients:)`
/// between backward and the optimizer update, and `sum` to add up the step's metrics. With
/// one process (`LocalReducer`) both leave their values as they are; a data-parallel reducer
/// (MPI, NCCL) averages the gradients over every process's share of the global batch, so that
/// each takes the same update. The trainer does not know which it has.
///
/// Every process must make the same calls in the same order (they are collective operations).
public protocol GradientReducer: AnyObject, Sendable {
    /// The processes taking part, and this one's place among them (0 writes the files).
    var rank: Int { get }
    var worldSize: Int { get }
    /// Replaces `gradients` (this process's, in host memory) with their mean over all processes.
    /// Parts already handed to `gradientsReady` may have been averaged while backward ran; this
    /// call finishes the rest and returns when all of it is done.
    func reduce(gradients: FloatBuffer) throws
    /// Replaces `values` with their elementwise sum over all processes.
    func sum(_ values: inout [Double]) throws
    /// Replaces `buffer` with process 0's copy (parameters at the start, so all begin equal).
    func broadcast(_ buffer: FloatBuffer) throws
    /// Whether `gradientsReady` is worth calling during backward (it can start sending).
    var overlapsBackward: Bool { get }
    /// During backward: `gradients[offset...]` are final for this step.
    func gradientsReady(from offset: Int, in gradients: FloatBuffer)
}

/// One process: nothing to reduce.
public final class LocalReducer: GradientReducer {
    public init() {}
    public var rank: Int { 0 }
    public var worldSize: Int { 1 }
    public func reduce(gradients: FloatBuffer) throws {}
    public func sum(_ values: inout [Double]) throws {}
    public func broadcast(_ buffer: FloatBuffer) throws {}
    public var overlapsBackward: Bool { false }
    public func gradientsReady(from offset: Int, in gradients: FloatBuffer) {}
}

extension GradientReducer {
    /// `metrics` summed over all processes.
    public func merged(_ metrics: Metrics) throws -> Metrics {
        guard worldSize > 1 else { return metrics }
        var sums = metrics.sums
        try sum(&sums)
        return Metrics(classes: metrics.classes, sums: sums)
    }

    /// True when `flag` is true in any process (so that all stop together).
    public func any(_ flag: Bool) throws -> Bool {
        guard worldSize > 1 else { return flag }
        var values = [flag ? 1.0 : 0]
        try sum(&values)
        return values[0] > 0
    }
}

extension Plan {
    /// A training pass as one of `reducer`'s processes takes it: the batch is the slice from
    /// global row `firstRow`, and backward hands finished gradients to the reducer (which may
    /// start averaging them) as it goes. Follow it with `reduceGradients(with:)`.
    public func computeGradients(input: Tensor, labels: [Int], step: Int, firstRow: Int,
                                 reducer: any GradientReducer) throws -> StepOutput {
        let gradients = self.gradients
        return try computeGradients(
            input: input, labels: labels, step: step, firstRow: firstRow,
            gradientsReady: reducer.overlapsBackward ? { reducer.gradientsReady(from: $0, in: gradients) } : nil)
    }

    /// Replaces the gradients with their mean over `reducer`'s processes.
    public func reduceGradients(with reducer: any GradientReducer) throws {
        try withHostGradients { try reducer.reduce(gradients: $0) }
    }
}
