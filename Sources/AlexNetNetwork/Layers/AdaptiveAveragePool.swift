import AlexNetCore

/// Adaptive average pooling to a fixed `size` x `size` output, as torchvision's AlexNet uses
/// before its classifier (identity when the input is already 6x6). Output cell (i, j) averages
/// input rows floor(i*H/S) ..< ceil((i+1)*H/S) and the same for columns, PyTorch's bins, which
/// may overlap when the input is not a multiple of the output.
public struct AdaptiveAveragePool: Layer {
    public static let kind = "adaptive_avgpool"

    public var outputSize: Int

    public init(outputSize: Int) { self.outputSize = outputSize }

    public init(attributes a: inout Attributes) throws {
        self.init(outputSize: try a.int("size"))
    }

    public var attributes: [(key: String, value: String)] { [(key: "size", value: "\(outputSize)")] }
    public var configuration: String { "to \(outputSize)x\(outputSize)" }

    public func outputShape(for input: Shape) throws(ShapeError) -> Shape {
        guard let (c, _, _) = input.image else { throw ShapeError("needs a CxHxW input, got \(input)") }
        guard outputSize > 0 else { throw ShapeError("size must be positive") }
        return Shape(channels: c, height: outputSize, width: outputSize)
    }

    private func bin(_ i: Int, _ inputSize: Int) -> Range<Int> {
        let start = (i * inputSize) / outputSize
        let end = ((i + 1) * inputSize + outputSize - 1) / outputSize
        return start..<end
    }

    /// Calls `body(outputIndex, inputIndices)` for every output cell.
    private func forEachBin(_ shape: [Int], _ body: (Int, [Int]) -> Void) {
        let (planes, h, w, s) = (shape[0] * shape[1], shape[2], shape[3], outputSize)
        for plane in 0..<planes {
            for i in 0..<s {
                for j in 0..<s {
                    var indices: [Int] = []
                    for row in bin(i, h) { for col in bin(j, w) { indices.append((plane * h + row) * w + col) } }
                    body((plane * s + i) * s + j, indices)
                }
            }
        }
    }

    public func forward(_ x: Tensor, parameters: LayerParameters, context: PassContext) -> Tensor {
        var y = Tensor(zeros: [x.shape[0], x.shape[1], outputSize, outputSize])
        forEachBin(x.shape) { out, indices in
            y.scalars[out] = indices.reduce(0) { $0 + x.scalars[$1] } / Float(indices.count)
        }
        return y
    }

    public func backward(input x: Tensor, output y: Tensor, outputGradient dy: Tensor,
                         parameters: LayerParameters, context: PassContext) -> Tensor {
        var dx = Tensor(zeros: x.shape)
        forEachBin(x.shape) { out, indices in
            for index in indices { dx.scalars[index] += dy.scalars[out] / Float(indices.count) }
        }
        return dx
    }
}
