import CPNG
import CTurboJPEG

extension ImageCodec {
    /// `image` as a PNG file's bytes (gray or RGB, 8 bits).
    public static func encodePNG(_ image: Image) -> [UInt8] {
        var png = png_image()
        png.version = UInt32(PNG_IMAGE_VERSION)
        png.width = UInt32(image.width)
        png.height = UInt32(image.height)
        png.format = image.channels == 3 ? UInt32(PNG_FORMAT_RGB) : UInt32(PNG_FORMAT_GRAY)
        var size = 0
        let stride = Int32(image.width * image.channels)
        // First call measures, second writes.
        _ = image.pixels.withUnsafeBytes { png_image_write_to_memory(&png, nil, &size, 0, $0.baseAddress, stride, nil) }
        var bytes = [UInt8](repeating: 0, count: size)
        let ok = bytes.withUnsafeMutableBytes { out in
            image.pixels.withUnsafeBytes { png_image_write_to_memory(&png, out.baseAddress, &size, 0, $0.baseAddress, stride, nil) }
        }
        precondition(ok != 0, "ImageCodec: libpng could not encode a \(image.width)x\(image.height) image")
        return Array(bytes.prefix(size))
    }

    /// `image` as a baseline JPEG's bytes at `quality` (1-100), 4:2:0 for colour.
    public static func encodeJPEG(_ image: Image, quality: Int = 90) -> [UInt8] {
        let handle = tjInitCompress()!
        defer { tjDestroy(handle) }
        var buffer: UnsafeMutablePointer<UInt8>?
        var size: UInt = 0
        let format = image.channels == 3 ? TJPF_RGB : TJPF_GRAY
        let subsampling = image.channels == 3 ? TJSAMP_420 : TJSAMP_GRAY
        let status = image.pixels.withUnsafeBufferPointer {
            tjCompress2(handle, $0.baseAddress, Int32(image.width), 0, Int32(image.height), format.rawValue, &buffer, &size,
                        Int32(subsampling.rawValue), Int32(quality), 0)
        }
        precondition(status == 0, "ImageCodec: TurboJPEG could not encode: \(String(cString: tjGetErrorStr2(handle)))")
        defer { tjFree(buffer) }
        return Array(UnsafeBufferPointer(start: buffer, count: Int(size)))
    }
}
