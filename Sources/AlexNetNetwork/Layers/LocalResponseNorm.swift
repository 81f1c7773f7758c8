import AlexNetCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Local response normalization across channels (the paper, section 3.3):
///
///     y_c = x_c / (k + a * S_c)^beta,   S_c = sum of x_j^2 for j in [c - n/2, c + (n-1)/2]
///
/// clipped to the channel range, with n = `size`. The paper's constants are n = 5,
/// alpha = 1e-4, beta = 0.75, k = 2.
///
/// **The convention trap:** the paper multiplies the sum by a = alpha; Caffe, PyTorch
/// (`nn.LocalResponseNorm`) and ONNX multiply it by a = alpha / n. `convention` says which;
/// weights and constants taken from PyTorch need `.averaged`. (For even n the window is
/// PyTorch's: n/2 channels before, n/2 - 1 after.)
///
/// Backward, with d_c = k + a * S_c:
///
///     dx_j = dy_j * d_j^-beta - 2 a beta x_j * sum over c whose window holds j of dy_c x_c d_c^(-beta-1)
public struct LocalResponseNorm: Layer {
    public static let kind = "lrn"

    /// How alpha scales the sum of squares.
    public enum Convention: String, Sendable, CaseIterable {
        /// The paper's: alpha * sum.
        case paper
        /// Caffe's, PyTorch's and ONNX's: (alpha / size) * sum.
        case averaged
    }

    public var size: Int
    public var alpha: Float
    public var beta: Float
    public var k: Float
    public var convention: Convention

    public init(size: Int = 5, alpha: Float = 1e-4, beta: Float = 0.75, k: Float = 2,
                convention: Convention = .paper) {
        self.size = size
        self.alpha = alpha
        self.beta = beta
        self.k = k
        self.convention = convention
    }

    public init(attributes a: inout Attributes) throws {
        self.init(size: try a.int("size", default: 5), alpha: try a.float("alpha", default: 1e-4),
                  beta: try a.float("beta", default: 0.75), k: try a.float("k", default: 2),
                  convention: Convention(rawValue: try a.choice(
                      "convention", of: Convention.allCases.map(\.rawValue), default: "paper"))!)
    }

    public var attributes: [(key: String, value: String)] {
        [("size", "\(size)"), ("alpha", formatted(alpha)), ("beta", formatted(beta)), ("k", formatted(k)),
         ("convention", convention.rawValue)].map { (key: $0.0, value: $0.1) }
    }

    public var configuration: String {
        "n\(size) a\(formatted(alpha))\(convention == .averaged ? "/n" : "") b\(formatted(beta)) k\(formatted(k))"
    }

    /// The factor that multiplies the sum of squares.
    public var sumScale: Float { convention == .paper ? alpha : alpha / Float(size) }

    public func outputShape(for input: Shape) throws(ShapeError) -> Shape {
        guard input.rank == 3 else { throw ShapeError("needs a CxHxW input, got \(input)") }
        guard size > 0 else { throw ShapeError("size must be positive") }
        return input
    }

    /// d[n, c, h, w] = k + a * S_c, the denominator before the power.
    private func denominators(_ x: Tensor) -> [Float] {
        let (n, c, plane) = (x.shape[0], x.shape[1], x.shape[2] * x.shape[3])
        var d = [Float](repeating: 0, count: x.count)
        for b in 0..<n {
            for channel in 0..<c {
                let low = max(0, channel - size / 2), high = min(c - 1, channel + (size - 1) / 2)
                for position in 0..<plane {
                    var sum: Float = 0
                    for j in low...high {
                        let value = x.scalars[(b * c + j) * plane + position]
                        sum += value * value
                    }
                    d[(b * c + channel) * plane + position] = k + sumScale * sum
                }
            }
        }
        return d
    }

    public func forward(_ x: Tensor, parameters: LayerParameters, context: PassContext) -> Tensor {
        let d = denominators(x)
        return Tensor(shape: x.shape, scalars: zip(x.scalars, d).map { $0 * powf($1, -beta) })
    }

    public func backward(input x: Tensor, output y: Tensor, outputGradient dy: Tensor,
                         parameters: LayerParameters, context: PassContext) -> Tensor {
        let (n, c, plane) = (x.shape[0], x.shape[1], x.shape[2] * x.shape[3])
        let d = denominators(x)
        // t_c = dy_c x_c d_c^(-beta-1), shared by every j in c's window.
        var t = [Float](repeating: 0, count: x.count)
        for i in 0..<x.count { t[i] = dy.scalars[i] * x.scalars[i] * powf(d[i], -beta - 1) }
        var dx = Tensor(zeros: x.shape)
        for b in 0..<n {
            for j in 0..<c {
                // c's window [c - size/2, c + (size-1)/2] holds j when c is in this range:
                let low = max(0, j - (size - 1) / 2), high = min(c - 1, j + size / 2)
                for position in 0..<plane {
                    let index = (b * c + j) * plane + position
                    var sum: Float = 0
                    for channel in low...high { sum += t[(b * c + channel) * plane + position] }
                    dx.scalars[index] = dy.scalars[index] * powf(d[index], -beta)
                        - 2 * sumScale * beta * x.scalars[index] * sum
                }
            }
        }
        return dx
    }
}
