#!/usr/bin/env python3
"""Writes the fuzzers' seed corpus, Fuzz/Corpus/TARGET/: a few small valid files of each format,
for libFuzzer to mutate. Needs Pillow (for the JPEG and PNG seeds):

    .venv-peers/bin/python Fuzz/make_seeds.py
"""
import gzip
import io
import json
import struct
import tarfile
from pathlib import Path

from PIL import Image

root = Path(__file__).resolve().parent / "Corpus"


def put(target, name, data):
    (root / target).mkdir(parents=True, exist_ok=True)
    (root / target / name).write_bytes(data)


# IDX: two 3x3 images, their labels; raw and gzip-compressed (mtime 0: reproducible bytes).
images = struct.pack(">IIII", 0x803, 2, 3, 3) + bytes(range(18))
labels = struct.pack(">II", 0x801, 2) + bytes([0, 1])
put("idx", "images.idx", images)
put("idx", "labels.idx", labels)
put("idx", "images.idx.gz", gzip.compress(images, mtime=0))

# CIFAR-10: a batch of two records, and the same inside a tar.gz as the official archive has it.
records = b"".join(bytes([i]) + bytes([i * 40 % 256]) * 3072 for i in range(2))
put("cifar", "batch.bin", records)
buffer = io.BytesIO()
with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
    for name, data in [("cifar-10-batches-bin/data_batch_1.bin", records), ("cifar-10-batches-bin/batches.meta.txt", b"a\nb\n")]:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
put("cifar", "archive.tar", buffer.getvalue())
put("cifar", "archive.tar.gz", gzip.compress(buffer.getvalue(), mtime=0))

# safetensors: F32, F16 and BF16 tensors with metadata.
header = {
    "__metadata__": {"format": "pt"},
    "a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
    "b": {"dtype": "F16", "shape": [3], "data_offsets": [16, 22]},
    "c": {"dtype": "BF16", "shape": [1], "data_offsets": [22, 24]},
}
text = json.dumps(header, separators=(",", ":")).encode()
text += b" " * (-len(text) % 8)
data = struct.pack("<4f", 1, -2, 3.5, 0) + bytes([0, 0x3C, 0, 0xC0, 0xFF, 0x7B]) + bytes([0xC0, 0x3F])
put("safetensors", "small.safetensors", struct.pack("<Q", len(text)) + text + data)

# Images: RGB and gray JPEGs (one progressive, one with an EXIF orientation), RGB, gray and
# RGBA PNGs, all tiny.
pixels = Image.frombytes("RGB", (12, 9), bytes((x * 7 + y * 13) % 256 for y in range(9) for x in range(12) for _ in range(3)))
for name, image, options in [
    ("rgb.jpg", pixels, {}),
    ("gray.jpg", pixels.convert("L"), {}),
    ("progressive.jpg", pixels, {"progressive": True}),
    ("rotated.jpg", pixels, {"exif": b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06\x00\x00\x00\x00"}),
    ("rgb.png", pixels, {}),
    ("gray.png", pixels.convert("L"), {}),
    ("rgba.png", pixels.convert("RGBA"), {}),
]:
    out = io.BytesIO()
    image.save(out, format="JPEG" if name.endswith(".jpg") else "PNG", **options)
    put("image", name, out.getvalue())
print(f"wrote {sum(1 for _ in root.rglob('*') if _.is_file())} seeds under {root}")
