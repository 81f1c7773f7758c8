import AlexNetCore
import AlexNetData
import Testing

@Suite struct ResizeTests {
    @Test func bilinearUpscalingSamplesAtHalfPixelCentres() {
        // 2 -> 4: outputs sample the input at x = (i + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25,
        // clamped to [0, 1]: weights of the right pixel 0, 0.25, 0.75, 1.
        let row = Image(width: 2, height: 1, channels: 1, pixels: [0, 200])
        let out = Resampler(from: (2, 1), to: (4, 1))(row)
        #expect(out.pixels == [0, 50, 150, 200])
    }

    @Test func areaDownscalingAveragesBlocks() {
        // 4x2 -> 2x1: each output is the mean of a 2x2 block.
        let image = Image(width: 4, height: 2, channels: 1, pixels: [0, 10, 100, 200, 20, 30, 50, 250])
        #expect(Resampler(from: (4, 2), to: (2, 1))(image).pixels == [15, 150])
        // 3 -> 2: output 0 covers [0, 1.5): 2/3 of pixel 0, 1/3 of pixel 1; output 1 covers [1.5, 3).
        let row = Image(width: 3, height: 1, channels: 1, pixels: [90, 180, 30])
        #expect(Resampler(from: (3, 1), to: (2, 1))(row).pixels == [120, 80])
    }

    @Test func channelsAreResizedIndependently() {
        let image = Image(width: 2, height: 1, channels: 3, pixels: [0, 100, 200, 200, 100, 0])
        let out = Resampler(from: (2, 1), to: (4, 1))(image)
        #expect(out.pixels == [0, 100, 200, 50, 100, 150, 150, 100, 50, 200, 100, 0])
    }

    @Test func shorterSideKeepsTheAspectRatio() {
        #expect(Resampler.size(of: (500, 375), shorterSide: 256) == (341, 256))
        #expect(Resampler.size(of: (375, 500), shorterSide: 256) == (256, 341))
        #expect(Resampler.size(of: (28, 28), shorterSide: 224) == (224, 224))
    }

    @Test func aMirroredWindowEqualsResizeThenCropThenFlip() {
        var pixels = [UInt8](repeating: 0, count: 37 * 23 * 3)
        for i in 0..<pixels.count { pixels[i] = UInt8((i * 7919) % 251) }
        let image = Image(width: 37, height: 23, channels: 3, pixels: pixels)
        for (size, window) in [((60, 40), (5, 9, 30, 20)), ((20, 12), (3, 1, 11, 10))] {
            let full = Resampler(from: (37, 23), to: size)(image)
            let expected = full.cropped(x: window.0, y: window.1, width: window.2, height: window.3).flippedHorizontally()
            let fused = Resampler(
                horizontal: .init(from: 37, to: size.0, window: window.0..<(window.0 + window.2), mirrored: true),
                vertical: .init(from: 23, to: size.1, window: window.1..<(window.1 + window.3)))(image)
            #expect(fused == expected)
        }
    }

    @Test func upscalingAConstantImageKeepsItConstant() {
        let image = Image(width: 28, height: 28, channels: 1, pixels: Array(repeating: 77, count: 784))
        #expect(Resampler(from: (28, 28), to: (64, 64))(image).pixels.allSatisfy { $0 == 77 })
    }
}

@Suite struct PreprocessingTests {
    /// A 4x4 gray image whose pixel (x, y) is 10 * (4 y + x).
    let ramp = Image(width: 4, height: 4, channels: 1, pixels: (0..<16).map { UInt8($0 * 10) })

    @Test func cropsFlipsAndChannels() {
        #expect(ramp.cropped(x: 1, y: 2, width: 2, height: 1).pixels == [90, 100])
        #expect(ramp.flippedHorizontally().pixels.prefix(4) == [30, 20, 10, 0])
        let rgb = Image(width: 1, height: 1, channels: 3, pixels: [255, 0, 0])
        #expect(rgb.withChannels(1).pixels == [76])  // 0.299 * 255
        #expect(ramp.withChannels(3).pixels.prefix(6) == [0, 0, 0, 10, 10, 10])
    }

    @Test func evaluationTakesTheCentreCrop() throws {
        let p = Preprocessing(channels: 1, crop: 2, randomCrop: true, flip: true)
        let out = try p.geometry(ramp, training: false, random: Philox(seed: 1), index: 0)
        #expect(out.pixels == [50, 60, 90, 100])
    }

    @Test func randomCropsAndFlipsAreSeededAndCoverTheChoices() throws {
        let p = Preprocessing(channels: 1, crop: 2, randomCrop: true, flip: true)
        let random = Philox(seed: 7, stream: RandomStream.augmentation(step: 0))
        var corners = Set<[UInt8]>(), flips = 0
        for index in 0..<400 {
            let a = try p.geometry(ramp, training: true, random: random, index: index)
            #expect(try a == p.geometry(ramp, training: true, random: random, index: index), "same seed, same crop")
            corners.insert(a.pixels)
            let words = random.block(at: UInt64(index) * 4)
            if words.2 & 1 == 1 { flips += 1 }
        }
        #expect(corners.count == 18, "9 positions x 2 mirrorings")
        #expect(flips > 160 && flips < 240, "about half are mirrored: \(flips)")
    }

    /// torchvision's RandomCrop(4, padding=1) on the 4x4 ramp: every crop of the 6x6 image with
    /// a black border is reachable (9 positions x 2 mirrorings), the border is zero, evaluation
    /// does not pad, and the padded crop of a corner is the ramp shifted in with zeros.
    @Test func paddedRandomCropsReachPastTheEdgesWithBlack() throws {
        #expect(ramp.croppedWithZeroPadding(x: -1, y: -1, width: 4, height: 4).pixels
            == [0, 0, 0, 0, 0, 0, 10, 20, 0, 40, 50, 60, 0, 80, 90, 100])
        #expect(ramp.croppedWithZeroPadding(x: 2, y: 3, width: 3, height: 2).pixels == [140, 150, 0, 0, 0, 0])
        #expect(ramp.croppedWithZeroPadding(x: 5, y: 0, width: 2, height: 2).pixels == [0, 0, 0, 0])
        #expect(ramp.croppedWithZeroPadding(x: 0, y: 0, width: 4, height: 4) == ramp)
        let p = Preprocessing(channels: 1, randomCrop: true, pad: 1, flip: true)
        try p.validate()
        #expect(try p.geometry(ramp, training: false, random: Philox(seed: 1), index: 0) == ramp)
        let random = Philox(seed: 7, stream: RandomStream.augmentation(step: 0))
        var seen = Set<[UInt8]>()
        for index in 0..<600 {
            let a = try p.geometry(ramp, training: true, random: random, index: index)
            #expect(a.width == 4 && a.height == 4)
            seen.insert(a.pixels)
        }
        #expect(seen.count == 18, "9 positions x 2 mirrorings: \(seen.count)")
        #expect(seen.contains(ramp.croppedWithZeroPadding(x: 1, y: -1, width: 4, height: 4).pixels))
        // With a crop smaller than the image, the padding widens the range of positions.
        let small = Preprocessing(channels: 1, crop: 2, randomCrop: true, pad: 1)
        var positions = Set<[UInt8]>()
        for index in 0..<600 { positions.insert(try small.geometry(ramp, training: true, random: random, index: index).pixels) }
        #expect(positions.count == 25, "5 x 5 positions in the 6x6 padded image: \(positions.count)")
        #expect(throws: DataError.self) { try Preprocessing(channels: 1, pad: 2).validate() }
        #expect(Preprocessing(channels: 1, randomCrop: true, pad: 2, flip: true).augmentationSummary == "random crops (pad 2), flips")
    }

    @Test func normalizationIsPerChannelAndChannelMajor() {
        let image = Image(width: 2, height: 1, channels: 3, pixels: [0, 51, 102, 255, 153, 204])
        let p = Preprocessing(channels: 3, mean: [0.5, 0.5, 0.5], std: [0.5, 0.25, 1])
        var out = [Float](repeating: 0, count: 6)
        out.withUnsafeMutableBufferPointer { p.normalize(image, training: false, random: Philox(seed: 0), index: 0, into: $0.baseAddress!) }
        // Red plane, then green, then blue; (x / 255 - mean) / std.
        let expected: [Float] = [-1, 1, (0.2 - 0.5) / 0.25, (0.6 - 0.5) / 0.25, 0.4 - 0.5, 0.8 - 0.5]
        #expect(Comparison(out, expected, atol: 1e-6, rtol: 0).isClose, "\(out)")
    }

    @Test func pcaLightingAddsTheEigenvectorCombination() {
        // Identity eigenvectors: channel c shifts by alpha_c * eigenvalue_c.
        let p = Preprocessing(channels: 3, lightingSigma: 0.1, eigenvalues: [0.2, 0.02, 0.002],
                              eigenvectors: [1, 0, 0, 0, 1, 0, 0, 0, 1])
        let image = Image(width: 1, height: 1, channels: 3, pixels: [0, 0, 0])
        let random = Philox(seed: 3)
        var out = [Float](repeating: 0, count: 3)
        out.withUnsafeMutableBufferPointer { p.normalize(image, training: true, random: random, index: 5, into: $0.baseAddress!) }
        let alpha = (1...3).map { random.normal(at: 5 * 4 + UInt64($0)) * 0.1 }
        #expect(Comparison(out, [alpha[0] * 0.2, alpha[1] * 0.02, alpha[2] * 0.002], atol: 1e-7, rtol: 1e-6).isClose)
        var evaluation = [Float](repeating: 1, count: 3)
        evaluation.withUnsafeMutableBufferPointer { p.normalize(image, training: false, random: random, index: 5, into: $0.baseAddress!) }
        #expect(evaluation == [0, 0, 0], "no lighting outside training")
    }

    @Test func tenCropsAreCornersCentreAndMirrors() throws {
        let p = Preprocessing(channels: 1, crop: 2)
        let crops = try p.tenCrops(ramp)
        #expect(crops.count == 10)
        #expect(crops[0].pixels == [0, 10, 40, 50])
        #expect(crops[1].pixels == [20, 30, 60, 70])
        #expect(crops[2].pixels == [80, 90, 120, 130])
        #expect(crops[3].pixels == [100, 110, 140, 150])
        #expect(crops[4].pixels == [50, 60, 90, 100])
        #expect(crops[5].pixels == [10, 0, 50, 40])
    }

    @Test func badOptionsAreRejected() {
        #expect(throws: DataError.self) { try Preprocessing(channels: 2).validate() }
        #expect(throws: DataError.self) { try Preprocessing(channels: 3, mean: [0]).validate() }
        #expect(throws: DataError.self) { try Preprocessing(channels: 1, std: [0]).validate() }
        #expect(throws: DataError.self) { try Preprocessing(channels: 3, lightingSigma: 0.1).validate() }
    }

    /// The preprocessing follows the network's input: channels converted, a square crop of the
    /// input's size, crop and resize scaled together; presets with their own network unchanged.
    @Test func fittingToTheNetworksInput() {
        let quick = Preprocessing(channels: 1, resize: 64, mean: [0.286], std: [0.353])
        let same = quick.fitted(to: Shape(channels: 1, height: 64, width: 64))
        #expect(same.resize == 64 && same.crop == 64 && same.mean == quick.mean)
        let rgb = quick.fitted(to: Shape(channels: 3, height: 224, width: 224))
        #expect(rgb.channels == 3 && rgb.mean == [0.286, 0.286, 0.286] && rgb.std.count == 3 && rgb.resize == 224 && rgb.crop == 224)
        let imagenet = Preprocessing(channels: 3, resize: 256, crop: 224, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225])
        let gray = imagenet.fitted(to: Shape(channels: 1, height: 224, width: 224))
        #expect(gray.channels == 1 && abs(gray.mean[0] - 0.449) < 1e-6 && gray.resize == 256 && gray.crop == 224)
        let paper = Preprocessing(channels: 3, resize: 256, crop: 227, randomCrop: true, flip: true)
        let scaled = paper.fitted(to: Shape(channels: 3, height: 224, width: 224))
        #expect(scaled.resize == 253 && scaled.crop == 224 && scaled.randomCrop && scaled.flip)
        #expect(paper.fitted(to: Shape(channels: 3, height: 227, width: 227)) == paper)
    }
}
