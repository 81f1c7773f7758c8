import AlexNetBackends
import AlexNetCore
import AlexNetData
import AlexNetInterop
import AlexNetNetwork
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// How to run a training recipe (not what to train: that is the `TrainingConfiguration`).
public struct TrainingSetup: Sendable {
    /// A name from `Backends`.
    public var backend = "cpu"
    public var backendOptions = BackendOptions()
    /// Loader threads preparing batches.
    public var workers = 2
    /// Count and list unreadable images instead of stopping.
    public var skipBadImages = false
    /// Where checkpoints, history and plots go (nil: nowhere).
    public var outputDirectory: String?
    /// Start a new run in a folder that holds another run's checkpoints, deleting them.
    public var overwrite = false
    /// Whether this process writes files (in a cluster, rank 0 only: the others never do).
    public var writesFiles = true
    /// The processes training together (data parallel) and how their gradients are averaged:
    /// each takes batch / worldSize examples of every global batch.
    public var reducer: any GradientReducer = LocalReducer()
    /// Where TensorBoard's events file goes (nil: none).
    public var tensorBoardDirectory: String?
    /// The recipe's crop was asked for: refuse one of another size than the network's input
    /// instead of scaling it (and its resize) to fit.
    public var exactCrop = false

    public init() {}
}

/// A run that cannot start, and what to do instead.
public struct TrainingSetupError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A training run assembled from a recipe: the dataset, the network sized to its classes, the
/// backend's plan, the loaders (preprocessing fitted to the network's input), the trainer, and
/// the output folder, checked before the first step. `alexnet train` and the tests both start
/// runs through it.
public final class TrainingSession {
    public let trainer: Trainer
    public let network: ResolvedNetwork
    public let backend: any Backend
    public let trainingExamples: Int
    public let validationExamples: Int?
    public let isResumed: Bool
    /// The weights a fine-tuning run started from, tensor by tensor (nil for other runs).
    public let weightsStart: WeightsStart?
    /// Folders this session created for its output (removed again if the run fails empty).
    public private(set) var createdDirectories: [String] = []
    /// The run's files that are written as it goes.
    public static let runFiles = ["last.safetensors", "best.safetensors", "history.csv", "history.jsonl", "curves.svg",
                                  "curves.png", "skipped-images.txt"]

    public var run: RunState { trainer.run }

    /// A new run of `configuration`. Refuses an output folder that holds another run's
    /// checkpoints unless `setup.overwrite`; makes sure the folder can be written.
    public convenience init(configuration: TrainingConfiguration, setup: TrainingSetup) throws {
        let created = try Self.prepareOutput(setup, fresh: true)
        do {
            guard !configuration.data.isEmpty else {
                throw TrainingSetupError("preset \(configuration.preset) has no dataset of its own: give --data (an image folder "
                    + "DIR/train/CLASS/*.jpg with DIR/val/CLASS, a folder of IDX files or of CIFAR-10 batches, or fashion-mnist, cifar10)")
            }
            let splits = try Datasets.open(configuration.data)
            var network = try Zoo.network(configuration.model, input: configuration.inputShape, readFile: { try readTextFile($0) })
            let classNames = splits.training.classNames
            if network.classCount != classNames.count { network = try network.withClassCount(classNames.count) }
            var configuration = configuration
            var start: WeightsStart?
            if let fineTuning = configuration.fineTuning {
                start = try Self.prepareFineTuning(fineTuning, network: network, configuration: &configuration)
            }
            let run = RunState(configuration: configuration, classNames: classNames)
            try self.init(network: network, run: run, splits: splits, checkpoint: nil, start: start, setup: setup)
        } catch {
            Self.removeIfEmpty(created)
            throw error
        }
        createdDirectories = created
        // Only now that the new run is ready does the old one go.
        if setup.overwrite, setup.writesFiles, setup.reducer.rank == 0, let directory = setup.outputDirectory {
            for name in Self.runFiles { unlink("\(directory)/\(name)") }
            for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            where name.hasPrefix("events.out.tfevents.") && "\(directory)/\(name)" != trainer.events?.path {
                unlink("\(directory)/\(name)")
            }
        }
    }

    /// Continues the run whose `last.safetensors` is in `setup.outputDirectory`, with its own
    /// recipe; `epochs` may extend it.
    public static func resume(setup: TrainingSetup, epochs: Int? = nil, checkpointEvery: Int? = nil) throws -> TrainingSession {
        guard let directory = setup.outputDirectory else { throw TrainingSetupError("resuming needs the run's folder") }
        let path = "\(directory)/last.safetensors"
        guard access(path, F_OK) == 0 else { throw TrainingSetupError("--resume: there is no \(path) to resume from") }
        let loaded = try Checkpoint.read(path)
        var run = loaded.run
        if let epochs { run.configuration.epochs = epochs }
        if let checkpointEvery { run.configuration.checkpointEvery = checkpointEvery }
        _ = try prepareOutput(setup, fresh: false)
        let splits = try Datasets.open(run.configuration.data)
        return try TrainingSession(network: loaded.network, run: run, splits: splits, checkpoint: loaded.tensors, start: nil, setup: setup)
    }

    /// A weights file and what of it fits the network.
    public struct WeightsStart {
        public var file: SafeTensors
        public var match: WeightsMatch
        /// Layers that do not train.
        public var frozenLayers: [String]
        /// Whether the normalisation came from the weights (their model's, or ImageNet's).
        public var normalizationFromWeights: Bool
    }

    /// Opens the weights, matches them to `network`, and writes the layers' rates (frozen, the
    /// head's) and the weights' normalisation into `configuration`.
    private static func prepareFineTuning(_ fineTuning: FineTuning, network: Network,
                                          configuration: inout TrainingConfiguration) throws -> WeightsStart {
        let file = try SafeTensors(path: fineTuning.weights)
        let resolved = try network.resolved()
        let match = WeightsMatch(file: file, network: resolved, reinitialize: fineTuning.reinitialize)
        guard match.loadedCount > 0 else {
            let theirs = file.entries.prefix(4).map(\.name).joined(separator: ", ")
            let ours = resolved.layout.slots.prefix(4).map(\.name).joined(separator: ", ")
            throw TrainingSetupError("no tensor of \(fineTuning.weights) fits \(network.name): the file has \(theirs)...; the network "
                + "needs \(ours)... (torchvision's state dict fits --model torchvision)")
        }
        let (rates, frozen) = try fineTuning.layerRates(network: resolved, newLayers: match.newLayers,
                                                         baseLearningRate: configuration.schedule.baseLearningRate)
        configuration.optimizer.layerRates = rates.isEmpty ? nil : rates
        let normalization = FineTuning.normalization(of: file, network: network)
        if let normalization {
            configuration.preprocessing.channels = normalization.channels
            configuration.preprocessing.scale = normalization.scale
            configuration.preprocessing.mean = normalization.mean
            configuration.preprocessing.std = normalization.std
            configuration.preprocessing.meanImage = normalization.meanImage
        }
        return WeightsStart(file: file, match: match, frozenLayers: frozen, normalizationFromWeights: normalization != nil)
    }

    private init(network: Network, run: RunState, splits: Datasets.Splits, checkpoint: SafeTensors?, start: WeightsStart?,
                 setup: TrainingSetup) throws {
        let c = run.configuration
        let training: any ImageSource = c.trainLimit.map { PrefixSource(splits.training, count: $0) } ?? splits.training
        let validation: (any ImageSource)? = splits.test.map { test in c.validationLimit.map { PrefixSource(test, count: $0) } ?? test }
        guard splits.training.classNames.count == run.classNames.count else {
            throw TrainingSetupError("\(c.data) has \(splits.training.classNames.count) classes, the run \(run.classNames.count)")
        }
        var resolved = try network.resolved()
        resolved.frozenLayers = Set((c.optimizer.layerRates ?? [:]).filter { $0.value == 0 }.keys)
        if let crop = c.preprocessing.crop, c.preprocessing.resize == nil || setup.exactCrop, let input = network.inputShape.image,
           crop != input.height {
            throw TrainingSetupError("a crop of \(crop) cannot feed \(network.name), which takes \(network.inputShape): "
                + "crop \(input.height), or give --input")
        }
        let preprocessing = c.preprocessing.fitted(to: network.inputShape)
        let processes = setup.reducer.worldSize
        guard c.batchSize % processes == 0 else {
            let lower = c.batchSize / processes * processes, upper = lower + processes
            throw TrainingSetupError("the batch of \(c.batchSize) does not divide among \(processes) processes (each takes an equal "
                + "slice of every batch): give --batch \(lower > 0 ? "\(lower) or " : "")\(upper), or run a number of processes that divides \(c.batchSize)")
        }
        let shard = Shard(rank: setup.reducer.rank, count: processes)
        let localBatch = c.batchSize / processes
        func loader(_ source: any ImageSource, training: Bool) throws -> DataLoader {
            try DataLoader(source: source, preprocessing: preprocessing, shape: network.inputShape, batchSize: localBatch,
                           training: training, seed: c.seed, workers: setup.workers, skipBadImages: setup.skipBadImages,
                           shard: shard)
        }
        let trainLoader = try loader(training, training: true)
        let validationLoader = try validation.map { try loader($0, training: false) }
        // An image that does not fit the network stops the run here, before a plan is made.
        if let first = try? training.image(at: 0) {
            var scratch = [Float](repeating: 0, count: network.inputShape.elementCount)
            try scratch.withUnsafeMutableBufferPointer { buffer throws(DataError) in
                try preprocessing.prepare(first, as: network.inputShape, training: false, random: Philox(seed: c.seed), index: 0,
                                          into: buffer.baseAddress!, source: "\(training.name) example 0")
            }
        }
        backend = try Backends.make(setup.backend, options: setup.backendOptions)
        let plan = try backend.makePlan(for: resolved, batchSize: localBatch, mode: .training, seed: c.seed)
        plan.labelSmoothing = c.labelSmoothing ?? 0
        var run = run
        run.scheduleState.totalSteps = c.epochs * trainLoader.batchesPerEpoch
        trainer = Trainer(plan: plan, training: trainLoader, validation: validationLoader, run: run,
                          outputDirectory: setup.outputDirectory)
        trainer.writesFiles = setup.writesFiles && setup.reducer.rank == 0
        trainer.reducer = setup.reducer
        if trainer.writesFiles, let directory = setup.tensorBoardDirectory { trainer.events = try EventWriter(directory: directory) }
        if let checkpoint { try Checkpoint.load(checkpoint, into: plan, optimizer: c.optimizer) }
        if let start { try start.match.load(start.file, into: plan) }
        weightsStart = start
        self.network = resolved
        trainingExamples = training.count
        validationExamples = validation?.count
        isResumed = checkpoint != nil
    }

    public func train() throws -> TrainingOutcome { try trainer.train() }

    /// The images the loaders skipped (`skipBadImages`), with why.
    public var skippedImages: [String] {
        ([trainer.training] + (trainer.validation.map { [$0] } ?? [])).flatMap { $0.skippedImages.map(\.reason) }
    }

    // MARK: The output folder

    /// Creates the output folder (returning the folders it created), refuses one holding
    /// another run unless overwriting (then deletes that run's files), and checks that it can
    /// be written.
    private static func prepareOutput(_ setup: TrainingSetup, fresh: Bool) throws -> [String] {
        guard setup.writesFiles, setup.reducer.rank == 0, let directory = setup.outputDirectory else { return [] }
        if fresh {
            let existing = ["last.safetensors", "best.safetensors"].map { (name: String) in "\(directory)/\(name)" }
                .filter { (path: String) in access(path, F_OK) == 0 }
            if let first = existing.first, !setup.overwrite {
                throw TrainingSetupError("\(directory) already holds a run (\(first)); continue it with --resume, "
                    + "replace it with --overwrite, or choose another --out")
            }
        }
        let created = try makeDirectories(directory)
        let probe = "\(directory)/.alexnet-write-test-\(getpid())"
        guard let file = fopen(probe, "w") else {
            let reason = String(cString: strerror(errno))
            removeIfEmpty(created)
            throw TrainingSetupError("cannot write to \(directory): \(reason)")
        }
        fclose(file)
        unlink(probe)
        return created
    }

    /// `mkdir -p`; returns the folders it created, deepest last.
    @discardableResult
    public static func makeDirectories(_ path: String) throws -> [String] {
        var created: [String] = []
        var current = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            current += "/\(part)"
            if mkdir(current, 0o755) == 0 {
                created.append(current)
            } else if errno != EEXIST {
                let reason = String(cString: strerror(errno))
                removeIfEmpty(created)
                throw TrainingSetupError("cannot create directory '\(current)': \(reason)")
            }
        }
        return created
    }

    /// Removes `folders` (deepest first) while they are empty.
    public static func removeIfEmpty(_ folders: [String]) {
        for folder in folders.reversed() where rmdir(folder) != 0 { return }
    }
}
