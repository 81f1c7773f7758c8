/// An 8-bit image with interleaved channels: pixel (x, y) channel c is at
/// `pixels[(y * width + x) * channels + c]`. Sources produce these; the transforms take and
/// return them until the last step writes normalized floats into a batch.
public struct Image: Sendable, Equatable {
    public var width: Int
    public var height: Int
    /// 1 (grayscale) or 3 (RGB).
    public var channels: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * channels,
                     "Image: \(pixels.count) bytes for \(width)x\(height)x\(channels)")
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }

    /// A black image.
    public init(width: Int, height: Int, channels: Int) {
        self.init(width: width, height: height, channels: channels,
                  pixels: [UInt8](repeating: 0, count: width * height * channels))
    }

    public subscript(x: Int, y: Int, channel: Int) -> UInt8 {
        get { pixels[(y * width + x) * channels + channel] }
        set { pixels[(y * width + x) * channels + channel] = newValue }
    }

    /// The rectangle of `width` x `height` whose top-left corner is (x, y); it must lie inside.
    public func cropped(x: Int, y: Int, width w: Int, height h: Int) -> Image {
        precondition(x >= 0 && y >= 0 && x + w <= width && y + h <= height,
                     "Image: crop \(w)x\(h) at (\(x), \(y)) outside \(width)x\(height)")
        var out = [UInt8](repeating: 0, count: w * h * channels)
        let rowBytes = w * channels
        pixels.withUnsafeBufferPointer { source in
            out.withUnsafeMutableBufferPointer { target in
                for row in 0..<h {
                    let from = ((y + row) * width + x) * channels
                    for i in 0..<rowBytes { target[row * rowBytes + i] = source[from + i] }
                }
            }
        }
        return Image(width: w, height: h, channels: channels, pixels: out)
    }

    /// The rectangle of `width` x `height` at (x, y) that may reach past the edges, where it is
    /// black (zero): torchvision's `RandomCrop(padding=)` with its default fill.
    public func croppedWithZeroPadding(x: Int, y: Int, width w: Int, height h: Int) -> Image {
        if x >= 0 && y >= 0 && x + w <= width && y + h <= height { return cropped(x: x, y: y, width: w, height: h) }
        var out = [UInt8](repeating: 0, count: w * h * channels)
        let (left, right) = (max(0, -x), min(w, width - x))
        guard left < right else { return Image(width: w, height: h, channels: channels, pixels: out) }
        pixels.withUnsafeBufferPointer { source in
            out.withUnsafeMutableBufferPointer { target in
                for row in max(0, -y)..<max(max(0, -y), min(h, height - y)) {
                    let from = ((y + row) * width + x + left) * channels
                    let to = (row * w + left) * channels
                    for i in 0..<((right - left) * channels) { target[to + i] = source[from + i] }
                }
            }
        }
        return Image(width: w, height: h, channels: channels, pixels: out)
    }

    /// The mirror image (left and right swapped).
    public func flippedHorizontally() -> Image {
        var out = pixels
        for y in 0..<height {
            for x in 0..<width {
                for c in 0..<channels {
                    out[(y * width + x) * channels + c] = pixels[(y * width + (width - 1 - x)) * channels + c]
                }
            }
        }
        return Image(width: width, height: height, channels: channels, pixels: out)
    }

    /// The same picture with `count` channels: gray is repeated into RGB; RGB becomes gray by
    /// ITU-R 601 luma (what PIL's `convert("L")` computes).
    public func withChannels(_ count: Int) -> Image {
        if count == channels { return self }
        precondition((count == 1 || count == 3) && (channels == 1 || channels == 3),
                     "Image: cannot convert \(channels) channels to \(count)")
        var out = [UInt8](repeating: 0, count: width * height * count)
        for p in 0..<(width * height) {
            if count == 3 {
                out[3 * p] = pixels[p]; out[3 * p + 1] = pixels[p]; out[3 * p + 2] = pixels[p]
            } else {
                let (r, g, b) = (Int(pixels[3 * p]), Int(pixels[3 * p + 1]), Int(pixels[3 * p + 2]))
                out[p] = UInt8((r * 299 + g * 587 + b * 114 + 500) / 1000)
            }
        }
        return Image(width: width, height: height, channels: count, pixels: out)
    }
}
