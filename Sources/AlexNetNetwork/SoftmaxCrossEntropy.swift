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
/// Logits of any shape `[N, ...]` are taken as N rows of K = (product of the rest) classes.
/// Subtracting the row maximum keeps exp from overflowing; the log-probability is computed as
/// (z - max) - log(sum) so that a confident wrong answer gives a large finite loss, not inf.
public enum SoftmaxCrossEntropy {
    /// Row-wise softmax of `[N, K]` logits.
    public static func probabilities(_ logits: Tensor) -> Tensor {
        let (n, k) = (logits.shape[0], logits.count / max(logits.shape[0], 1))
        var p = Tensor(zeros: logits.shape)
        for b in 0..<n {
            let row = logits.scalars[(b * k)..<((b + 1) * k)]
            let top = row.max()!
            let exps = row.map { expf($0 - top) }
            let sum = exps.reduce(0, +)
            for j in 0..<k { p.scalars[b * k + j] = exps[j] / sum }
        }
        return p
    }

    /// Mean loss over the batch. Labels must be in 0..<K.
    public static func loss(logits: Tensor, labels: [Int]) -> Float {
        let (n, k) = (logits.shape[0], logits.count / max(logits.shape[0], 1))
        precondition(labels.count == n, "SoftmaxCrossEntropy: \(labels.count) labels for \(n) rows")
        var total: Double = 0
        for b in 0..<n {
            precondition(labels[b] >= 0 && labels[b] < k, "SoftmaxCrossEntropy: label \(labels[b]) outside 0..<\(k)")
            let row = logits.scalars[(b * k)..<((b + 1) * k)]
            let top = row.max()!
            let logSum = log(row.reduce(0.0) { $0 + exp(Double($1 - top)) })
            total += logSum - Double(row[row.startIndex + labels[b]] - top)
        }
        return Float(total / Double(n))
    }

    /// Gradient of the mean loss with respect to the logits.
    public static func gradient(logits: Tensor, labels: [Int]) -> Tensor {
        let (n, k) = (logits.shape[0], logits.count / max(logits.shape[0], 1))
        var dz = probabilities(logits)
        for b in 0..<n {
            dz.scalars[b * k + labels[b]] -= 1
        }
        for i in 0..<dz.count { dz.scalars[i] /= Float(n) }
        return dz
    }
}
