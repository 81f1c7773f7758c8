import AlexNetData

/// A small RGB raster for PNG charts: rectangles, thick lines and a 5x7 bitmap font (digits,
/// lowercase letters and a little punctuation; capitals are drawn as lowercase). Enough for
/// curves and a confusion matrix without a graphics library.
public struct Canvas {
    public typealias Color = (r: UInt8, g: UInt8, b: UInt8)

    public let width: Int
    public let height: Int
    public private(set) var pixels: [UInt8]

    public init(width: Int, height: Int, background: Color = (255, 255, 255)) {
        self.width = width
        self.height = height
        pixels = (0..<(width * height)).flatMap { _ in [background.r, background.g, background.b] }
    }

    /// "#rrggbb" to a colour (black if malformed).
    public static func color(_ hex: String) -> Color {
        let digits = hex.hasPrefix("#") ? String(hex.dropFirst()) : hex
        guard digits.count == 6, let value = UInt32(digits, radix: 16) else { return (0, 0, 0) }
        return (UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF))
    }

    public var image: Image { Image(width: width, height: height, channels: 3, pixels: pixels) }
    public var png: [UInt8] { ImageCodec.encodePNG(image) }

    public mutating func set(_ x: Int, _ y: Int, _ color: Color) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        let i = 3 * (y * width + x)
        pixels[i] = color.r; pixels[i + 1] = color.g; pixels[i + 2] = color.b
    }

    public mutating func fill(x: Int, y: Int, width w: Int, height h: Int, _ color: Color) {
        let (top, bottom, left, right) = (max(0, y), min(height, y + h), max(0, x), min(width, x + w))
        guard top < bottom, left < right else { return }
        for row in top..<bottom {
            for column in left..<right { set(column, row, color) }
        }
    }

    /// Draws `image` (gray or colour) scaled by nearest neighbour to fit a `size` x `size`
    /// square whose top-left corner is (x, y), centred in it.
    public mutating func draw(_ image: Image, fittedInto size: Int, x: Int, y: Int) {
        let scale = Double(size) / Double(max(image.width, image.height, 1))
        let (w, h) = (max(1, Int(Double(image.width) * scale)), max(1, Int(Double(image.height) * scale)))
        let (left, top) = (x + (size - w) / 2, y + (size - h) / 2)
        let pixels = image.pixels
        for py in 0..<h {
            let sy = min(image.height - 1, Int(Double(py) / scale))
            for px in 0..<w {
                let sx = min(image.width - 1, Int(Double(px) / scale))
                let base = (sy * image.width + sx) * image.channels
                set(left + px, top + py, image.channels >= 3
                    ? (pixels[base], pixels[base + 1], pixels[base + 2]) : (pixels[base], pixels[base], pixels[base]))
            }
        }
    }

    /// A line `thickness` pixels wide (square brush) from (x0, y0) to (x1, y1).
    public mutating func line(_ x0: Double, _ y0: Double, _ x1: Double, _ y1: Double, _ color: Color, thickness: Int = 1) {
        let steps = max(1, Int(max(abs(x1 - x0), abs(y1 - y0)).rounded(.up)))
        let half = thickness / 2
        for k in 0...steps {
            let t = Double(k) / Double(steps)
            let (x, y) = (Int((x0 + (x1 - x0) * t).rounded()), Int((y0 + (y1 - y0) * t).rounded()))
            fill(x: x - half, y: y - half, width: thickness, height: thickness, color)
        }
    }

    public enum Anchor { case left, center, right }

    /// Pixel width of `text` at `scale`.
    public static func textWidth(_ text: String, scale: Int = 1) -> Int { max(0, text.count * 6 - 1) * scale }

    /// Draws `text` with its top at `y`.
    public mutating func text(_ text: String, x: Int, y: Int, _ color: Color = (0, 0, 0), scale: Int = 1, anchor: Anchor = .left) {
        let width = Self.textWidth(text, scale: scale)
        var left = anchor == .left ? x : anchor == .center ? x - width / 2 : x - width
        for character in text.lowercased() {
            let rows = Self.font[character] ?? Self.font["?"]!
            for (row, bits) in rows.enumerated() {
                for column in 0..<5 where bits & (0x10 >> column) != 0 {
                    fill(x: left + column * scale, y: y + row * scale, width: scale, height: scale, color)
                }
            }
            left += 6 * scale
        }
    }

    /// 5x7 glyphs, one 5-bit row each, the leftmost pixel in bit 4.
    static let font: [Character: [UInt8]] = [
        " ": [0, 0, 0, 0, 0, 0, 0],
        "0": [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E], "1": [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        "2": [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F], "3": [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        "4": [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02], "5": [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        "6": [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E], "7": [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        "8": [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E], "9": [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        ".": [0, 0, 0, 0, 0, 0x0C, 0x0C], "-": [0, 0, 0, 0x1F, 0, 0, 0], "%": [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03],
        "(": [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02], ")": [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08],
        ":": [0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0], "/": [0, 0x01, 0x02, 0x04, 0x08, 0x10, 0],
        "?": [0x0E, 0x11, 0x01, 0x02, 0x04, 0, 0x04], "+": [0, 0x04, 0x04, 0x1F, 0x04, 0x04, 0],
        ",": [0, 0, 0, 0, 0x0C, 0x04, 0x08], "_": [0, 0, 0, 0, 0, 0, 0x1F],
        "a": [0, 0, 0x0E, 0x01, 0x0F, 0x11, 0x0F], "b": [0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1E],
        "c": [0, 0, 0x0E, 0x10, 0x10, 0x11, 0x0E], "d": [0x01, 0x01, 0x0D, 0x13, 0x11, 0x11, 0x0F],
        "e": [0, 0, 0x0E, 0x11, 0x1F, 0x10, 0x0E], "f": [0x06, 0x09, 0x08, 0x1C, 0x08, 0x08, 0x08],
        "g": [0, 0x0F, 0x11, 0x11, 0x0F, 0x01, 0x0E], "h": [0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11],
        "i": [0x04, 0, 0x0C, 0x04, 0x04, 0x04, 0x0E], "j": [0x02, 0, 0x06, 0x02, 0x02, 0x12, 0x0C],
        "k": [0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12], "l": [0x0C, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        "m": [0, 0, 0x1A, 0x15, 0x15, 0x11, 0x11], "n": [0, 0, 0x16, 0x19, 0x11, 0x11, 0x11],
        "o": [0, 0, 0x0E, 0x11, 0x11, 0x11, 0x0E], "p": [0, 0, 0x1E, 0x11, 0x1E, 0x10, 0x10],
        "q": [0, 0, 0x0D, 0x13, 0x0F, 0x01, 0x01], "r": [0, 0, 0x16, 0x19, 0x10, 0x10, 0x10],
        "s": [0, 0, 0x0E, 0x10, 0x0E, 0x01, 0x1E], "t": [0x08, 0x08, 0x1C, 0x08, 0x08, 0x09, 0x06],
        "u": [0, 0, 0x11, 0x11, 0x11, 0x13, 0x0D], "v": [0, 0, 0x11, 0x11, 0x11, 0x0A, 0x04],
        "w": [0, 0, 0x11, 0x11, 0x15, 0x15, 0x0A], "x": [0, 0, 0x11, 0x0A, 0x04, 0x0A, 0x11],
        "y": [0, 0, 0x11, 0x11, 0x0F, 0x01, 0x0E], "z": [0, 0, 0x1F, 0x02, 0x04, 0x08, 0x1F],
    ]
}
