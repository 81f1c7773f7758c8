import AlexNetCore

/// Batch normalization (Ioffe and Szegedy, 2015) over the channels of `CxHxW` inputs (2-D) or
/// the features of flat `[F]` inputs (1-D). Not in the 2012 paper; the Keras CIFAR-10 tutorial
/// puts it after conv1 and conv2.
///
/// Training, per channel c over the M = N*H*W values of the batch:
///
///     mean = sum x / M,  var = sum (x - mean)^2 / M,  xhat = (x - mean) / sqrt(var + eps)
///     y = gamma * xhat + beta
///     running_mean <- (1 - momentum) running_mean + momentum mean
///     running_var  <- (1 - momentum) running_var  + momentum var * M / (M - 1)
///
/// Evaluation uses the running statistics instead. `momentum` follows PyTorch (0.1 by default;
/// Keras's 0.99 is PyTorch's 0.01). Backward in training mode:
///
///     dgamma += sum dy xhat,  dbeta += sum dy,
///     dx = gamma / (M sqrt(var + eps)) * (M dy - sum dy - xhat sum dy xhat)
public struct BatchNorm: Layer {
    public static let kind = "batchnorm"

    public var epsilon: Float
    public var momentum: Float

    public init(epsilon: Float = 1e-5, momentum: Float = 0.1) {
        self.epsilon = epsilon
        self.momentum = momentum
    }

    public init(attributes a: inout Attributes) throws {
        self.init(epsilon: try a.float("eps", default: 1e-5), momentum: try a.float("momentum", default: 0.1))
    }

    public var attributes: [(key: String, value: String)] {
        [(key: "eps", value: formatted(epsilon)), (key: "momentum", value: formatted(momentum))]
    }

    public var configuration: String { "eps \(formatted(epsilon)) m \(formatted(momentum))" }

    public func outputShape(for input: Shape) throws(ShapeError) -> Shape {
        guard input.rank == 1 || input.rank == 3 else {
            throw ShapeError("needs a CxHxW or flat input, got \(input)")
        }
        guard epsilon > 0, momentum >= 0, momentum <= 1 else {
            throw ShapeError("eps must be positive and momentum in [0, 1]")
        }
        return input
    }

    public func parameters(for input: Shape) -> [ParameterSpec] {
        let c = input.dimensions[0]
        return [
            ParameterSpec(name: "weight", shape: [c], role: .scale),
            ParameterSpec(name: "bias", shape: [c], role: .shift),
            ParameterSpec(name: "running_mean", shape: [c], role: .runningMean, isTrainable: false),
            ParameterSpec(name: "running_var", shape: [c], role: .runningVariance, isTrainable: false),
        ]
    }

    /// (channels, values per channel per example) of a batched tensor.
    private func layout(_ x: Tensor) -> (c: Int, plane: Int) {
        (x.shape[1], x.shape.count == 4 ? x.shape[2] * x.shape[3] : 1)
    }

    /// Index of value `i` of channel `channel` in example `b`.
    private func index(_ b: Int, _ channel: Int, _ i: Int, _ c: Int, _ plane: Int) -> Int {
        (b * c + channel) * plane + i
    }

    /// Per-channel batch mean and biased variance.
    private func batchStatistics(_ x: Tensor) -> (mean: [Float], variance: [Float]) {
        let (c, plane) = layout(x)
        let n = x.shape[0], m = Float(n * plane)
        var mean = [Float](repeating: 0, count: c), variance = [Float](repeating: 0, count: c)
        for channel in 0..<c {
            var sum: Float = 0
            for b in 0..<n { for i in 0..<plane { sum += x.scalars[index(b, channel, i, c, plane)] } }
            mean[channel] = sum / m
            var squares: Float = 0
            for b in 0..<n {
                for i in 0..<plane {
                    let centred = x.scalars[index(b, channel, i, c, plane)] - mean[channel]
                    squares += centred * centred
                }
            }
            variance[channel] = squares / m
        }
        return (mean, variance)
    }

    public func forward(_ x: Tensor, parameters p: LayerParameters, context: PassContext) -> Tensor {
        let (c, plane) = layout(x)
        let n = x.shape[0]
        let gamma = p.values[0], beta = p.values[1], runningMean = p.state[0], runningVariance = p.state[1]
        var mean = Array(runningMean), variance = Array(runningVariance)
        if context.isTraining {
            (mean, variance) = batchStatistics(x)
            let m = Float(n * plane)
            for channel in 0..<c {
                runningMean[channel] = (1 - momentum) * runningMean[channel] + momentum * mean[channel]
                let unbiased = m > 1 ? variance[channel] * m / (m - 1) : variance[channel]
                runningVariance[channel] = (1 - momentum) * runningVariance[channel] + momentum * unbiased
            }
        }
        var y = Tensor(zeros: x.shape)
        for b in 0..<n {
            for channel in 0..<c {
                let inverse = 1 / (variance[channel] + epsilon).squareRoot()
                for i in 0..<plane {
                    let at = index(b, channel, i, c, plane)
                    y.scalars[at] = gamma[channel] * (x.scalars[at] - mean[channel]) * inverse + beta[channel]
                }
            }
        }
        return y
    }

    public func backward(input x: Tensor, output y: Tensor, outputGradient dy: Tensor,
                         parameters p: LayerParameters, context: PassContext) -> Tensor {
        let (c, plane) = layout(x)
        let n = x.shape[0], m = Float(n * plane)
        let gamma = p.values[0]
        let (mean, variance) = context.isTraining
            ? batchStatistics(x) : (Array(p.state[0]), Array(p.state[1]))
        var dx = Tensor(zeros: x.shape)
        for channel in 0..<c {
            let inverse = 1 / (variance[channel] + epsilon).squareRoot()
            var sumDy: Float = 0, sumDyXhat: Float = 0
            for b in 0..<n {
                for i in 0..<plane {
                    let at = index(b, channel, i, c, plane)
                    sumDy += dy.scalars[at]
                    sumDyXhat += dy.scalars[at] * (x.scalars[at] - mean[channel]) * inverse
                }
            }
            p.gradients[0][channel] += sumDyXhat
            p.gradients[1][channel] += sumDy
            for b in 0..<n {
                for i in 0..<plane {
                    let at = index(b, channel, i, c, plane)
                    if context.isTraining {
                        let xhat = (x.scalars[at] - mean[channel]) * inverse
                        dx.scalars[at] = gamma[channel] * inverse / m * (m * dy.scalars[at] - sumDy - xhat * sumDyXhat)
                    } else {
                        dx.scalars[at] = gamma[channel] * inverse * dy.scalars[at]
                    }
                }
            }
        }
        return dx
    }
}
