@testable import AlexNet
import Foundation
import Synchronization
import Testing

/// A small gray network with random weights, written as a checkpoint the way `alexnet train`
/// writes one, so that the classifier reads exactly what users have.
enum ClassifierFixture {
    static let networkText = """
        name: tiny-gray
        input: 1x16x16

        conv1    conv     out=4 kernel=3 pad=1
        relu1    relu
        pool1    maxpool  kernel=2 stride=2
        flatten  flatten
        fc1      linear   out=3
        """

    static let preprocessing = Preprocessing(channels: 1, resize: 16, mean: [0.5], std: [0.25])

    /// A checkpoint of `text` (default: the tiny gray network) with weights drawn from `seed`.
    static func checkpoint(_ text: String = networkText, seed: UInt64 = 3) throws -> (path: String, network: ResolvedNetwork) {
        let network = try NetworkFile.parse(text).resolved()
        let plan = try ReferenceBackend().makePlan(for: network, batchSize: 1, seed: seed)
        let configuration = TrainingConfiguration(
            preset: "test", model: network.network.name, data: "stripes", epochs: 1, batchSize: 1, optimizer: .paper,
            schedule: Schedule(kind: .constant, baseLearningRate: 0.01), preprocessing: preprocessing)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("classifier-\(UUID().uuidString).safetensors").path
        try Checkpoint.write(plan: plan, run: RunState(configuration: configuration, classNames: ["a", "b", "c"]), to: path)
        return (path, network)
    }

    /// A colour image that is neither square nor the network's size.
    static func photo(width: Int = 40, height: Int = 30) -> Image {
        var image = Image(width: width, height: height, channels: 3)
        for y in 0..<height {
            for x in 0..<width {
                for c in 0..<3 { image[x, y, c] = UInt8((x * 7 + y * 3 + c * 50) % 256) }
            }
        }
        return image
    }
}

@Suite struct ClassifierTests {
    @Test func classifiesAPhotoOfAnySizeAsThePlanDoes() throws {
        let (path, network) = try ClassifierFixture.checkpoint()
        let classifier = try Classifier(checkpoint: path)
        let photo = ClassifierFixture.photo()
        let file = path + ".png"
        try Data(ImageCodec.encodePNG(photo)).write(to: URL(fileURLWithPath: file))
        let guesses = try classifier.classify(imageAt: file, top: 3)
        #expect(guesses.map(\.name).sorted() == ["a", "b", "c"])
        #expect(abs(guesses.map(\.probability).reduce(0, +) - 1) < 1e-5)
        #expect(guesses[0].probability >= guesses[1].probability && guesses[1].probability >= guesses[2].probability)

        // By hand: gray, shorter side to 16 (30x40 -> 16x21), centre crop 16, normalise, the
        // reference plan, softmax.
        let fitted = ClassifierFixture.preprocessing.fitted(to: network.inputShape)
        var input = [Float](repeating: 0, count: 256)
        try input.withUnsafeMutableBufferPointer { buffer in
            try fitted.prepare(photo, as: network.inputShape, training: false, random: Philox(seed: 0), index: 0,
                               into: buffer.baseAddress!, source: "photo")
        }
        let plan = try ReferenceBackend().makePlan(for: network, batchSize: 1, mode: .inference, seed: 0)
        try TrainedModel(checkpoint: path).load(into: plan)
        let expected = SoftmaxCrossEntropy.probabilities(try plan.infer(Tensor(shape: [1, 1, 16, 16], scalars: input))).scalars
        for guess in guesses {
            #expect(abs(guess.probability - Double(expected[guess.label])) < 1e-5, "\(guess) vs \(expected)")
        }
        // Encoded bytes and a batch of decoded images give the same answer.
        #expect(try classifier.classify(imageData: ImageCodec.encodePNG(photo), top: 3) == guesses)
        // (A batch of 3 runs as plans of 2 and 1, whose kernels may round differently.)
        let batch = try classifier.classify(images: [photo, ClassifierFixture.photo(width: 17, height: 64), photo], top: 3)
        #expect(batch.count == 3)
        for row in [batch[0], batch[2]] {
            #expect(row.map(\.label) == guesses.map(\.label))
            for (a, b) in zip(row, guesses) { #expect(abs(a.probability - b.probability) < 1e-6) }
        }
    }

    @Test func isSafeToShareBetweenThreads() throws {
        let classifier = try Classifier(checkpoint: try ClassifierFixture.checkpoint().path)
        let photo = ClassifierFixture.photo()
        let expected = try classifier.classify(images: [photo])[0]
        let results = Mutex<[[Classifier.Guess]]>([])
        DispatchQueue.concurrentPerform(iterations: 8) { k in
            let images = Array(repeating: photo, count: 1 + k % 3)
            if let guesses = try? classifier.classify(images: images) { results.withLock { $0 += guesses } }
        }
        let imageCount = (0..<8).map { 1 + $0 % 3 }.reduce(0, +)
        #expect(results.withLock { $0.count } == imageCount)
        // Plans of other batch sizes may round differently in the last bits.
        let agree = results.withLock { all in
            all.allSatisfy { guesses in
                guesses.map(\.label) == expected.map(\.label)
                    && zip(guesses, expected).allSatisfy { abs($0.probability - $1.probability) < 1e-5 }
            }
        }
        #expect(agree)
    }

    @Test func unreadableAndMisfittingInputGetErrorsNamingTheFile() throws {
        let classifier = try Classifier(checkpoint: try ClassifierFixture.checkpoint().path)
        let missing = "/nonexistent/photo.jpg"
        #expect(throws: DataError.self) { try classifier.classify(imageAt: missing) }
        do {
            _ = try classifier.classify(imageAt: missing)
        } catch {
            #expect("\(error)".contains(missing))
        }
        #expect(throws: FileError.self) { try TrainedModel(checkpoint: "model.onnx") }
    }
}

@Suite struct TrainedModelTests {
    /// A weights file without class names for a 1,000-class network names ImageNet's classes;
    /// one from `alexnet export` (network, names and preprocessing in its metadata) loads alone.
    @Test func weightsFilesBringTheirNamesAndPreprocessing() throws {
        let text = ClassifierFixture.networkText.replacingOccurrences(of: "out=3", with: "out=1000")
        let network = try NetworkFile.parse(text).resolved()
        let plan = try ReferenceBackend().makePlan(for: network, batchSize: 1, mode: .inference, seed: 1)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("weights-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        func values(_ slot: ParameterSlot) -> UnsafeBufferPointer<Float> {
            UnsafeBufferPointer((slot.isTrainable ? plan.parameters : plan.state).view(offset: slot.offset, count: slot.count))
        }
        let outputs = network.layout.slots.map { SafeTensors.Output(name: $0.name, shape: $0.spec.shape, data: values($0)) }
        try SafeTensors.write(outputs, metadata: ["format": "pt"], to: "\(directory)/plain.safetensors")
        let networkFile = "\(directory)/net.txt"
        try text.write(toFile: networkFile, atomically: true, encoding: .utf8)
        let plain = try TrainedModel(weights: "\(directory)/plain.safetensors", model: networkFile)
        #expect(plain.classNames.count == 1000 && plain.classNames[0] == "tench" && plain.classNames[464] == "buckle")
        #expect(plain.preprocessing.channels == 1, "a gray network gets gray preprocessing, not ImageNet's")
        #expect(throws: FileError.self) { try TrainedModel(weights: "\(directory)/plain.safetensors") }

        let preprocessing = Preprocessing(channels: 1, resize: 20, mean: [0.3], std: [0.2])
        try SafeTensors.write(outputs, metadata: [
            "format": "pt",
            TrainedModel.MetadataKey.network: NetworkFile.format(network.network),
            TrainedModel.MetadataKey.classNames: (0..<1000).map { "thing \($0)" }.joined(separator: "\n"),
            TrainedModel.MetadataKey.preprocessing: String(decoding: try JSONEncoder().encode(preprocessing), as: UTF8.self),
        ], to: "\(directory)/exported.safetensors")
        let exported = try TrainedModel(weights: "\(directory)/exported.safetensors")
        #expect(exported.classNames[7] == "thing 7" && exported.preprocessing == preprocessing)
        #expect(exported.network.name == "tiny-gray")
    }
}

@Suite struct FilterGridTests {
    @Test func eachKernelIsScaledToItsOwnRangeInColour() throws {
        let network = try NetworkFile.parse("""
            name: rgb
            input: 3x8x8
            conv1 conv out=2 kernel=3
            flat flatten
            fc linear out=2
            """).resolved()
        let plan = try ReferenceBackend().makePlan(for: network, batchSize: 1, mode: .inference, seed: 0)
        let slot = network.layers[0].slots[0]
        // Kernel 0: red from -1 to 1 (its extremes), green and blue 0; kernel 1: all 5.
        for i in 0..<54 { plan.parameters[slot.offset + i] = i < 27 ? (i < 9 ? Float(i) / 4 - 1 : 0) : 5 }
        let grid = try FilterGrid(network: network, plan: plan)
        #expect(grid.rendering == .rgb && grid.outputs == 2 && grid.size == 3 && grid.blocks == 1)
        let first = grid.pixels(of: 0)
        #expect(first[0].2 == (0, 128, 128) && first[8].2 == (255, 128, 128), "\(first[0].2) \(first[8].2)")
        #expect(grid.pixels(of: 1).allSatisfy { $0.2 == (0, 0, 0) }, "a constant kernel is drawn flat")
        let image = try ImageCodec.decode(grid.png(), source: "grid.png")
        #expect(image.width == 2 * (3 * grid.scale + 2) + 2)
        #expect(throws: FileError.self) { try FilterGrid(network: network, plan: plan, layer: "fc") }
    }

    /// The paper's network: 96 kernels of 3x11x11 in two towers of 48, as conv2 groups them.
    @Test func thePapersTowersAreTwoBlocks() throws {
        let network = try Zoo.network("paper", readFile: { _ in "" }).resolved()
        let plan = try ReferenceBackend().makePlan(for: network, batchSize: 1, mode: .inference, seed: 0)
        let grid = try FilterGrid(network: network, plan: plan)
        #expect(grid.layer == "conv1" && grid.outputs == 96 && grid.inputs == 3 && grid.size == 11 && grid.blocks == 2)
        let image = try ImageCodec.decode(grid.png(), source: "paper.png")
        #expect(image.width == 12 * (44 + 2) + 2, "rows of 12, as in the paper's figure")
        let deeper = try FilterGrid(network: network, plan: plan, layer: "conv2")
        #expect(deeper.rendering == .meanOverInputs && deeper.inputs == 48 && deeper.blocks == 1)
    }
}
