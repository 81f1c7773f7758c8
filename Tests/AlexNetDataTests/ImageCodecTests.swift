import AlexNetCore
import AlexNetData
import Foundation
import Testing

@Suite struct ImageCodecTests {
    /// A 5x3 RGB image with distinct, smooth pixel values.
    let rgb = Image(width: 5, height: 3, channels: 3, pixels: (0..<45).map { UInt8($0 * 5) })
    let gray = Image(width: 4, height: 2, channels: 1, pixels: [0, 30, 60, 90, 120, 150, 180, 255])

    @Test func pngRoundTripsExactly() throws {
        #expect(try ImageCodec.decode(ImageCodec.encodePNG(rgb), source: "a.png") == rgb)
        #expect(try ImageCodec.decode(ImageCodec.encodePNG(gray), source: "g.png") == gray)
    }

    @Test func jpegDecodesCloseToTheOriginal() throws {
        let flat = Image(width: 16, height: 16, channels: 3, pixels: (0..<768).map { [200, 100, 50][$0 % 3] })
        let decoded = try ImageCodec.decode(ImageCodec.encodeJPEG(flat, quality: 95), source: "a.jpg")
        #expect(decoded.width == 16 && decoded.height == 16 && decoded.channels == 3)
        #expect(zip(decoded.pixels, flat.pixels).allSatisfy { abs(Int($0) - Int($1)) <= 3 })
        let grayJPEG = try ImageCodec.decode(ImageCodec.encodeJPEG(Image(width: 8, height: 8, channels: 1, pixels: Array(repeating: 77, count: 64))), source: "g.jpg")
        #expect(grayJPEG.channels == 1 && grayJPEG.pixels.allSatisfy { abs(Int($0) - 77) <= 1 })
    }

    @Test func exifOrientationTurnsPicturesUpright() {
        // Orientation 6 (rotate 90 degrees clockwise to display): a 3x2 image becomes 2x3.
        let image = Image(width: 3, height: 2, channels: 1, pixels: [1, 2, 3, 4, 5, 6])
        let upright = ImageCodec.oriented(image, orientation: 6)
        #expect(upright.width == 2 && upright.height == 3)
        #expect(upright.pixels == [4, 1, 5, 2, 6, 3])
        #expect(ImageCodec.oriented(image, orientation: 3).pixels == [6, 5, 4, 3, 2, 1])
        #expect(ImageCodec.oriented(image, orientation: 1) == image)
    }

    @Test func exifOrientationIsReadFromAPP1() throws {
        var jpeg = ImageCodec.encodeJPEG(Image(width: 3, height: 2, channels: 1, pixels: [0, 50, 100, 150, 200, 250]), quality: 100)
        // APP1: "Exif\0\0", little-endian TIFF header, one IFD entry 0x0112 (SHORT) = 6.
        let tiff: [UInt8] = [0x49, 0x49, 0x2A, 0x00, 0x08, 0, 0, 0, 0x01, 0x00,
                             0x12, 0x01, 0x03, 0x00, 0x01, 0, 0, 0, 0x06, 0x00, 0, 0, 0, 0, 0, 0, 0, 0]
        let payload: [UInt8] = Array("Exif".utf8) + [0, 0] + tiff
        let length = payload.count + 2
        jpeg.insert(contentsOf: [0xFF, 0xE1, UInt8(length >> 8), UInt8(length & 0xFF)] + payload, at: 2)
        let decoded = try ImageCodec.decode(jpeg, source: "rotated.jpg")
        #expect(decoded.width == 2 && decoded.height == 3)
    }

    @Test func badImagesNameTheFileAndTheProblem() {
        let png = ImageCodec.encodePNG(rgb), jpeg = ImageCodec.encodeJPEG(rgb)
        // A header claiming 30000x30000 (found by the fuzzer: the pixel buffer is sized from it).
        var bomb = jpeg
        if let sof = (0..<(bomb.count - 9)).first(where: { bomb[$0] == 0xFF && bomb[$0 + 1] == 0xC0 }) {
            bomb.replaceSubrange((sof + 5)..<(sof + 9), with: [0x75, 0x30, 0x75, 0x30])
        }
        let cases: [([UInt8], String)] = [
            (bomb, "claims 30000x30000 pixels, more than the 134-megapixel limit"),
            ([], "is empty"),
            (Array("hello".utf8), "neither a JPEG nor a PNG"),
            (Array(png.prefix(40)), "PNG"),
            (Array(png.prefix(8)) + Array(repeating: 0, count: 40), "PNG"),
            (Array(jpeg.prefix(30)), "JPEG"),
            (Array(jpeg.prefix(jpeg.count / 2)), "JPEG"),
        ]
        for (bytes, reason) in cases {
            do {
                _ = try ImageCodec.decode(bytes, source: "bad/file.img")
                Issue.record("decoded \(bytes.count) bad bytes (\(reason))")
            } catch {
                #expect(error.source == "bad/file.img")
                #expect(error.message.contains(reason), "\(error.message)")
            }
        }
    }
}

@Suite struct ImageFolderTests {
    func folder(_ layout: [String: [String]]) throws -> String {
        let root = try IDXFixture.directory()
        try makeFolder(layout, in: root)
        return root
    }

    func makeFolder(_ layout: [String: [String]], in root: String) throws {
        for (name, files) in layout {
            try FileManager.default.createDirectory(atPath: "\(root)/\(name)", withIntermediateDirectories: true)
            for file in files {
                let image = Image(width: 6, height: 4, channels: 3, pixels: Array(repeating: UInt8(file.count * 10), count: 72))
                let bytes = file.hasSuffix(".png") ? ImageCodec.encodePNG(image)
                    : file.hasSuffix(".txt") ? Array("notes".utf8) : ImageCodec.encodeJPEG(image)
                try Data(bytes).write(to: URL(fileURLWithPath: "\(root)/\(name)/\(file)"))
            }
        }
    }

    @Test func classesAreSortedFoldersAndOtherFilesAreIgnored() throws {
        let root = try folder(["zebra": ["b.JPG", "a.png", "readme.txt"], "ant": ["x.jpeg"]])
        let source = try ImageFolder(root: root)
        #expect(source.classNames == ["ant", "zebra"])
        #expect(source.count == 3)
        #expect(source.files.map { ($0 as NSString).lastPathComponent } == ["x.jpeg", "a.png", "b.JPG"])
        #expect((0..<3).map(source.label(at:)) == [0, 1, 1])
        let image = try source.image(at: 1)
        #expect(image.width == 6 && image.height == 4 && image.channels == 3)
    }

    @Test func trainAndValidationSplitsShareClasses() throws {
        let root = try folder(["train/cat": ["1.png"], "train/dog": ["2.png"], "val/cat": ["3.png"], "val/dog": ["4.png"]])
        let splits = try Datasets.open(root)
        #expect(splits.training.classNames == ["cat", "dog"] && splits.test?.count == 2)
        let mismatched = try folder(["train/cat": ["1.png"], "val/cow": ["3.png"]])
        #expect(throws: DataError.self) { try Datasets.open(mismatched) }
    }

    @Test func emptyClassFoldersAndBrokenImagesAreNamed() throws {
        let root = try folder(["cat": ["1.png"], "dog": ["notes.txt"]])
        do {
            _ = try ImageFolder(root: root)
            Issue.record("an empty class folder was accepted")
        } catch {
            #expect(error.source.hasSuffix("/dog") && error.message.contains("no .jpg"))
        }
        let broken = try folder(["cat": ["1.png"]])
        try Data([0x89, 0x50, 0x4E, 0x47]).write(to: URL(fileURLWithPath: "\(broken)/cat/2.png"))
        let source = try ImageFolder(root: broken)
        #expect(throws: DataError.self) { try source.image(at: 1) }
    }
}

/// ILSVRC-2012's validation layout: a flat folder of images and a labels file.
@Suite struct LabeledFolderTests {
    func flatFolder(_ names: [String], in root: String) throws {
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let image = Image(width: 5, height: 4, channels: 3, pixels: Array(repeating: 90, count: 60))
        for name in names { try Data(ImageCodec.encodeJPEG(image)).write(to: URL(fileURLWithPath: "\(root)/\(name)")) }
    }

    @Test func readsCaffeAndKaggleLabelFiles() throws {
        let root = try IDXFixture.directory()
        try ImageFolderTests().makeFolder(["train/n01": ["a.png"], "train/n02": ["b.png"], "train/n03": ["c.png"]], in: root)
        try flatFolder(["ILSVRC2012_val_00000002.JPEG", "ILSVRC2012_val_00000001.JPEG", "notes.txt"], in: "\(root)/val")
        // Kaggle's CSV beside train/ and val/: synsets, mapped through the training classes.
        try "ImageId,PredictionString\nILSVRC2012_val_00000002,n03 1 2 3 4 n03 5 6 7 8\nILSVRC2012_val_00000001,n01 0 0 1 1\n"
            .write(toFile: "\(root)/LOC_val_solution.csv", atomically: true, encoding: .utf8)
        let splits = try Datasets.open(root)
        let validation = try #require(splits.test)
        #expect(validation.count == 2 && validation.classNames == ["n01", "n02", "n03"])
        #expect((0..<2).map(validation.label(at:)) == [0, 2], "sorted by file: val_1 is n01, val_2 is n03")
        #expect(try validation.image(at: 1).width == 5)
        // Caffe's val.txt inside the folder (CRLF line ends here), numeric labels, takes
        // precedence over the CSV above.
        try "ILSVRC2012_val_00000001.JPEG 1\r\nILSVRC2012_val_00000002.JPEG 0\r\n".write(toFile: "\(root)/val/val.txt", atomically: true, encoding: .utf8)
        let caffe = try #require(try Datasets.open(root).test)
        #expect((0..<2).map(caffe.label(at:)) == [1, 0])
        // Alone (evaluate --data root/val), the classes come from the file.
        let alone = try Datasets.open("\(root)/val/").training
        #expect(alone.classNames == ["0", "1"] && alone.count == 2)
        // Two images with one stem: a label for it would be ambiguous.
        try flatFolder(["ILSVRC2012_val_00000001.png"], in: "\(root)/val")
        #expect(throws: DataError.self) { try Datasets.open(root) }
    }

    @Test func badLabelFilesNameTheLine() throws {
        let root = try IDXFixture.directory()
        try flatFolder(["x.jpg", "y.jpg"], in: root)
        func error(_ text: String, classes: [String]? = ["n01", "n02"]) -> String {
            try? text.write(toFile: "\(root)/labels.txt", atomically: true, encoding: .utf8)
            do {
                _ = try LabeledFolder(directory: root, labels: "\(root)/labels.txt", classNames: classes)
                return "accepted"
            } catch {
                return "\(error)"
            }
        }
        #expect(error("x.jpg 0\nz.jpg 1\n").contains("line 2 names z.jpg, which is not an image in"))
        #expect(error("x.jpg 0\ny.jpg 5\n").contains("line 2 has label 5, outside 0..<2"))
        #expect(error("x.jpg n01\ny.jpg n09\n").contains("line 2 has class 'n09', which the training split does not have"))
        #expect(error("65\n970\n").contains("line 1 '65' is not 'FILE LABEL' (a label without a file name: the devkit's ground truth uses ILSVRC ids"))
        #expect(error("").contains("lists no labels"))
    }
}

@Suite struct ScaledDecodingTests {
    @Test func largeJPEGsDecodeAtTheSmallestScaleThatKeepsTheShorterSide() throws {
        var pixels = [UInt8](repeating: 0, count: 500 * 376 * 3)
        for i in 0..<pixels.count { pixels[i] = UInt8(i / 3 % 500 / 2) }
        let big = Image(width: 500, height: 376, channels: 3, pixels: pixels)
        let jpeg = ImageCodec.encodeJPEG(big, quality: 90)
        let full = try ImageCodec.decode(jpeg, source: "big.jpg")
        #expect(full.width == 500 && full.height == 376)
        // 376 / 2 = 188 >= 180 but 376 / 4 = 94 is not: half size.
        let half = try ImageCodec.decode(jpeg, source: "big.jpg", shorterSideAtLeast: 180)
        #expect(half.width == 250 && half.height == 188)
        let eighth = try ImageCodec.decode(jpeg, source: "big.jpg", shorterSideAtLeast: 40)
        #expect(eighth.width == 63 && eighth.height == 47)
        #expect(try ImageCodec.decode(jpeg, source: "big.jpg", shorterSideAtLeast: 256).width == 500, "too small at 1/2: full size")
        // The scaled decode is close to the full decode downscaled by area averaging.
        let reference = Resampler(from: (500, 376), to: (250, 188))(full)
        var worst = 0
        for (a, b) in zip(half.pixels, reference.pixels) { worst = max(worst, abs(Int(a) - Int(b))) }
        #expect(worst <= 12, "largest pixel difference \(worst)")
    }
}
