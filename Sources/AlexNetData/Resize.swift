/// Resizing by separable resampling. Each output pixel along an axis is a weighted sum of a few
/// neighbouring input pixels; the weights depend only on the sizes, so an `Axis` computes them
/// once and the passes are tight loops over flat arrays.
///
/// - Upscaling is bilinear with pixel centres at half-integers (PyTorch's
///   `align_corners=False`, PIL's bilinear): output x samples input at (x + 0.5) * in/out - 0.5,
///   clamped to the edge.
/// - Downscaling is area averaging: output pixel x covers input [x * s, (x + 1) * s) with
///   s = in/out, and each input pixel weighs the length of its overlap (OpenCV's INTER_AREA). It
///   never aliases, unlike bilinear sampling of a large image.
///
/// A resampler can produce just a window of the resized image, optionally mirrored: a random
/// crop and flip then cost nothing beyond the crop's own pixels.
public struct Resampler: Sendable {
    /// Taps for one axis: output `i` of the window reads `taps` inputs from `first[i]` on,
    /// weighted by `weights[i * taps ..< (i + 1) * taps]` (zero-padded).
    public struct Axis: Sendable, Equatable {
        public let inputSize: Int
        /// The size of the whole resized axis.
        public let resizedSize: Int
        /// The outputs computed: a window of the resized axis, in this order.
        public let outputs: [Int]
        public private(set) var taps = 1
        public private(set) var first: [Int] = []
        public private(set) var weights: [Float] = []

        public var outputSize: Int { outputs.count }

        public init(from inputSize: Int, to resizedSize: Int, window: Range<Int>? = nil, mirrored: Bool = false) {
            precondition(inputSize > 0 && resizedSize > 0, "Resampler: sizes must be positive")
            let window = window ?? 0..<resizedSize
            precondition(window.lowerBound >= 0 && window.upperBound <= resizedSize, "Resampler: window \(window) outside 0..<\(resizedSize)")
            self.inputSize = inputSize
            self.resizedSize = resizedSize
            outputs = mirrored ? window.reversed() : Array(window)
            let scale = Double(inputSize) / Double(resizedSize)
            let upscaling = resizedSize >= inputSize
            taps = min(inputSize, upscaling ? 2 : Int(scale.rounded(.up)) + 1)
            first = [Int](repeating: 0, count: outputs.count)
            weights = [Float](repeating: 0, count: outputs.count * taps)
            for (slot, i) in outputs.enumerated() {
                // The first input read, and the weights of inputs start, start + 1, ...
                let start: Int
                if upscaling {
                    let x = min(max((Double(i) + 0.5) * scale - 0.5, 0), Double(inputSize - 1))
                    start = min(Int(x), inputSize - 1)
                    let fraction = Float(x - Double(start))
                    first[slot] = min(start, inputSize - taps)
                    weights[slot * taps + start - first[slot]] += 1 - fraction
                    if start + 1 < inputSize { weights[slot * taps + start + 1 - first[slot]] += fraction }
                } else {
                    let (low, high) = (Double(i) * scale, Double(i + 1) * scale)
                    start = Int(low)
                    let end = min(inputSize, Int((high - 1e-9).rounded(.up)))
                    first[slot] = min(start, inputSize - taps)
                    for j in start..<end {
                        weights[slot * taps + j - first[slot]] = Float((min(high, Double(j + 1)) - max(low, Double(j))) / scale)
                    }
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

    public init(horizontal: Axis, vertical: Axis) {
        self.horizontal = horizontal
        self.vertical = vertical
    }

    /// `image` resampled, rounded to the nearest byte. The vertical pass runs first, over
    /// whole input rows (contiguous, so it vectorises), then the horizontal pass over the
    /// already reduced rows.
    public func callAsFunction(_ image: Image) -> Image {
        precondition(image.width == horizontal.inputSize && image.height == vertical.inputSize,
                     "Resampler: built for \(horizontal.inputSize)x\(vertical.inputSize), given \(image.width)x\(image.height)")
        let c = image.channels
        let (outW, outH) = (horizontal.outputSize, vertical.outputSize)
        let inRowLength = image.width * c, outRowLength = outW * c
        let (hTaps, vTaps) = (horizontal.taps, vertical.taps)
        var columns = [Float](repeating: 0, count: outH * inRowLength)
        var out = [UInt8](repeating: 0, count: outH * outRowLength)
        image.pixels.withUnsafeBufferPointer { source in
            columns.withUnsafeMutableBufferPointer { rows in
                vertical.first.withUnsafeBufferPointer { vFirst in
                    vertical.weights.withUnsafeBufferPointer { vWeights in
                        for y in 0..<outH {
                            let target = rows.baseAddress! + y * inRowLength
                            for t in 0..<vTaps {
                                let w = vWeights[y * vTaps + t]
                                if w == 0 { continue }
                                let row = source.baseAddress! + (vFirst[y] + t) * inRowLength
                                for i in 0..<inRowLength { target[i] += w * Float(row[i]) }
                            }
                        }
                    }
                }
            }
        }
        columns.withUnsafeBufferPointer { rows in
            out.withUnsafeMutableBufferPointer { target in
                horizontal.first.withUnsafeBufferPointer { hFirst in
                    horizontal.weights.withUnsafeBufferPointer { hWeights in
                        // Constant channel counts let the compiler unroll the inner loops.
                        switch c {
                        case 1: Self.horizontalPass(rows, target, hFirst, hWeights, channels: 1, taps: hTaps, width: outW, height: outH, inRow: inRowLength)
                        case 3: Self.horizontalPass(rows, target, hFirst, hWeights, channels: 3, taps: hTaps, width: outW, height: outH, inRow: inRowLength)
                        default: Self.horizontalPass(rows, target, hFirst, hWeights, channels: c, taps: hTaps, width: outW, height: outH, inRow: inRowLength)
                        }
                    }
                }
            }
        }
        return Image(width: outW, height: outH, channels: c, pixels: out)
    }

    @inline(__always)
    private static func horizontalPass(_ rows: UnsafeBufferPointer<Float>, _ target: UnsafeMutableBufferPointer<UInt8>,
                                       _ first: UnsafeBufferPointer<Int>, _ weights: UnsafeBufferPointer<Float>,
                                       channels c: Int, taps: Int, width: Int, height: Int, inRow: Int) {
        for y in 0..<height {
            let row = rows.baseAddress! + y * inRow
            let outRow = target.baseAddress! + y * width * c
            for x in 0..<width {
                let w = weights.baseAddress! + x * taps
                let base = row + first[x] * c
                for channel in 0..<c {
                    var sum: Float = 0.5  // rounds to nearest when truncated below
                    for t in 0..<taps { sum += w[t] * base[t * c + channel] }
                    outRow[x * c + channel] = UInt8(min(max(sum, 0), 255))
                }
            }
        }
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
