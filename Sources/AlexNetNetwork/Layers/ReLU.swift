import AlexNetCore

/// Rectified linear unit: y = max(0, x). Backward: dx = dy where y > 0, else 0 (at x = 0
/// the gradient is taken as 0, as in PyTorch).
public struct ReLU: Layer {
    public static let kind = "relu"

    public init() {}
    public init(attributes: inout Attributes) throws {}

    public func outputShape(for input: Shape) throws(ShapeError) -> Shape { input }

    public func forward(_ x: Tensor, parameters: LayerParameters, context: PassContext) -> Tensor {
        Tensor(shape: x.shape, scalars: x.scalars.map { max($0, 0) })
    }

    public func backward(input x: Tensor, output y: Tensor, outputGradient dy: Tensor,
                         parameters: LayerParameters, context: PassContext) -> Tensor {
        Tensor(shape: x.shape, scalars: zip(y.scalars, dy.scalars).map { $0 > 0 ? $1 : 0 })
    }
}
