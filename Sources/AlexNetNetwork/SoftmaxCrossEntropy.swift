import AlexNetCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Softmax cross-entropy, the paper's "multinomial logistic regression" objective, averaged
/// over the batch:
///
///     p[n, k] = exp(z[n, k] - max z[n]) / sum over j of exp(z[n, j] - max z[n])
///     loss    = -(1/N) sum over n of log p[n, label n]
///     dz      = (p - onehot(label)) / N
///
/// With label smoothing eps (Szegedy et al. 2016, PyTorch's `CrossEntropyLoss(label_smoothing=)`)
/// the target is q = (1 - eps) onehot(label) + eps / K instead of the one-hot vector:
///
///     loss = -(1/N) sum over n, k of q[n, k] log p[n, k]
///     dz   = (p - q) / N
///
/// Logits of any shape `[N, ...]` are taken as N rows of K = (product of the rest) classes.
/// Subtracting the row maximum keeps exp from overflowing; the log-probability is computed as
/// (z - max) - log(sum) so that a confident wrong answer gives a large finite loss, not inf.
public enum SoftmaxCrossEntropy {
    /// Row-wise softmax of `rows x classes` scores, in place: the one implementation that
    /// evaluation, prediction and ten-crop averaging use.
    public static func softmax(_ z: UnsafeMutableBufferPointer<Float>, rows: Int, classes: Int) {
        precondition(z.count >= rows * classes, "softmax: \(z.count) scores for \(rows) x \(classes)")
        for row in 0..<rows {
            let base = row * classes
            var top = -Float.infinity
            for k in 0..<classes { top = max(top, z[base + k]) }
            var sum: Float = 0
            for k in 0..<classes {
                z[base + k] = expf(z[base + k] - top)
                sum += z[base + k]
            }
            for k in 0..<classes { z[base + k] /= sum }
        }
    }

    /// Row-wise softmax of `[N, K]` logits.
    public static func probabilities(_ logits: Tensor) -> Tensor {
        var p = logits
        p.scalars.withUnsafeMutableBufferPointer { softmax($0, rows: logits.shape[0], classes: logits.count / max(logits.shape[0], 1)) }
        return p
    }

    /// The mean loss over `labels.count` rows of `classes` logits, and its gradient with respect
    /// to the logits written to `dz` (same layout): the host implementation every backend on the
    /// host uses. Labels must be in 0..<classes (`Plan.check` makes sure).
    public static func lossAndGradient(logits z: UnsafeBufferPointer<Float>, labels: [Int], classes: Int,
                                       labelSmoothing eps: Float = 0, gradient dz: UnsafeMutablePointer<Float>) -> Float {
        precondition((0..<1).contains(eps), "SoftmaxCrossEntropy: label smoothing \(eps) outside [0, 1)")
        let rows = labels.count
        var total: Double = 0
        let scale = 1 / Float(rows)
        let spread = eps / Float(classes)
        for row in 0..<rows {
            let label = labels[row]
            precondition(label >= 0 && label < classes, "SoftmaxCrossEntropy: label \(label) outside 0..<\(classes)")
            let base = row * classes
            var top = -Float.infinity
            for j in 0..<classes { top = max(top, z[base + j]) }
            var sum: Double = 0
            for j in 0..<classes { sum += Double(expf(z[base + j] - top)) }
            let logSum = log(sum)
            total += logSum - Double(z[base + label] - top)
            if eps > 0 {
                // -sum over k of q_k log p_k = (1 - eps) (-log p_label) + (eps / K) sum over k of (-log p_k)
                var allTerms: Double = 0
                for j in 0..<classes { allTerms += logSum - Double(z[base + j] - top) }
                total += Double(eps) * (allTerms / Double(classes) - (logSum - Double(z[base + label] - top)))
            }
            let inverse = Float(1 / sum)
            for j in 0..<classes { dz[base + j] = (expf(z[base + j] - top) * inverse - spread) * scale }
            dz[base + label] -= (1 - eps) * scale
        }
        return Float(total / Double(rows))
    }

    /// The mean loss and its gradient for `[N, K]` logits.
    public static func lossAndGradient(logits: Tensor, labels: [Int], labelSmoothing: Float = 0) -> (loss: Float, gradient: Tensor) {
        let classes = logits.count / max(logits.shape[0], 1)
        precondition(labels.count == logits.shape[0], "SoftmaxCrossEntropy: \(labels.count) labels for \(logits.shape[0]) rows")
        var gradient = Tensor(zeros: logits.shape)
        let loss = logits.scalars.withUnsafeBufferPointer { z in
            gradient.scalars.withUnsafeMutableBufferPointer {
                lossAndGradient(logits: z, labels: labels, classes: classes, labelSmoothing: labelSmoothing, gradient: $0.baseAddress!)
            }
        }
        return (loss, gradient)
    }

    /// Mean loss over the batch.
    public static func loss(logits: Tensor, labels: [Int]) -> Float { lossAndGradient(logits: logits, labels: labels).loss }

    /// Gradient of the mean loss with respect to the logits.
    public static func gradient(logits: Tensor, labels: [Int]) -> Tensor { lossAndGradient(logits: logits, labels: labels).gradient }
}
