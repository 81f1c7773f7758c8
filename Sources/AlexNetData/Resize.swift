/// Resizing by separable resampling. Each output pixel along an axis is a weighted sum of a few
/// input pixels; the weights depend only on the two sizes, so they are computed once per size
/// pair (`Resampler.Axis`) and reused for every image of that size.
///
/// - Upscaling is bilinear with pixel centres at half-integers (PyTorch's
///   `align_corners=False`, PIL's bilinear): output x samples input at (x + 0.5) * in/out - 0.5,
///   clamped to the edge.
/// - Downscaling is area averaging: output pixel x covers input [x * s, (x + 1) * s) with
///   s = in/out, and each input pixel weighs the length of its overlap (OpenCV's INTER_AREA). It
///   never aliases, unlike bilinear sampling of a large image.
public struct Resampler: Sendable {
    /// Taps for one axis: output `i` reads `count[i]` inputs starting at `first[i]`.
    public struct Axis: Sendable, Equatable {
        public let inputSize: Int
        public let outputSize: Int
        public var first: [Int] = []
        public var weights: [[Float]] = []

        public init(from inputSize: Int, to outputSize: Int) {
            precondition(inputSize > 0 && outputSize > 0, "Resampler: sizes must be positive")
            self.inputSize = inputSize
            self.outputSize = outputSize
            let scale = Double(inputSize) / Double(outputSize)
            for i in 0..<outputSize {
                if outputSize >= inputSize {
                    let x = min(max((Double(i) + 0.5) * scale - 0.5, 0), Double(inputSize - 1))
                    let left = min(Int(x), inputSize - 1)
                    let fraction = Float(x - Double(left))
                    first.append(left)
                    weights.append(left + 1 < inputSize ? [1 - fraction, fraction] : [1])
                } else {
                    let (start, end) = (Double(i) * scale, Double(i + 1) * scale)
                    let low = Int(start), high = min(inputSize, Int((end - 1e-9).rounded(.up)))
                    first.append(low)
                    weights.append((low..<high).map { j in
                        Float((min(end, Double(j + 1)) - max(start, Double(j))) / scale)
                    })
                }
            }
        }
    }

    public let horizontal: Axis
    public let vertical: Axis

    public init(from input: (width: Int, height: Int), to output: (width: Int, height: Int)) {
        horizontal = Axis(from: input.width, to: output.width)
        vertical = Axis(from: input.height, to: output.height)
    }

    /// `image` resampled to this resampler's output size, rounded to the nearest byte.
    public func callAsFunction(_ image: Image) -> Image {
        precondition(image.width == horizontal.inputSize && image.height == vertical.inputSize,
                     "Resampler: built for \(horizontal.inputSize)x\(vertical.inputSize), given \(image.width)x\(image.height)")
        let c = image.channels
        let (outW, outH, inH) = (horizontal.outputSize, vertical.outputSize, image.height)
        // Rows first: inH x outW x c floats.
        var rows = [Float](repeating: 0, count: inH * outW * c)
        image.pixels.withUnsafeBufferPointer { source in
            rows.withUnsafeMutableBufferPointer { target in
                for y in 0..<inH {
                    for x in 0..<outW {
                        let taps = horizontal.weights[x], start = horizontal.first[x]
                        for channel in 0..<c {
                            var sum: Float = 0
                            for t in 0..<taps.count {
                                sum += taps[t] * Float(source[(y * image.width + start + t) * c + channel])
                            }
                            target[(y * outW + x) * c + channel] = sum
                        }
                    }
                }
            }
        }
        var out = [UInt8](repeating: 0, count: outH * outW * c)
        rows.withUnsafeBufferPointer { source in
            out.withUnsafeMutableBufferPointer { target in
                let rowLength = outW * c
                for y in 0..<outH {
                    let taps = vertical.weights[y], start = vertical.first[y]
                    for i in 0..<rowLength {
                        var sum: Float = 0
                        for t in 0..<taps.count { sum += taps[t] * source[(start + t) * rowLength + i] }
                        target[y * rowLength + i] = UInt8(min(max(sum.rounded(), 0), 255))
                    }
                }
            }
        }
        return Image(width: outW, height: outH, channels: c, pixels: out)
    }

    /// The output size that makes the shorter side `shorterSide` and keeps the aspect ratio
    /// (torchvision's `Resize(int)`: the longer side is truncated, not rounded).
    public static func size(of image: (width: Int, height: Int), shorterSide: Int) -> (width: Int, height: Int) {
        if image.width <= image.height {
            return (shorterSide, max(1, shorterSide * image.height / image.width))
        }
        return (max(1, shorterSide * image.width / image.height), shorterSide)
    }
}
