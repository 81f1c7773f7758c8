import AlexNetBackends
import AlexNetCore
import AlexNetNetwork
import Foundation

/// How post-training calibration turns a tensor's observed values into its int8 range.
public enum CalibrationMethod: String, CaseIterable, Codable, Sendable {
    /// The largest magnitude seen: nothing saturates, small values get coarse steps.
    case minmax
    /// The 99.99th percentile of the magnitudes: the rarest outliers saturate.
    case percentile
    /// The threshold whose quantized distribution is closest (Kullback-Leibler divergence) to
    /// the observed one, over a 2048-bin histogram (TensorRT's entropy calibration).
    case entropy
}

/// Post-training static calibration for `Int8Plan`: runs the float network on calibration
/// batches and records, for each tensor the int8 plan quantizes, the range its values are
/// clipped to.
///
///     let ranges = try Calibration.ranges(of: floatPlan, batches: batches, method: .entropy)
///     let int8 = try Int8Plan(network: floatPlan.network, batchSize: 64, ranges: ranges)
public enum Calibration {
    /// Histogram bins for `percentile` and `entropy`.
    static let bins = 2048

    /// The ranges of `plan`'s network (with `plan`'s weights) over `batches` (preprocessed
    /// inputs, each `[N] + inputShape`). The input's range is its largest magnitude whatever
    /// the method. Each quantized tensor is taken from a plan of the
    /// network cut after the layer that produces it, on `backend`. `progress` hears (done, total)
    /// after every batch.
    public static func ranges(of plan: any Plan, batches: [Tensor], method: CalibrationMethod,
                              backend: any Backend = CPUBackend(), percentile: Double = 99.99,
                              progress: ((Int, Int) -> Void)? = nil) throws -> ActivationRanges {
        guard let first = batches.first else { throw CalibrationError.noImages }
        let tensors = try Int8Plan.quantizedTensors(of: plan.network)
        let passes = method == .minmax ? 1 : 2
        let total = tensors.count * batches.count * passes
        var done = 0
        var thresholds: [String: Float] = [:]
        for (name, isUnsigned) in tensors {
            // The values of this tensor for one batch.
            let values: (Tensor) throws -> [Float]
            if name == "input" {
                values = { $0.scalars }
            } else {
                let index = try plan.network.network.layerIndex(named: name)
                let part = try backend.makePlan(for: try plan.network.network.prefix(through: index).resolved(),
                                                batchSize: first.shape[0], mode: .inference, seed: 0)
                FeatureExtractor.copyTensors(from: plan, into: part)
                values = { try part.infer($0).scalars }
            }
            var largest: Float = 0
            for batch in batches {
                for x in try values(batch) where x.isFinite { largest = max(largest, abs(x)) }
                done += 1
                progress?(done, total)
            }
            guard largest > 0 else {
                thresholds[name] = 1  // all zeros: any range represents them exactly
                done += (passes - 1) * batches.count
                continue
            }
            // The network's input is bounded by its preprocessing, and its histogram is
            // spiky (a grayscale background is one value): clipping it only loses information
            // (entropy clipped Fashion-MNIST's at its background level and lost 1.3 points).
            guard method != .minmax, name != "input" else {
                thresholds[name] = largest
                done += (passes - 1) * batches.count
                continue
            }
            var histogram = [Double](repeating: 0, count: bins)
            let scale = Float(bins) / largest
            for batch in batches {
                // Exact zeros (half of a ReLU's outputs) are exact at any range: left out, they
                // no longer drown the bins that decide the range.
                for x in try values(batch) where x.isFinite && x != 0 { histogram[min(bins - 1, Int(abs(x) * scale))] += 1 }
                done += 1
                progress?(done, total)
            }
            let width = largest / Float(bins)
            let kept = method == .percentile ? percentileBins(histogram, percentile: percentile)
                : entropyBins(histogram, levels: isUnsigned ? 255 : 127)
            thresholds[name] = Float(kept) * width
        }
        return ActivationRanges(method: method.rawValue, thresholds: thresholds)
    }

    /// The number of bins that hold `percentile` percent of the values.
    static func percentileBins(_ histogram: [Double], percentile: Double) -> Int {
        let total = histogram.reduce(0, +)
        var sum = 0.0
        for (k, count) in histogram.enumerated() {
            sum += count
            if sum >= total * percentile / 100 { return k + 1 }
        }
        return histogram.count
    }

    /// The number of bins `i` (at least `levels`) that minimises KL(P || Q): P is the histogram's
    /// first `i` bins with everything beyond added to the last, Q is P merged into `levels`
    /// equal groups and spread back evenly over each group's non-empty bins.
    static func entropyBins(_ histogram: [Double], levels: Int) -> Int {
        guard histogram.count > levels else { return histogram.count }
        var best = (bins: histogram.count, divergence: Double.infinity)
        var outliers = histogram.reduce(0, +)
        for k in 0..<levels { outliers -= histogram[k] }
        for i in levels...histogram.count {
            if i > levels { outliers -= histogram[i - 1] }
            var p = Array(histogram[0..<i])
            p[i - 1] += max(0, outliers)
            var q = [Double](repeating: 0, count: i)
            for level in 0..<levels {
                let start = level * i / levels, end = (level + 1) * i / levels
                let sum = histogram[start..<end].reduce(0, +)
                let nonEmpty = p[start..<end].filter { $0 > 0 }.count
                guard nonEmpty > 0 else { continue }
                for k in start..<end where p[k] > 0 { q[k] = sum / Double(nonEmpty) }
            }
            let pSum = p.reduce(0, +), qSum = q.reduce(0, +)
            guard pSum > 0, qSum > 0 else { continue }
            var divergence = 0.0
            for k in 0..<i where p[k] > 0 {
                let pk = p[k] / pSum, qk = max(q[k] / qSum, 1e-12)
                divergence += pk * log(pk / qk)
            }
            if divergence < best.divergence { best = (i, divergence) }
        }
        return best.bins
    }
}

/// Calibration that cannot run.
public enum CalibrationError: Error, CustomStringConvertible {
    case noImages

    public var description: String {
        switch self {
        case .noImages: "calibration needs at least one batch of images"
        }
    }
}
