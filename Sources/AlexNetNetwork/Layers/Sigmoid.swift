import AlexNetCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Logistic sigmoid: y = 1 / (1 + exp(-x)). Backward: dx = dy * y * (1 - y).
public struct Sigmoid: Layer {
    public static let kind = "sigmoid"

    public init() {}
    public init(attributes: inout Attributes) throws {}

    public func outputShape(for input: Shape) throws(ShapeError) -> Shape { input }

    public func forward(_ x: Tensor, parameters: LayerParameters, context: PassContext) -> Tensor {
        Tensor(shape: x.shape, scalars: x.scalars.map { 1 / (1 + expf(-$0)) })
    }

    public func backward(input x: Tensor, output y: Tensor, outputGradient dy: Tensor,
                         parameters: LayerParameters, context: PassContext) -> Tensor {
        Tensor(shape: x.shape, scalars: zip(y.scalars, dy.scalars).map { $1 * $0 * (1 - $0) })
    }
}
