import AlexNetCore

/// Average pooling over square windows: y = (sum of x over the window) / divisor, where the
/// divisor is k*k when padded positions count as zeros (`includePadding`, PyTorch's default
/// `count_include_pad=True`) or the number of in-bounds inputs otherwise (Keras's `same`).
/// Backward spreads dy / divisor over the window.
public struct AveragePool: Layer {
    public static let kind = "avgpool"

    public var kernelSize: Int
    public var stride: Int
    public var padding: Int
    public var includePadding: Bool

    public init(kernelSize: Int, stride: Int, padding: Int = 0, includePadding: Bool = true) {
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
        self.includePadding = includePadding
    }

    public init(attributes a: inout Attributes) throws {
        self.init(kernelSize: try a.int("kernel"), stride: try a.int("stride", default: 1),
                  padding: try a.int("pad", default: 0),
                  includePadding: try a.bool("include_pad", default: true))
    }

    public var attributes: [(key: String, value: String)] {
        var list = [(key: "kernel", value: "\(kernelSize)"), (key: "stride", value: "\(stride)")]
        if padding > 0 { list.append((key: "pad", value: "\(padding)")) }
        if !includePadding { list.append((key: "include_pad", value: "false")) }
        return list
    }

    private var window: PoolingWindow { PoolingWindow(kernel: kernelSize, stride: stride, padding: padding) }
    public var configuration: String { window.configuration }

    public func outputShape(for input: Shape) throws(ShapeError) -> Shape {
        try window.outputShape(for: input)
    }

    private func divisor(_ inBounds: Int) -> Float {
        Float(includePadding ? kernelSize * kernelSize : inBounds)
    }

    public func forward(_ x: Tensor, parameters: LayerParameters, context: PassContext) -> Tensor {
        var y = Tensor(zeros: window.outputTensorShape(x))
        window.forEachWindow(inputShape: x.shape, outputShape: y.shape) { out, indices in
            y.scalars[out] = indices.reduce(0) { $0 + x.scalars[$1] } / divisor(indices.count)
        }
        return y
    }

    public func backward(input x: Tensor, output y: Tensor, outputGradient dy: Tensor,
                         parameters: LayerParameters, context: PassContext) -> Tensor {
        var dx = Tensor(zeros: x.shape)
        window.forEachWindow(inputShape: x.shape, outputShape: y.shape) { out, indices in
            let share = dy.scalars[out] / divisor(indices.count)
            for index in indices { dx.scalars[index] += share }
        }
        return dx
    }
}
