import AlexNetCore

/// Fully connected layer: y[n, o] = b[o] + sum over i of w[o, i] * x[n, i].
/// Weight `[O, I]` (PyTorch's out x in), bias `[O]`. Takes a flat `[I]` input: put a
/// `flatten` before it when the previous layer produces feature maps.
public struct Linear: Layer {
    public static let kind = "linear"

    public var outputFeatures: Int
    public var hasBias: Bool

    public init(outputFeatures: Int, hasBias: Bool = true) {
        self.outputFeatures = outputFeatures
        self.hasBias = hasBias
    }

    public init(attributes a: inout Attributes) throws {
        self.init(outputFeatures: try a.int("out"), hasBias: try a.bool("bias", default: true))
    }

    public var attributes: [(key: String, value: String)] {
        [(key: "out", value: "\(outputFeatures)")] + (hasBias ? [] : [(key: "bias", value: "false")])
    }

    public func outputShape(for input: Shape) throws(ShapeError) -> Shape {
        guard input.rank == 1 else {
            throw ShapeError("needs a flat input, got \(input) (add a flatten layer before it)")
        }
        guard outputFeatures > 0 else { throw ShapeError("out must be positive") }
        return Shape(features: outputFeatures)
    }

    public func parameters(for input: Shape) -> [ParameterSpec] {
        let inputs = input.elementCount
        var specs = [ParameterSpec(name: "weight", shape: [outputFeatures, inputs], role: .weight,
                                   fanIn: inputs, fanOut: outputFeatures)]
        if hasBias {
            specs.append(ParameterSpec(name: "bias", shape: [outputFeatures], role: .bias,
                                       fanIn: inputs, fanOut: outputFeatures))
        }
        return specs
    }

    public func multiplyAccumulates(for input: Shape) -> Int { input.elementCount * outputFeatures }

    /// Sums are accumulated in Double so the oracle is more precise than what it checks.
    public func forward(_ x: Tensor, parameters: LayerParameters, context: PassContext) -> Tensor {
        let (n, inputs, outputs) = (x.shape[0], x.shape[1], outputFeatures)
        let weight = parameters.values[0]
        var y = Tensor(zeros: [n, outputs])
        for b in 0..<n {
            for o in 0..<outputs {
                var sum = hasBias ? Double(parameters.values[1][o]) : 0
                for i in 0..<inputs { sum += Double(weight[o * inputs + i]) * Double(x.scalars[b * inputs + i]) }
                y.scalars[b * outputs + o] = Float(sum)
            }
        }
        return y
    }

    /// dx = dy w;  dw += dy^T x;  db += sum over n of dy (each sum in Double).
    public func backward(input x: Tensor, output y: Tensor, outputGradient dy: Tensor,
                         parameters: LayerParameters, context: PassContext) -> Tensor {
        let (n, inputs, outputs) = (x.shape[0], x.shape[1], outputFeatures)
        let weight = parameters.values[0], weightGradient = parameters.gradients[0]
        var dx = Tensor(zeros: x.shape)
        for b in 0..<n {
            for i in 0..<inputs {
                var sum = 0.0
                for o in 0..<outputs { sum += Double(weight[o * inputs + i]) * Double(dy.scalars[b * outputs + o]) }
                dx.scalars[b * inputs + i] = Float(sum)
            }
        }
        for o in 0..<outputs {
            if hasBias {
                var sum = 0.0
                for b in 0..<n { sum += Double(dy.scalars[b * outputs + o]) }
                parameters.gradients[1][o] += Float(sum)
            }
            for i in 0..<inputs {
                var sum = 0.0
                for b in 0..<n { sum += Double(x.scalars[b * inputs + i]) * Double(dy.scalars[b * outputs + o]) }
                weightGradient[o * inputs + i] += Float(sum)
            }
        }
        return dx
    }
}
