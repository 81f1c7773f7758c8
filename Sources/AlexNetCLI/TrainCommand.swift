import AlexNetBackends
import AlexNetCore
import AlexNetData
import AlexNetInterop
import AlexNetNetwork
import AlexNetTraining
import ArgumentParser
import FoundationEssentials

#if canImport(Glibc)
import Glibc
#endif

/// `alexnet train`: a preset's whole recipe, with any part overridden by options.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a network; checkpoints, history and curves go to --out.",
        discussion: """
            Presets carry a whole recipe: quick (the default: a small AlexNet on Fashion-MNIST, \
            about 6 minutes on two cores), d2l-fashion (Dive into Deep Learning 8.1), cifar10 \
            (the Keras tutorial) and paper (the 2012 recipe; needs --data). Any option given \
            overrides the preset. Fashion-MNIST is read from Debian's dataset-fashion-mnist \
            package; its test split is the validation set.

            Ctrl-C finishes the current step, writes <out>/last.safetensors and exits; \
            `--resume` continues from there exactly (same batches, same dropout masks).
            """)

    @Option(help: ArgumentHelp("Training recipe: \(TrainingPresets.names.joined(separator: ", ")).", valueName: "name"))
    var preset = "quick"
    @Option(name: .shortAndLong, help: ArgumentHelp("A model preset or network file (default: the preset's).", valueName: "name|file"))
    var model: String?
    @Option(help: ArgumentHelp("Dataset: fashion-mnist, cifar10, CIFAR-10's .tar.gz, or a directory (IDX files, CIFAR-10 batches, an image folder with train/ and val/) (default: the preset's).", valueName: "name|dir"))
    var data: String?
    @Option(help: "Epochs to train in all.") var epochs: Int?
    @Option(help: "Examples per step.") var batch: Int?
    @Option(help: "Base learning rate.") var lr: Float?
    @Option(help: ArgumentHelp("sgd (the paper's update; plain with --momentum 0) or adam (Keras defaults).", valueName: "name"))
    var optimizer: String?
    @Option(help: "SGD momentum.") var momentum: Float?
    @Option(name: .customLong("weight-decay"), help: "SGD weight decay.") var weightDecay: Float?
    @Option(help: ArgumentHelp("constant, step (x0.1 every --step-epochs) or plateau (x0.1 when validation error stops improving, 3 times at most).", valueName: "name"))
    var schedule: String?
    @Option(name: .customLong("step-epochs"), help: "Epochs between steps of the step schedule.") var stepEpochs: Int?
    @Option(help: "Epochs without improvement before the plateau schedule lowers the rate.") var patience: Int?
    @Option(help: "Steps of linear learning-rate warm-up.") var warmup: Int?
    @Option(help: "Seed of initialization, shuffling, augmentation and dropout.") var seed: UInt64?
    @Option(help: ArgumentHelp("cpu (oneDNN) or reference (plain Swift, slow).", valueName: "name")) var backend = "cpu"
    @Option(help: "Threads for the cpu backend (default: every core).") var threads: Int?
    @Option(help: "Loader threads preparing batches.") var workers = 2
    @Flag(name: .customLong("skip-bad-images"), help: "Skip images that cannot be read or decoded (counted, and listed in <out>/skipped-images.txt) instead of stopping.")
    var skipBadImages = false
    @Option(help: "Output directory (default: runs/<preset>).") var out: String?
    @Flag(help: "Continue the run in --out from its last.safetensors, with its recipe (only --epochs may change).") var resume = false
    @Option(name: .customLong("checkpoint-every"), help: "Also write last.safetensors every N steps.") var checkpointEvery: Int?
    @Option(help: ArgumentHelp("Statistics from `alexnet data stats` for the paper's PCA lighting (sigma 0.1); the paper preset looks for <data>/alexnet-stats.json.", valueName: "file"))
    var stats: String?
    @Option(help: "Train on the first N training examples only.") var limit: Int?
    @Option(name: .customLong("val-limit"), help: "Validate on the first N validation examples only.") var valLimit: Int?

    func validate() throws {
        guard TrainingPresets.preset(preset) != nil else {
            throw ValidationError("unknown preset '\(preset)'; choose one of \(TrainingPresets.names.joined(separator: ", "))")
        }
        for (name, value) in [("--epochs", epochs), ("--batch", batch), ("--threads", threads), ("--limit", limit), ("--val-limit", valLimit)] {
            if let value, value <= 0 { throw ValidationError("\(name) must be positive, got \(value)") }
        }
        if let lr, !(lr > 0) { throw ValidationError("--lr must be positive, got \(lr)") }
        if let optimizer, OptimizerSettings.Kind(rawValue: optimizer) == nil {
            throw ValidationError("unknown optimizer '\(optimizer)'; choose sgd or adam")
        }
        if let schedule, Schedule.Kind(rawValue: schedule) == nil {
            throw ValidationError("unknown schedule '\(schedule)'; choose constant, step or plateau")
        }
        guard ["cpu", "reference"].contains(backend) else { throw ValidationError("unknown backend '\(backend)'; choose cpu or reference") }
    }

    /// The preset with the options applied.
    func configuration() -> TrainingConfiguration {
        var c = TrainingPresets.preset(preset)!
        if let model { c.model = model }
        if let data { c.data = data }
        if let epochs { c.epochs = epochs }
        if let batch { c.batchSize = batch }
        if let optimizer, let kind = OptimizerSettings.Kind(rawValue: optimizer), kind != c.optimizer.kind {
            c.optimizer = OptimizerSettings(kind: kind)
            if kind == .adam && lr == nil { c.schedule.baseLearningRate = 0.001 }
        }
        if let momentum { c.optimizer.momentum = momentum }
        if let weightDecay { c.optimizer.weightDecay = weightDecay }
        if let lr { c.schedule.baseLearningRate = lr }
        if let schedule, let kind = Schedule.Kind(rawValue: schedule) { c.schedule.kind = kind }
        if let stepEpochs { c.schedule.stepEpochs = stepEpochs }
        if let patience { c.schedule.patience = patience }
        if let warmup { c.schedule.warmupSteps = warmup }
        if let seed { c.seed = seed }
        if let checkpointEvery { c.checkpointEvery = checkpointEvery }
        c.trainLimit = limit
        c.validationLimit = valLimit
        return c
    }

    /// Turns on PCA lighting from a statistics file (given, or beside the data for `paper`).
    func addLighting(to c: inout TrainingConfiguration) throws {
        let besideData = "\(c.data)/alexnet-stats.json"
        guard let path = stats ?? (preset == "paper" && access(besideData, F_OK) == 0 ? besideData : nil) else {
            if preset == "paper" { print("note: PCA lighting is off; run `alexnet data stats --data \(c.data)` to turn it on") }
            return
        }
        let statistics = try JSONDecoder().decode(DatasetStatistics.self, from: Data(try readText(path).utf8))
        guard let values = statistics.eigenvalues, let vectors = statistics.eigenvectors, c.preprocessing.channels == 3 else {
            throw CLIError("\(path): PCA lighting needs RGB statistics with eigenvectors")
        }
        c.preprocessing.eigenvalues = values.map(Float.init)
        c.preprocessing.eigenvectors = vectors.map(Float.init)
        c.preprocessing.lightingSigma = 0.1
    }

    func run() throws {
        let directory = out ?? "runs/\(preset)"
        try makeDirectory(directory)
        let lastPath = "\(directory)/last.safetensors"
        var runState: RunState
        var network: Network
        var checkpoint: Checkpoint.Loaded?
        let splits: Datasets.Splits
        if resume {
            guard access(lastPath, F_OK) == 0 else { throw CLIError("--resume: there is no \(lastPath) to resume from") }
            let loaded = try Checkpoint.read(lastPath)
            checkpoint = loaded
            runState = loaded.run
            network = loaded.network
            if let epochs { runState.configuration.epochs = epochs }
            guard runState.epoch < runState.configuration.epochs else {
                print("\(lastPath) has finished all \(runState.configuration.epochs) epochs; pass --epochs to train longer.")
                return
            }
            splits = try Datasets.open(runState.configuration.data)
        } else {
            var configuration = configuration()
            try addLighting(to: &configuration)
            network = try Zoo.network(configuration.model, readFile: readText)
            splits = try Datasets.open(configuration.data)
            let classNames = splits.training.classNames
            if network.classCount != classNames.count { network = try network.withClassCount(classNames.count) }
            runState = RunState(configuration: configuration, classNames: classNames)
        }
        let configuration = runState.configuration
        let training: any ImageSource = configuration.trainLimit.map { PrefixSource(splits.training, count: $0) } ?? splits.training
        let validation: (any ImageSource)? = splits.test.map { test in
            configuration.validationLimit.map { PrefixSource(test, count: $0) } ?? test
        }
        let resolved = try network.resolved()
        let plan: any Plan = backend == "cpu"
            ? try CPUBackend(threads: threads).makePlan(for: resolved, batchSize: configuration.batchSize, seed: configuration.seed)
            : try ReferenceBackend().makePlan(for: resolved, batchSize: configuration.batchSize, seed: configuration.seed)
        let trainLoader = try DataLoader(source: training, preprocessing: configuration.preprocessing, shape: network.inputShape,
                                         batchSize: configuration.batchSize, training: true, seed: configuration.seed, workers: workers,
                                         skipBadImages: skipBadImages)
        let validationLoader = try validation.map {
            try DataLoader(source: $0, preprocessing: configuration.preprocessing, shape: network.inputShape,
                           batchSize: configuration.batchSize, training: false, seed: configuration.seed, workers: workers,
                           skipBadImages: skipBadImages)
        }
        let trainer = Trainer(plan: plan, training: trainLoader, validation: validationLoader, run: runState, outputDirectory: directory)
        if let checkpoint { try Checkpoint.load(checkpoint.tensors, into: plan, optimizer: trainer.currentOptimizer) }
        let display = ProgressDisplay()
        display.batchSize = configuration.batchSize
        trainer.observer = display
        Interrupts.install()
        trainer.shouldStop = { Interrupts.isRequested }

        let examples = "\(training.count) training" + (validation.map { ", \($0.count) validation" } ?? "") + " images"
        print("""
            \(resume ? "Resuming" : "Training") \(network.name) (\(resolved.parameterCount.formatted()) parameters) on \(configuration.data): \(examples)
            recipe \(configuration.preset): \(configuration.epochs) epochs, batch \(configuration.batchSize), \(configuration.optimizer.summary), \
            lr \(configuration.schedule.baseLearningRate) (\(configuration.schedule.kind.rawValue)), seed \(configuration.seed)
            backend \(backend), \(plan is CPUPlan ? "\((plan as! CPUPlan).threads) threads" : "1 thread"); writing to \(directory)/
            """)
        flushStandardOutput()
        let outcome: TrainingOutcome
        do {
            outcome = try trainer.train()
        } catch {
            try reportSkipped([trainLoader, validationLoader].compactMap { $0 }, directory: directory)
            throw error
        }
        try reportSkipped([trainLoader, validationLoader].compactMap { $0 }, directory: directory)
        switch outcome {
        case let .interrupted(step):
            print("Interrupted after step \(step): \(lastPath) holds the run; continue it with --resume.")
            throw ExitCode(130)
        case .completed:
            let final = trainer.run.history.last
            if let top1 = final?.validationTop1, let top5 = final?.validationTop5 {
                print("Test accuracy: \(ProgressDisplay.percent(top1)) top-1, \(ProgressDisplay.percent(top5)) top-5 "
                    + "after \(configuration.epochs) epochs (\(ProgressDisplay.duration(final?.wallSeconds ?? 0)))")
            }
            print("Checkpoints: \(directory)/last.safetensors, \(directory)/best.safetensors; history.csv and curves.png beside them.")
        }
    }
}

/// `mkdir -p`.
func makeDirectory(_ path: String) throws {
    var current = path.hasPrefix("/") ? "" : "."
    for part in path.split(separator: "/") {
        current += "/\(part)"
        if mkdir(current, 0o755) != 0 && errno != EEXIST {
            throw CLIError("cannot create directory '\(current)': \(String(cString: strerror(errno)))")
        }
    }
}

/// Flushes `print`'s buffer (before other threads or stderr write).
func flushStandardOutput() { fflush(nil) }

/// Says how many images the loaders skipped, and lists them in `directory/skipped-images.txt`.
func reportSkipped(_ loaders: [DataLoader], directory: String) throws {
    let lines = loaders.flatMap { loader in loader.skippedImages.map(\.reason) }
    guard !lines.isEmpty else { return }
    let path = "\(directory)/skipped-images.txt"
    try AtomicFile.write(lines.joined(separator: "\n") + "\n", to: path)
    print("Skipped \(lines.count) unreadable image\(lines.count == 1 ? "" : "s") (--skip-bad-images), listed in \(path); the first: \(lines[0])")
}
