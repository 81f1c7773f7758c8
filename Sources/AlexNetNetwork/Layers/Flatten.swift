import AlexNetCore

/// Reshapes each example to a flat vector: `[C, H, W]` -> `[C*H*W]`, in C order, as
/// PyTorch's `nn.Flatten` does (so fc6's weights line up with torchvision's).
public struct Flatten: Layer {
    public static let kind = "flatten"

    public init() {}
    public init(attributes: inout Attributes) throws {}

    public func outputShape(for input: Shape) throws(ShapeError) -> Shape {
        Shape(features: input.elementCount)
    }

    public func forward(_ x: Tensor, parameters: LayerParameters, context: PassContext) -> Tensor {
        x.reshaped(to: [x.shape[0], x.count / x.shape[0]])
    }

    public func backward(input x: Tensor, output y: Tensor, outputGradient dy: Tensor,
                         parameters: LayerParameters, context: PassContext) -> Tensor {
        dy.reshaped(to: x.shape)
    }
}
