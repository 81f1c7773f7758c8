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

    /// `image` resampled, rounded to the nearest byte. The vertical pass runs first, over the
    /// span of input columns that the horizontal window reads (contiguous, so it vectorises),
    /// then the horizontal pass over those reduced rows, unrolled for the common tap counts.
    public func callAsFunction(_ image: Image) -> Image {
        precondition(image.width == horizontal.inputSize && image.height == vertical.inputSize,
                     "Resampler: built for \(horizontal.inputSize)x\(vertical.inputSize), given \(image.width)x\(image.height)")
        let c = image.channels
        let (outW, outH) = (horizontal.outputSize, vertical.outputSize)
        let (hTaps, vTaps) = (horizontal.taps, vertical.taps)
        // Input columns [low, high) are all the horizontal pass reads.
        let low = horizontal.first.min() ?? 0
        let high = (horizontal.first.max() ?? 0) + hTaps
        let spanLength = (high - low) * c, inRowLength = image.width * c, outRowLength = outW * c
        // Three floats of padding: the RGB pass loads pixels as SIMD4 (the fourth lane unused).
        var columns = [Float](unsafeUninitializedCapacity: outH * spanLength + 3) { buffer, initialized in
            (buffer.baseAddress! + outH * spanLength).initialize(repeating: 0, count: 3)
            initialized = outH * spanLength + 3
        }
        var out = [UInt8](unsafeUninitializedCapacity: outH * outRowLength) { _, initialized in initialized = outH * outRowLength }
        image.pixels.withUnsafeBufferPointer { source in
            columns.withUnsafeMutableBufferPointer { rows in
                vertical.first.withUnsafeBufferPointer { vFirst in
                    vertical.weights.withUnsafeBufferPointer { vWeights in
                        for y in 0..<outH {
                            let target = rows.baseAddress! + y * spanLength
                            let w0 = vWeights[y * vTaps]
                            let row0 = source.baseAddress! + vFirst[y] * inRowLength + low * c
                            for i in 0..<spanLength { target[i] = w0 * Float(row0[i]) }
                            for t in 1..<max(vTaps, 1) {
                                let w = vWeights[y * vTaps + t]
                                if w == 0 { continue }
                                let row = source.baseAddress! + (vFirst[y] + t) * inRowLength + low * c
                                for i in 0..<spanLength { target[i] += w * Float(row[i]) }
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
                        let pass = HorizontalPass(rows: rows.baseAddress!, target: target.baseAddress!, first: hFirst.baseAddress!,
                                                  weights: hWeights.baseAddress!, offset: low, width: outW, height: outH, inRow: spanLength)
                        // Constant channel and tap counts let the compiler unroll the inner loops.
                        switch (c, hTaps) {
                        case (1, 2): pass.run(channels: 1, taps: 2)
                        case (1, 3): pass.run(channels: 1, taps: 3)
                        case (1, 4): pass.run(channels: 1, taps: 4)
                        case (3, 2): pass.runRGB(taps: 2)
                        case (3, 3): pass.runRGB(taps: 3)
                        case (3, 4): pass.runRGB(taps: 4)
                        case (3, _): pass.runRGB(taps: hTaps)
                        default: pass.run(channels: c, taps: hTaps)
                        }
                    }
                }
            }
        }
        return Image(width: outW, height: outH, channels: c, pixels: out)
    }

    /// The horizontal pass: output x of each row is the weighted sum of `taps` pixels from
    /// `first[x] - offset` on, rounded and clamped to a byte.
    private struct HorizontalPass {
        let rows: UnsafePointer<Float>
        let target: UnsafeMutablePointer<UInt8>
        let first: UnsafePointer<Int>
        let weights: UnsafePointer<Float>
        let offset, width, height, inRow: Int

        @inline(__always)
        func run(channels c: Int, taps: Int) {
            let sums = UnsafeMutablePointer<Float>.allocate(capacity: width * c)
            defer { sums.deallocate() }
            for y in 0..<height {
                let row = rows + y * inRow
                for x in 0..<width {
                    let w = weights + x * taps
                    let base = row + (first[x] - offset) * c
                    for channel in 0..<c {
                        var sum: Float = 0.5  // rounds to nearest when truncated below
                        for t in 0..<taps { sum += w[t] * base[t * c + channel] }
                        sums[x * c + channel] = sum
                    }
                }
                let outRow = target + y * width * c
                for i in 0..<(width * c) { outRow[i] = Self.byte(sums[i]) }
            }
        }

        /// `s` clamped to [0, 255] and truncated, as `UInt8(Int32(min(max(s, 0), 255)))` but
        /// without the checked conversions that dominated this loop: adding 1.5 * 2^23 leaves
        /// the nearest integer in the float's low mantissa bits, corrected down when it rounded up.
        @inline(__always)
        static func byte(_ s: Float) -> UInt8 {
            let x = s < 0 ? 0 : (s > 255 ? 255 : s)
            let magic: Float = 12_582_912
            let m = x + magic
            var bits = m.bitPattern
            if m - magic > x { bits &-= 1 }
            return UInt8(truncatingIfNeeded: bits)
        }

        /// Three channels at once: each input pixel is one SIMD4 load, the same sums in the
        /// same order as `run`, so the bytes are identical.
        @inline(__always)
        func runRGB(taps: Int) {
            // Sums for one row (plus a lane of padding for the last SIMD4 store), then bytes in
            // a separate loop over contiguous floats, which the compiler vectorises.
            let sums = UnsafeMutablePointer<Float>.allocate(capacity: width * 3 + 1)
            defer { sums.deallocate() }
            let sumsRaw = UnsafeMutableRawPointer(sums)
            for y in 0..<height {
                let row = rows + y * inRow
                for x in 0..<width {
                    let w = weights + x * taps
                    let base = UnsafeRawPointer(row + (first[x] - offset) * 3)
                    var sum = SIMD4<Float>(repeating: 0.5)
                    for t in 0..<taps { sum += w[t] * base.loadUnaligned(fromByteOffset: 12 * t, as: SIMD4<Float>.self) }
                    sumsRaw.storeBytes(of: sum, toByteOffset: 12 * x, as: SIMD4<Float>.self)
                }
                let outRow = target + y * width * 3
                for i in 0..<(width * 3) { outRow[i] = Self.byte(sums[i]) }
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
