import AlexNetCore

/// Max pooling over square windows: y = max of x over the window (padding counts as -inf).
/// The paper's pooling is overlapping: 3x3 windows at stride 2.
///
/// Backward routes dy to the window's maximum. When several inputs tie for the maximum, the
/// first in row-major order wins (as in PyTorch's CPU kernel), so the gradient is never split
/// or duplicated. An input that is the maximum of several overlapping windows collects the
/// sum of their gradients.
public struct MaxPool: Layer {
    public static let kind = "maxpool"

    public var kernelSize: Int
    public var stride: Int
    public var padding: Int

    public init(kernelSize: Int = 3, stride: Int = 2, padding: Int = 0) {
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
    }

    public init(attributes a: inout Attributes) throws {
        self.init(kernelSize: try a.int("kernel", default: 3), stride: try a.int("stride", default: 2),
                  padding: try a.int("pad", default: 0))
    }

    public var attributes: [(key: String, value: String)] {
        [(key: "kernel", value: "\(kernelSize)"), (key: "stride", value: "\(stride)")]
            + (padding > 0 ? [(key: "pad", value: "\(padding)")] : [])
    }

    private var window: PoolingWindow { PoolingWindow(kernel: kernelSize, stride: stride, padding: padding) }
    public var configuration: String { window.configuration }

    public func outputShape(for input: Shape) throws(ShapeError) -> Shape {
        try window.outputShape(for: input)
    }

    /// The input index chosen by each output element.
    private func argmax(_ x: Tensor) -> (shape: [Int], indices: [Int]) {
        let shape = window.outputTensorShape(x)
        var chosen = [Int](repeating: 0, count: shape.reduce(1, *))
        window.forEachWindow(inputShape: x.shape, outputShape: shape) { out, window in
            var best = window[0]
            for index in window.dropFirst() where x.scalars[index] > x.scalars[best] { best = index }
            chosen[out] = best
        }
        return (shape, chosen)
    }

    public func forward(_ x: Tensor, parameters: LayerParameters, context: PassContext) -> Tensor {
        let (shape, chosen) = argmax(x)
        return Tensor(shape: shape, scalars: chosen.map { x.scalars[$0] })
    }

    public func backward(input x: Tensor, output y: Tensor, outputGradient dy: Tensor,
                         parameters: LayerParameters, context: PassContext) -> Tensor {
        var dx = Tensor(zeros: x.shape)
        for (out, index) in argmax(x).indices.enumerated() { dx.scalars[index] += dy.scalars[out] }
        return dx
    }
}
