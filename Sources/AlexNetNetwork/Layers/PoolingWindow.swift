import AlexNetCore

/// The window arithmetic that max and average pooling share: square `kernel`, `stride`,
/// zero or -infinity `padding`, output size floor((H + 2p - k) / s) + 1 (PyTorch's
/// `ceil_mode=False`, Keras's `valid`). Windows overlap when stride < kernel, as in the paper.
struct PoolingWindow: Equatable, Sendable {
    var kernel: Int
    var stride: Int
    var padding: Int

    func outputShape(for input: Shape) throws(ShapeError) -> Shape {
        guard let (c, h, w) = input.image else { throw ShapeError("needs a CxHxW input, got \(input)") }
        guard kernel > 0, stride > 0, padding >= 0 else {
            throw ShapeError("kernel and stride must be positive and pad not negative")
        }
        guard padding * 2 <= kernel else {
            throw ShapeError("pad=\(padding) is more than half the \(kernel)x\(kernel) window")
        }
        guard h + 2 * padding >= kernel, w + 2 * padding >= kernel else {
            throw ShapeError("a \(kernel)x\(kernel) window does not fit a \(h)x\(w) input with padding \(padding)")
        }
        return Shape(channels: c, height: (h + 2 * padding - kernel) / stride + 1,
                     width: (w + 2 * padding - kernel) / stride + 1)
    }

    var configuration: String { "\(kernel)x\(kernel)/\(stride)" + (padding > 0 ? " p\(padding)" : "") }

    /// Calls `body(outputIndex, inputIndices)` for every output element, with the in-bounds
    /// input indices of its window in row-major order, and the window's full size k*k.
    func forEachWindow(inputShape: [Int], outputShape: [Int], _ body: (Int, [Int]) -> Void) {
        let (n, c, h, w) = (inputShape[0], inputShape[1], inputShape[2], inputShape[3])
        let (oh, ow) = (outputShape[2], outputShape[3])
        var indices: [Int] = []
        indices.reserveCapacity(kernel * kernel)
        for plane in 0..<(n * c) {
            for i in 0..<oh {
                for j in 0..<ow {
                    indices.removeAll(keepingCapacity: true)
                    for u in 0..<kernel {
                        let row = i * stride - padding + u
                        guard row >= 0 && row < h else { continue }
                        for v in 0..<kernel {
                            let col = j * stride - padding + v
                            guard col >= 0 && col < w else { continue }
                            indices.append((plane * h + row) * w + col)
                        }
                    }
                    body((plane * oh + i) * ow + j, indices)
                }
            }
        }
    }

    func outputTensorShape(_ x: Tensor) -> [Int] {
        let out = try! outputShape(for: Shape(Array(x.shape.dropFirst())))
        return [x.shape[0]] + out.dimensions
    }
}
