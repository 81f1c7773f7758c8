import AlexNetCore

/// What joins one process's training step to others': the trainer calls `reduce(gradients:)`
/// between backward and the optimizer update, and `sum` to add up the step's metrics. With
/// one process (`LocalReducer`) both leave their values as they are; a data-parallel reducer
/// (MPI, NCCL) averages the gradients over every process's share of the global batch, so that
/// each takes the same update. The trainer does not know which it has.
public protocol GradientReducer: AnyObject {
    /// The processes taking part, and this one's place among them (0 writes the files).
    var rank: Int { get }
    var worldSize: Int { get }
    /// Replaces `gradients` (this process's, in host memory) with their mean over all processes.
    func reduce(gradients: FloatBuffer) throws
    /// Replaces `values` with their elementwise sum over all processes.
    func sum(_ values: inout [Double]) throws
}

/// One process: nothing to reduce.
public final class LocalReducer: GradientReducer {
    public init() {}
    public var rank: Int { 0 }
    public var worldSize: Int { 1 }
    public func reduce(gradients: FloatBuffer) throws {}
    public func sum(_ values: inout [Double]) throws {}
}

extension GradientReducer {
    /// `metrics` summed over all processes.
    public func merged(_ metrics: Metrics) throws -> Metrics {
        guard worldSize > 1 else { return metrics }
        var sums = metrics.sums
        try sum(&sums)
        return Metrics(classes: metrics.classes, sums: sums)
    }
}
