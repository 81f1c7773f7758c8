import AlexNetCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Hyperbolic tangent: y = tanh(x). Backward: dx = dy * (1 - y^2).
/// (The paper's baseline for showing that ReLUs train six times faster.)
public struct Tanh: Layer {
    public static let kind = "tanh"

    public init() {}
    public init(attributes: inout Attributes) throws {}

    public func outputShape(for input: Shape) throws(ShapeError) -> Shape { input }

    public func forward(_ x: Tensor, parameters: LayerParameters, context: PassContext) -> Tensor {
        Tensor(shape: x.shape, scalars: x.scalars.map { tanhf($0) })
    }

    public func backward(input x: Tensor, output y: Tensor, outputGradient dy: Tensor,
                         parameters: LayerParameters, context: PassContext) -> Tensor {
        Tensor(shape: x.shape, scalars: zip(y.scalars, dy.scalars).map { $1 * (1 - $0 * $0) })
    }
}
