import CPNG
import CTurboJPEG

#if canImport(Glibc)
import Glibc
#endif

/// JPEG (libjpeg-turbo) and PNG (libpng) decoding to 8-bit gray or RGB. The format is found by
/// the file's signature, not its name. Alpha is composited onto black (PNG); CMYK JPEGs are
/// converted to RGB; EXIF orientation is applied so that pictures come out upright.
public enum ImageCodec {
    /// `shorterSideAtLeast`: a JPEG whose shorter side is at least twice this is decoded at a
    /// reduced scale (1/2, 1/4 or 1/8, by libjpeg-turbo's scaled IDCT, much faster than a full
    /// decode) that keeps its shorter side at least this long; the resize that follows then
    /// starts from fewer pixels. PNGs are always decoded in full. An image whose header claims
    /// more than `maximumPixels` is refused before any pixel is allocated.
    public static func decode(_ bytes: [UInt8], source: String, shorterSideAtLeast: Int? = nil,
                              maximumPixels: Int = ImageCodec.maximumPixels) throws(DataError) -> Image {
        if bytes.count >= 8 && bytes.prefix(8) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] {
            return try decodePNG(bytes, source: source, maximumPixels: maximumPixels)
        }
        if bytes.count >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF {
            let image = try decodeJPEG(bytes, source: source, shorterSideAtLeast: shorterSideAtLeast,
                                   maximumPixels: maximumPixels)
            return oriented(image, orientation: exifOrientation(bytes))
        }
        throw DataError(source, bytes.isEmpty ? "is empty" : "is neither a JPEG nor a PNG image (unknown signature)")
    }

    /// The most pixels an image may have: the pixel buffer is allocated from the header's
    /// claim before any data is decoded, so a few hostile bytes could otherwise ask for
    /// gigabytes. 2^27 (134 million, e.g. 16384x8192) is ten times the largest ImageNet photo.
    public static let maximumPixels = 1 << 27

    static func checkSize(_ width: Int, _ height: Int, source: String, maximumPixels: Int) throws(DataError) {
        guard width <= 1 << 16, height <= 1 << 16, width * height <= maximumPixels else {
            let limit = maximumPixels >= 1_000_000 ? "\(maximumPixels / 1_000_000)-megapixel" : "\(maximumPixels)-pixel"
            throw DataError(source, "claims \(width)x\(height) pixels, more than the \(limit) limit (a decompression bomb, or a corrupt header)")
        }
    }

    /// Reads and decodes a file.
    public static func read(path: String, shorterSideAtLeast: Int? = nil) throws(DataError) -> Image {
        try decode(try readFile(path), source: path, shorterSideAtLeast: shorterSideAtLeast)
    }

    static func decodePNG(_ bytes: [UInt8], source: String, maximumPixels: Int = ImageCodec.maximumPixels) throws(DataError) -> Image {
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        let begun = bytes.withUnsafeBytes { png_image_begin_read_from_memory(&image, $0.baseAddress, $0.count) }
        guard begun != 0 else { throw DataError(source, "is not a readable PNG: \(pngMessage(&image))") }
        defer { png_image_free(&image) }
        let isColor = image.format & UInt32(PNG_FORMAT_FLAG_COLOR) != 0
        image.format = isColor ? UInt32(PNG_FORMAT_RGB) : UInt32(PNG_FORMAT_GRAY)
        let channels = isColor ? 3 : 1
        let (width, height) = (Int(image.width), Int(image.height))
        guard width > 0, height > 0 else { throw DataError(source, "is a PNG of size \(width)x\(height)") }
        try checkSize(width, height, source: source, maximumPixels: maximumPixels)
        var pixels = [UInt8](repeating: 0, count: width * height * channels)
        let finished = pixels.withUnsafeMutableBytes {
            png_image_finish_read(&image, nil, $0.baseAddress, Int32(width * channels), nil)
        }
        guard finished != 0 else { throw DataError(source, "is a damaged or truncated PNG: \(pngMessage(&image))") }
        return Image(width: width, height: height, channels: channels, pixels: pixels)
    }

    private static func pngMessage(_ image: inout png_image) -> String {
        withUnsafeBytes(of: &image.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    static func decodeJPEG(_ bytes: [UInt8], source: String, shorterSideAtLeast: Int? = nil,
                           maximumPixels: Int = ImageCodec.maximumPixels) throws(DataError) -> Image {
        guard let handle = tjInitDecompress() else { throw DataError(source, "cannot start the JPEG decoder") }
        defer { tjDestroy(handle) }
        var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
        let headerRead = bytes.withUnsafeBufferPointer {
            tjDecompressHeader3(handle, $0.baseAddress, UInt($0.count), &width, &height, &subsampling, &colorspace)
        }
        guard headerRead == 0 else { throw DataError(source, "is not a readable JPEG: \(String(cString: tjGetErrorStr2(handle)))") }
        guard width > 0, height > 0 else {
            throw DataError(source, "is not a readable JPEG: its header gives a size of \(width)x\(height)")
        }
        try checkSize(Int(width), Int(height), source: source, maximumPixels: maximumPixels)
        // The smallest of 1/8, 1/4, 1/2 that keeps the shorter side long enough, else full size.
        if let wanted = shorterSideAtLeast, wanted > 0 {
            let shorter = Int(min(width, height))
            if let eighths = [1, 2, 4].first(where: { (shorter * $0 + 7) / 8 >= wanted }) {
                width = Int32((Int(width) * eighths + 7) / 8)
                height = Int32((Int(height) * eighths + 7) / 8)
            }
        }
        let isGray = colorspace == Int32(TJCS_GRAY.rawValue)
        let isCMYK = colorspace == Int32(TJCS_CMYK.rawValue) || colorspace == Int32(TJCS_YCCK.rawValue)
        let format = isGray ? TJPF_GRAY : isCMYK ? TJPF_CMYK : TJPF_RGB
        let channels = isGray ? 1 : isCMYK ? 4 : 3
        var pixels = [UInt8](repeating: 0, count: Int(width) * Int(height) * channels)
        let status = bytes.withUnsafeBufferPointer { input in
            pixels.withUnsafeMutableBufferPointer { output in
                tjDecompress2(handle, input.baseAddress, UInt(input.count), output.baseAddress, width, 0, height,
                              format.rawValue, 0)
            }
        }
        // A warning (e.g. premature end of data) still yields pixels; an error does not.
        if status != 0 && tjGetErrorCode(handle) == Int32(TJERR_FATAL.rawValue) {
            throw DataError(source, "is a damaged or truncated JPEG: \(String(cString: tjGetErrorStr2(handle)))")
        }
        if status != 0 {
            throw DataError(source, "is a truncated or corrupt JPEG (\(String(cString: tjGetErrorStr2(handle))))")
        }
        if isCMYK {
            // Adobe writes CMYK JPEGs inverted (0 = full ink), which libjpeg passes through:
            // R = C * K / 255 on those values, as Pillow converts them.
            var rgb = [UInt8](repeating: 0, count: Int(width) * Int(height) * 3)
            for p in 0..<(Int(width) * Int(height)) {
                let k = Int(pixels[4 * p + 3])
                for c in 0..<3 { rgb[3 * p + c] = UInt8(Int(pixels[4 * p + c]) * k / 255) }
            }
            return Image(width: Int(width), height: Int(height), channels: 3, pixels: rgb)
        }
        return Image(width: Int(width), height: Int(height), channels: channels, pixels: pixels)
    }

    /// The EXIF orientation tag (1-8) of a JPEG's APP1 segment; 1 when absent or unreadable.
    static func exifOrientation(_ bytes: [UInt8]) -> Int {
        var offset = 2
        while offset + 4 <= bytes.count, bytes[offset] == 0xFF {
            let marker = bytes[offset + 1]
            let length = Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3])
            if marker == 0xDA || length < 2 { break }  // start of scan: no more metadata
            let start = offset + 4, end = min(bytes.count, offset + 2 + length)
            if marker == 0xE1, end - start >= 14, Array(bytes[start..<(start + 6)]) == [0x45, 0x78, 0x69, 0x66, 0, 0] {
                let tiff = start + 6
                let little = bytes[tiff] == 0x49
                func read(_ at: Int, _ size: Int) -> Int? {
                    guard at >= tiff, at + size <= end else { return nil }
                    var value = 0
                    for i in 0..<size { value |= Int(bytes[at + (little ? i : size - 1 - i)]) << (8 * i) }
                    return value
                }
                guard let ifd = read(tiff + 4, 4), let entries = read(tiff + ifd, 2) else { return 1 }
                for e in 0..<min(entries, 512) {
                    let entry = tiff + ifd + 2 + 12 * e
                    if read(entry, 2) == 0x0112, let value = read(entry + 8, 2), (1...8).contains(value) { return value }
                }
                return 1
            }
            offset += 2 + length
        }
        return 1
    }

    /// Applies EXIF orientation `orientation` (1: as stored ... 8), so the image is upright.
    public static func oriented(_ image: Image, orientation: Int) -> Image {
        guard orientation > 1 else { return image }
        let (w, h, c) = (image.width, image.height, image.channels)
        let swaps = orientation >= 5
        var out = Image(width: swaps ? h : w, height: swaps ? w : h, channels: c)
        for y in 0..<out.height {
            for x in 0..<out.width {
                // (sx, sy): where output pixel (x, y) comes from in the stored image.
                let (sx, sy): (Int, Int)
                switch orientation {
                case 2: (sx, sy) = (w - 1 - x, y)
                case 3: (sx, sy) = (w - 1 - x, h - 1 - y)
                case 4: (sx, sy) = (x, h - 1 - y)
                case 5: (sx, sy) = (y, x)
                case 6: (sx, sy) = (y, h - 1 - x)
                case 7: (sx, sy) = (w - 1 - y, h - 1 - x)
                default: (sx, sy) = (w - 1 - y, x)
                }
                for ch in 0..<c { out[x, y, ch] = image[sx, sy, ch] }
            }
        }
        return out
    }
}
