"""Fashion-MNIST test images as PNG files, for the serving scripts (zlib alone, no Pillow)."""
import gzip
import struct
import zlib

TEST_IMAGES = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"


def test_images(count):
    """The first `count` test images, 28x28 gray, as bytes of 784 pixels each."""
    data = gzip.open(TEST_IMAGES).read()[16:16 + 784 * count]
    return [data[k * 784:(k + 1) * 784] for k in range(count)]


def png(pixels, width, height, channels=1):
    """A PNG of 8-bit gray (1 channel) or RGB (3) pixels, rows top to bottom."""
    row = width * channels
    raw = b"".join(b"\x00" + pixels[y * row:(y + 1) * row] for y in range(height))

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0 if channels == 1 else 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
