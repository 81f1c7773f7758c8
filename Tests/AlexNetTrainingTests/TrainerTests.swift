import AlexNetBackends
import AlexNetCore
import AlexNetData
import AlexNetInterop
import AlexNetNetwork
import AlexNetTraining
import Foundation
import Testing

/// 8x8 gray images of three classes (a bright row, a bright column, a bright diagonal) with
/// pixel noise drawn from the example's index.
struct StripesSource: ImageSource {
    var count: Int
    var name: String { "stripes" }
    var classNames: [String] { ["row", "column", "diagonal"] }
    func label(at index: Int) -> Int { index % 3 }
    func image(at index: Int) throws(DataError) -> Image {
        let noise = Philox(seed: 99)
        let k = (index / 3) % 8
        var image = Image(width: 8, height: 8, channels: 1)
        for y in 0..<8 {
            for x in 0..<8 {
                let on = [y == k, x == k, x == y][index % 3]
                image[x, y, 0] = UInt8((on ? 180 : 40) + Int(noise.uniform(at: UInt64(index * 64 + y * 8 + x)) * 60))
            }
        }
        return image
    }
}

enum TrainingFixture {
    static let networkText = """
        name: tiny
        input: 1x16x16
        init: xavier

        conv1    conv     out=8 kernel=3 pad=1
        relu1    relu
        pool1    maxpool  kernel=3 stride=2
        flatten  flatten
        fc1      linear   out=32
        relu2    relu
        drop     dropout  p=0.5
        fc2      linear   out=3
        """

    static func configuration(epochs: Int = 2, lr: Float = 0.05) -> TrainingConfiguration {
        TrainingConfiguration(
            preset: "test", model: "tiny", data: "stripes", epochs: epochs, batchSize: 16,
            optimizer: .sgd(momentum: 0.9, weightDecay: 5e-4),
            schedule: Schedule(kind: .constant, baseLearningRate: lr), seed: 5,
            preprocessing: Preprocessing(channels: 1, resize: 16, flip: true, mean: [0.5], std: [0.25]))
    }

    static func directory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("alexnet-train-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// A trainer for `run` (fresh or read from a checkpoint), writing into `directory`.
    static func trainer(run: RunState, directory: String?, checkpoint: SafeTensors? = nil, count: Int = 96) throws -> Trainer {
        let network = try NetworkFile.parse(networkText).resolved()
        let plan = try CPUBackend(threads: 2).makePlan(for: network, batchSize: run.configuration.batchSize, seed: run.configuration.seed)
        let c = run.configuration
        let training = try DataLoader(source: StripesSource(count: count), preprocessing: c.preprocessing, shape: network.inputShape,
                                      batchSize: c.batchSize, training: true, seed: c.seed)
        let validation = try DataLoader(source: StripesSource(count: 30), preprocessing: c.preprocessing, shape: network.inputShape,
                                        batchSize: c.batchSize, training: false, seed: c.seed)
        let trainer = Trainer(plan: plan, training: training, validation: validation, run: run, outputDirectory: directory)
        if let checkpoint { try Checkpoint.load(checkpoint, into: plan, optimizer: trainer.optimizer) }
        return trainer
    }

    static func fresh(epochs: Int = 2, lr: Float = 0.05) -> RunState {
        RunState(configuration: configuration(epochs: epochs, lr: lr), classNames: ["row", "column", "diagonal"])
    }
}

@Suite(.serialized) struct TrainerTests {
    @Test func learnsAndWritesCheckpointsHistoryAndCurves() throws {
        let directory = try TrainingFixture.directory()
        let trainer = try TrainingFixture.trainer(run: TrainingFixture.fresh(epochs: 3), directory: directory)
        #expect(try trainer.train() == .completed)
        let history = trainer.run.history
        #expect(history.map(\.epoch) == [1, 2, 3])
        #expect(history.last!.validationTop1! > 0.9, "\(history)")
        #expect(history.last!.trainLoss < history.first!.trainLoss)
        for file in ["last.safetensors", "best.safetensors", "history.csv", "history.jsonl", "curves.svg", "curves.png"] {
            #expect(FileManager.default.fileExists(atPath: "\(directory)/\(file)"), "\(file)")
        }
        let csv = try String(contentsOfFile: "\(directory)/history.csv", encoding: .utf8).split(separator: "\n")
        #expect(csv.first == Substring(History.csvHeader) && csv.count == 4)
        #expect(try String(contentsOfFile: "\(directory)/curves.svg", encoding: .utf8).contains("<polyline"))
        let loaded = try Checkpoint.read("\(directory)/last.safetensors")
        #expect(loaded.run.epoch == 3 && loaded.run.step == 18 && loaded.network.name == "tiny")
    }

    @Test func resumingAfterAnEpochIsBitIdentical() throws {
        let straight = try TrainingFixture.trainer(run: TrainingFixture.fresh(epochs: 2), directory: nil)
        _ = try straight.train()

        let directory = try TrainingFixture.directory()
        var first = TrainingFixture.fresh(epochs: 1)
        let part = try TrainingFixture.trainer(run: first, directory: directory)
        _ = try part.train()
        let loaded = try Checkpoint.read("\(directory)/last.safetensors")
        first = loaded.run
        first.configuration.epochs = 2
        let resumed = try TrainingFixture.trainer(run: first, directory: directory, checkpoint: loaded.tensors)
        _ = try resumed.train()
        #expect(resumed.plan.parameters.array == straight.plan.parameters.array)
        #expect(resumed.plan.optimizerState.buffers[0].array == straight.plan.optimizerState.buffers[0].array)
        #expect(resumed.run.history.map(\.trainLoss) == straight.run.history.map(\.trainLoss))
    }

    @Test func anInterruptedRunResumesMidEpochExactly() throws {
        let straight = try TrainingFixture.trainer(run: TrainingFixture.fresh(epochs: 1), directory: nil)
        _ = try straight.train()

        let directory = try TrainingFixture.directory()
        let interrupted = try TrainingFixture.trainer(run: TrainingFixture.fresh(epochs: 1), directory: directory)
        interrupted.shouldStop = { interrupted.run.step == 2 }
        #expect(try interrupted.train() == .interrupted(step: 2))
        let loaded = try Checkpoint.read("\(directory)/last.safetensors")
        #expect(loaded.run.epoch == 0 && loaded.run.batch == 2)
        let resumed = try TrainingFixture.trainer(run: loaded.run, directory: directory, checkpoint: loaded.tensors)
        #expect(try resumed.train() == .completed)
        #expect(resumed.plan.parameters.array == straight.plan.parameters.array)
        #expect(resumed.run.history.first?.trainLoss == straight.run.history.first?.trainLoss)
    }

    @Test func aNonFiniteLossStopsTheRunAndKeepsTheLastCheckpoint() throws {
        let directory = try TrainingFixture.directory()
        let good = try TrainingFixture.trainer(run: TrainingFixture.fresh(epochs: 1), directory: directory)
        _ = try good.train()
        let before = try Data(contentsOf: URL(fileURLWithPath: "\(directory)/last.safetensors"))
        var run = try Checkpoint.read("\(directory)/last.safetensors").run
        run.configuration.epochs = 2
        run.configuration.schedule.baseLearningRate = 1e30
        let loaded = try Checkpoint.read("\(directory)/last.safetensors")
        let exploding = try TrainingFixture.trainer(run: run, directory: directory, checkpoint: loaded.tensors)
        do {
            _ = try exploding.train()
            Issue.record("a learning rate of 1e30 trained without complaint")
        } catch let error as TrainingError {
            #expect("\(error)".contains("epoch 2"), "\(error)")
            #expect("\(error)".contains("last.safetensors"), "\(error)")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: "\(directory)/last.safetensors")) == before)
    }

    @Test func checkpointMismatchesAreListedTensorByTensor() throws {
        let directory = try TrainingFixture.directory()
        let trainer = try TrainingFixture.trainer(run: TrainingFixture.fresh(epochs: 1), directory: directory)
        _ = try trainer.train()
        let file = try SafeTensors(path: "\(directory)/last.safetensors")
        let wider = try NetworkFile.parse(TrainingFixture.networkText.replacingOccurrences(of: "out=32", with: "out=40")).resolved()
        let plan = try ReferenceBackend().makePlan(for: wider, batchSize: 1, seed: 0)
        do {
            try Checkpoint.load(file, into: plan)
            Issue.record("a checkpoint of another width loaded")
        } catch {
            let message = "\(error)"
            #expect(message.contains("'fc1.weight' has shape [32, 392], the network needs [40, 392]"), "\(message)")
            #expect(message.contains("'fc2.weight' has shape [3, 32], the network needs [3, 40]"), "\(message)")
        }
    }
}

@Suite struct TenCropTests {
    /// Ten-crop evaluation equals the mean of the softmax of the ten crops, computed by hand.
    @Test func averagesTheSoftmaxOfTheTenCrops() throws {
        let network = try NetworkFile.parse(TrainingFixture.networkText).resolved()
        let plan = try ReferenceBackend().makePlan(for: network, batchSize: 10, seed: 4)
        let preprocessing = Preprocessing(channels: 1, resize: 20, crop: 16, mean: [0.5], std: [0.25])
        let source = StripesSource(count: 4)
        let metrics = try TenCrop.evaluate(plan: plan, source: source, preprocessing: preprocessing, shape: network.inputShape, classes: 3)
        #expect(metrics.count == 4)
        // An unreadable image is reported and left out when skipping, an error otherwise.
        let broken = BrokenAt(base: source, index: 2)
        #expect(throws: DataError.self) {
            try TenCrop.evaluate(plan: plan, source: broken, preprocessing: preprocessing, shape: network.inputShape, classes: 3)
        }
        var skipped: [Int] = []
        let partial = try TenCrop.evaluate(plan: plan, source: broken, preprocessing: preprocessing, shape: network.inputShape,
                                           classes: 3, skipping: { index, _ in skipped.append(index) })
        #expect(partial.count == 3 && skipped == [2])
        var expected = Metrics(classes: 3)
        for index in 0..<4 {
            let crops = try preprocessing.tenCrops(try source.image(at: index))
            var mean = [Float](repeating: 0, count: 3)
            for crop in crops {
                var input = [Float](repeating: 0, count: 256)
                input.withUnsafeMutableBufferPointer {
                    preprocessing.normalize(crop, training: false, random: Philox(seed: 0), index: 0, into: $0.baseAddress!)
                }
                let single = try ReferenceBackend().makePlan(for: network, batchSize: 1, seed: 4)
                let p = SoftmaxCrossEntropy.probabilities(try single.infer(Tensor(shape: [1, 1, 16, 16], scalars: input))).scalars
                for c in 0..<3 { mean[c] += p[c] / 10 }
            }
            mean.withUnsafeBufferPointer { expected.add(probabilities: $0, labels: [source.label(at: index)][...], rows: 1) }
        }
        #expect(abs(metrics.loss - expected.loss) < 1e-5 && metrics.top1Correct == expected.top1Correct)
    }
}

/// Another source with one example that fails to decode.
struct BrokenAt: ImageSource {
    var base: any ImageSource
    var index: Int
    var name: String { base.name }
    var count: Int { base.count }
    var classNames: [String] { base.classNames }
    func label(at i: Int) -> Int { base.label(at: i) }
    func image(at i: Int) throws(DataError) -> Image {
        if i == index { throw DataError("broken/\(i).png", "is truncated") }
        return try base.image(at: i)
    }
}

@Suite struct RunStateTests {
    /// Checkpoints written before the plateau memory moved into the run state kept it inside
    /// the recipe's schedule; they still resume with it.
    @Test func oldCheckpointsKeepTheirPlateauMemory() throws {
        var configuration = TrainingFixture.configuration()
        configuration.schedule = Schedule(kind: .plateau, baseLearningRate: 0.1, patience: 1)
        let run = RunState(configuration: configuration, classNames: ["a", "b", "c"])
        var object = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(run)) as? [String: Any])
        object.removeValue(forKey: "scheduleState")
        var recipe = try #require(object["configuration"] as? [String: Any])
        var schedule = try #require(recipe["schedule"] as? [String: Any])
        schedule["reductions"] = 2
        schedule["bestError"] = 0.25
        schedule["epochsWithoutImprovement"] = 1
        recipe["schedule"] = schedule
        object["configuration"] = recipe
        let legacy = try JSONDecoder().decode(RunState.self, from: JSONSerialization.data(withJSONObject: object))
        #expect(legacy.scheduleState.reductions == 2 && legacy.scheduleState.bestError == 0.25)
        #expect(abs(legacy.learningRate - 0.001) < 1e-9)
        // And a run state of today round-trips.
        let today = try JSONDecoder().decode(RunState.self, from: JSONEncoder().encode(legacy))
        #expect(today == legacy)
    }

    /// A plateau reduction takes effect at once, in the uninterrupted run and in a resumed one.
    @Test func resumingAcrossAPlateauReductionIsBitIdentical() throws {
        func plateauRun(epochs: Int) -> RunState {
            var run = TrainingFixture.fresh(epochs: epochs)
            run.configuration.schedule = Schedule(kind: .plateau, baseLearningRate: 0.05, patience: 1)
            return run
        }
        let straight = try TrainingFixture.trainer(run: plateauRun(epochs: 6), directory: nil)
        _ = try straight.train()
        let directory = try TrainingFixture.directory()
        let part = try TrainingFixture.trainer(run: plateauRun(epochs: 3), directory: directory)
        _ = try part.train()
        let loaded = try Checkpoint.read("\(directory)/last.safetensors")
        var run = loaded.run
        run.configuration.epochs = 6
        let resumed = try TrainingFixture.trainer(run: run, directory: directory, checkpoint: loaded.tensors)
        _ = try resumed.train()
        #expect(resumed.plan.parameters.array == straight.plan.parameters.array)
        #expect(resumed.run.history.map(\.learningRate) == straight.run.history.map(\.learningRate))
        #expect(resumed.run.scheduleState == straight.run.scheduleState)
        #expect(straight.run.scheduleState.reductions > 0, "the run must cross a reduction: \(straight.run.history.map(\.validationTop1))")
    }
}

@Suite struct EarlyStoppingTests {
    /// Epochs since the best validation top-1, counted from the history (the first of equal
    /// bests counts: later ties are not improvements).
    @Test func countsEpochsSinceTheBest() {
        var run = TrainingFixture.fresh(epochs: 9)
        #expect(run.epochsSinceBest == nil && !run.stopsEarly)
        for top1 in [0.5, 0.7, 0.6, 0.7] {
            var record = EpochRecord(epoch: run.history.count + 1, step: 0, learningRate: 0.1, trainLoss: 1, trainAccuracy: 0.5,
                                     imagesPerSecond: 1, wallSeconds: 1)
            record.validationTop1 = top1
            run.history.append(record)
        }
        #expect(run.epochsSinceBest == 2)
        run.configuration.earlyStoppingPatience = 3
        #expect(!run.stopsEarly)
        run.configuration.earlyStoppingPatience = 2
        #expect(run.stopsEarly)
    }

    /// A rate too small to change the network leaves validation top-1 where it was: with
    /// patience 1 the run ends after its second epoch instead of its fifth.
    @Test func aRunWithoutProgressStopsAfterPatienceEpochs() throws {
        var run = TrainingFixture.fresh(epochs: 5)
        run.configuration.schedule.baseLearningRate = 1e-12
        run.configuration.earlyStoppingPatience = 1
        let trainer = try TrainingFixture.trainer(run: run, directory: nil)
        #expect(try trainer.train() == .stoppedEarly(epoch: 2))
        #expect(trainer.run.history.count == 2 && trainer.run.epochsSinceBest == 1)
        // Asked again (a resumed run), it stops before taking a step.
        let steps = trainer.run.step
        #expect(try trainer.train() == .stoppedEarly(epoch: 2) && trainer.run.step == steps)
    }
}

@Suite struct TensorBoardLoggingTests {
    /// A run logs every step's loss and rate, every epoch's metrics and the curves picture, at
    /// the run's global steps; TensorBoard's own loader reads the file too when
    /// ALEXNET_TENSORBOARD_PYTHON names a python with the `tensorboard` package.
    @Test func aRunLogsStepsEpochsAndCurves() throws {
        let directory = try TrainingFixture.directory()
        let trainer = try TrainingFixture.trainer(run: TrainingFixture.fresh(epochs: 2), directory: directory)
        trainer.events = try EventWriter(directory: directory)
        _ = try trainer.train()
        let file = try EventFile(path: try #require(trainer.events?.path))
        let steps = trainer.run.step
        #expect(file.scalar("step/loss").map(\.step) == Array(1...steps), "one loss per step, at the count of steps taken")
        #expect(file.scalar("top1/validation").map(\.step) == trainer.run.history.map(\.step))
        let logged = file.scalar("top1/validation").map(\.value)
        #expect(zip(logged, trainer.run.history.compactMap(\.validationTop1)).allSatisfy { abs($0 - $1) < 1e-6 })
        #expect(file.entries.compactMap { $0.images["curves"] }.count == 2)
        #expect(file.entries.compactMap { $0.images["curves"] }.last?.starts(with: [0x89, 0x50, 0x4E, 0x47]) == true)

        guard let python = ProcessInfo.processInfo.environment["ALEXNET_TENSORBOARD_PYTHON"] else { return }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/check_tensorboard.py").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [script, directory]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let scalars = try #require(json["scalars"] as? [String: [[Double]]])
        #expect(scalars["step/loss"]?.count == steps && scalars["loss/train"]?.count == 2, "\(scalars.keys.sorted())")
        let images = try #require(json["images"] as? [String: [String: Int]])
        #expect(images["curves"]?["count"] == 2 && images["curves"]?["width"] ?? 0 > 100, "\(images)")
    }
}
