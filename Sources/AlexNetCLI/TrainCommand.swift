import AlexNet
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
            7 to 18 minutes on two cores), d2l-fashion (Dive into Deep Learning 8.1), cifar10 \
            (the Keras tutorial), paper (the 2012 recipe; needs --data) and paper-bn (AlexNet-BN \
            with LARS and poly decay for large batches, You et al. 2017; needs --data) and finetune \
            (torchvision's AlexNet fine-tuned from --from weights on --data, PyTorch's transfer-learning \
            tutorial). Any option given \
            overrides the preset. Fashion-MNIST is read from Debian's dataset-fashion-mnist \
            package; its test split is the validation set.

            A new run refuses an --out folder that holds another run's checkpoints: continue \
            that run with --resume, or replace it with --overwrite.

            Ctrl-C finishes the current step, writes <out>/last.safetensors and exits; \
            `--resume` continues from there exactly (same batches, same dropout masks), with \
            the run's own recipe: only --epochs and --checkpoint-every may change it (and where to compute: \
            --backend, --threads, --workers).

            On several processes or machines, launch the same command with mpirun: \
            `mpirun -np 2 alexnet train ...`. --batch stays the batch of one step over all \
            processes; each takes an equal slice (the examples, augmentations and dropout masks \
            one process would give those rows), so the run equals a one-process run up to float \
            rounding, and --resume may continue it with another number of processes.
            """)

    @Option(help: ArgumentHelp("Training recipe: \(TrainingPresets.names.joined(separator: ", ")).", valueName: "name"))
    var preset = "quick"
    @Option(name: .shortAndLong, help: ArgumentHelp("A model preset or network file (default: the preset's).", valueName: "name|file"))
    var model: String?
    @Option(help: ArgumentHelp("Dataset: fashion-mnist, cifar10, CIFAR-10's .tar.gz, or a directory (IDX files, CIFAR-10 batches, an image folder with train/ and val/) (default: the preset's).", valueName: "name|dir"))
    var data: String?
    @Option(parsing: .unconditional, help: "Epochs to train in all.") var epochs: Int?
    @Option(parsing: .unconditional, help: "Examples per step.") var batch: Int?
    @Option(parsing: .unconditional, help: "Base learning rate.") var lr: Float?
    @Option(help: ArgumentHelp("sgd (the paper's update; plain with --momentum 0), adam (Keras defaults), adamw (PyTorch's AdamW: decoupled weight decay, 0.01 unless given) or lars (layer-wise trust ratios for large batches, You et al. 2017; momentum 0.9 and weight decay 5e-4 unless given).", valueName: "sgd|adam|adamw|lars"))
    var optimizer: String?
    @Option(parsing: .unconditional, help: ArgumentHelp("LARS's trust coefficient eta.", valueName: "eta")) var trust: Float?
    @Option(name: .customLong("clip-norm"), parsing: .unconditional, help: ArgumentHelp("Clip the gradients to this L2 norm over all parameters before each update (PyTorch's clip_grad_norm_).", valueName: "norm"))
    var clipNorm: Float?
    @Option(parsing: .unconditional, help: "SGD momentum.") var momentum: Float?
    @Option(name: .customLong("weight-decay"), parsing: .unconditional, help: "Weight decay (sgd, lars; adamw's decoupled decay).") var weightDecay: Float?
    @Option(help: ArgumentHelp("constant, step (x0.1 every --step-epochs), plateau (x0.1 when validation error stops improving, 3 times at most), poly (to zero over the run, power 2), cosine (half a cosine to zero over the run, after any --warmup) or onecycle (PyTorch's OneCycleLR: up from lr/25 to lr over 30% of the steps, then down to lr/250000; no --warmup).", valueName: "constant|step|plateau|poly|cosine|onecycle"))
    var schedule: String?
    @Option(name: .customLong("step-epochs"), parsing: .unconditional, help: "Epochs between steps of the step schedule.") var stepEpochs: Int?
    @Option(name: .customLong("plateau-patience"), parsing: .unconditional, help: "Epochs without improvement before the plateau schedule lowers the rate.") var plateauPatience: Int?
    @Option(parsing: .unconditional, help: ArgumentHelp("Early stopping: end the run after N epochs in a row without a better validation top-1 (best.safetensors keeps the best epoch).", valueName: "n"))
    var patience: Int?
    @Option(parsing: .unconditional, help: "Steps of linear learning-rate warm-up.") var warmup: Int?
    @Option(parsing: .unconditional, help: "Seed of initialization, shuffling, augmentation and dropout.") var seed: UInt64?
    @OptionGroup var compute: ComputeOptions
    @OptionGroup var cluster: DistributedOptions
    @Option(parsing: .unconditional, help: "Loader threads preparing batches.") var workers = 2
    @Flag(name: .customLong("skip-bad-images"), help: "Skip images that cannot be read or decoded (counted, and listed in <out>/skipped-images.txt) instead of stopping.")
    var skipBadImages = false
    @Option(help: "Output directory (default: runs/<preset>).") var out: String?
    @Option(help: ArgumentHelp("Where TensorBoard's events file goes (every step's loss, top-1 and rate, every epoch's metrics and the curves picture): `tensorboard --logdir` on it or a folder above; 'none' for no file (default: --out).", valueName: "dir|none"))
    var tensorboard: String?
    @Flag(help: "Continue the run in --out from its last.safetensors, with its recipe (only --epochs and --checkpoint-every may change).") var resume = false
    @Flag(help: "Start a new run in an --out folder that holds another run, deleting that run's checkpoints and history.") var overwrite = false
    @Option(name: .customLong("checkpoint-every"), parsing: .unconditional, help: "Also write last.safetensors every N steps.") var checkpointEvery: Int?
    @Option(help: ArgumentHelp("Statistics from `alexnet data stats` for the paper's PCA lighting (sigma 0.1); the paper presets look for <data>/alexnet-stats.json.", valueName: "file"))
    var stats: String?
    @Option(help: ArgumentHelp("The network's input shape, channels x height x width, e.g. 1x28x28 (default: the model's).", valueName: "CxHxW"))
    var input: String?
    @Option(parsing: .unconditional, help: ArgumentHelp("With --crop: resize the shorter side of every image to N pixels first (default: the preset's, scaled to the network's input).", valueName: "n"))
    var resize: Int?
    @Option(parsing: .unconditional, help: ArgumentHelp("Crop N x N, N the network's input size (random in training where the preset's crops are, centre otherwise).", valueName: "n"))
    var crop: Int?
    @Option(parsing: .unconditional, help: ArgumentHelp("Random crops in training, reaching up to N black pixels past each edge (torchvision's RandomCrop(padding=N)); validation keeps the centre.", valueName: "n"))
    var pad: Int?
    @Flag(inversion: .prefixedNo, help: "Mirror training images left-right at random (default: the preset's).")
    var flip: Bool?
    @Option(name: .customLong("label-smoothing"), parsing: .unconditional, help: ArgumentHelp("Train towards 1 - eps on the label and eps / classes on every class (PyTorch's CrossEntropyLoss(label_smoothing=)); validation loss stays plain.", valueName: "eps"))
    var labelSmoothing: Float?
    @Option(help: ArgumentHelp("Start from a recipe file written by --print-config instead of --preset; options still override it.", valueName: "file"))
    var config: String?
    @Flag(name: .customLong("print-config"), help: "Print the resolved recipe (preset, file and options together) as a recipe file for --config, and exit.")
    var printConfig = false
    @Option(help: ArgumentHelp("Fine-tune: start from these weights (torchvision's AlexNet state dict as safetensors, a checkpoint, or an export). Tensors that fit are loaded; the others (the last classifier when the classes differ) start fresh as the new head. The normalisation becomes the weights' (ImageNet's for torchvision's).", valueName: "file.safetensors"))
    var from: String?
    @Option(parsing: .unconditional, help: ArgumentHelp("The number of classes to train (a check: it must be the dataset's).", valueName: "n"))
    var classes: Int?
    @Option(help: ArgumentHelp("With --from: layers that do not train (shell pattern over layer names, e.g. 'features.*'; repeatable). They get no update and no weight gradients; a frozen batch norm normalises with its running statistics and keeps them, as in Keras.", valueName: "pattern"))
    var freeze: [String] = []
    @Option(name: .customLong("freeze-until"), help: ArgumentHelp("With --from: freeze every layer up to and including this one (e.g. features.10 or conv5).", valueName: "layer"))
    var freezeUntil: String?
    @Option(help: ArgumentHelp("With --from: start these layers fresh even though the weights fit them (pattern; repeatable).", valueName: "pattern"))
    var reinit: [String] = []
    @Option(name: .customLong("head-lr"), parsing: .unconditional, help: ArgumentHelp("With --from: the learning rate of the new layers (commonly 10x --lr); the schedule scales it with --lr.", valueName: "rate"))
    var headLr: Float?
    @Option(parsing: .unconditional, help: "Train on the first N training examples only.") var limit: Int?
    @Option(name: .customLong("val-limit"), parsing: .unconditional, help: "Validate on the first N validation examples only.") var valLimit: Int?

    func validate() throws {
        guard TrainingPresets.preset(preset) != nil else {
            throw ValidationError("unknown preset '\(preset)'; choose one of \(TrainingPresets.names.joined(separator: ", "))")
        }
        for (name, value) in [("--epochs", epochs), ("--batch", batch), ("--limit", limit), ("--val-limit", valLimit),
                              ("--workers", workers), ("--step-epochs", stepEpochs), ("--plateau-patience", plateauPatience),
                              ("--patience", patience)] {
            if let value, value <= 0 { throw ValidationError("\(name) must be positive, got \(value)") }
        }
        if let lr, !(lr > 0) { throw ValidationError("--lr must be positive, got \(lr)") }
        for (name, value) in [("--momentum", momentum), ("--weight-decay", weightDecay)] {
            if let value, !(value >= 0) { throw ValidationError("\(name) must not be negative, got \(value)") }
        }
        for (name, value) in [("--resize", resize), ("--crop", crop)] {
            if let value, !(1...65536).contains(value) { throw ValidationError("\(name) must be between 1 and 65536, got \(value)") }
        }
        if let pad, !(0...4096).contains(pad) { throw ValidationError("--pad must be between 0 and 4096, got \(pad)") }
        if let labelSmoothing, !(0..<1).contains(labelSmoothing) {
            throw ValidationError("--label-smoothing must be at least 0 and below 1, got \(labelSmoothing)")
        }
        if workers > 256 { throw ValidationError("--workers must be at most 256, got \(workers)") }
        if resize != nil && crop == nil {
            throw ValidationError("--resize goes with --crop (the network's input size): without a crop, images are resized to the network's input")
        }
        if let input, Shape(parsing: input)?.image == nil {
            throw ValidationError("--input '\(input)' is not a shape like 1x28x28 (channels x height x width)")
        }
        if let optimizer, Optimizer.Kind(rawValue: optimizer) == nil {
            throw ValidationError("unknown optimizer '\(optimizer)'; choose sgd, adam, adamw or lars")
        }
        if let schedule, Schedule.Kind(rawValue: schedule) == nil {
            throw ValidationError("unknown schedule '\(schedule)'; choose constant, step, plateau, poly, cosine or onecycle")
        }
        if let trust, !(trust > 0) { throw ValidationError("--trust must be positive, got \(trust)") }
        if let clipNorm, !(clipNorm > 0) { throw ValidationError("--clip-norm must be positive, got \(clipNorm)") }
        if let checkpointEvery, checkpointEvery < 0 { throw ValidationError("--checkpoint-every must not be negative, got \(checkpointEvery)") }
        if let warmup, warmup < 0 { throw ValidationError("--warmup must not be negative, got \(warmup)") }
        if from == nil, !freeze.isEmpty || freezeUntil != nil || !reinit.isEmpty || headLr != nil {
            throw ValidationError("--freeze, --freeze-until, --reinit and --head-lr fine-tune weights given with --from")
        }
        if let headLr, !(headLr > 0) { throw ValidationError("--head-lr must be positive, got \(headLr)") }
        if let classes, classes <= 0 { throw ValidationError("--classes must be positive, got \(classes)") }
        if resume && overwrite { throw ValidationError("--resume continues the run in --out, --overwrite replaces it: give one") }
    }

    /// The preset (or --config's recipe) with the options applied.
    func configuration() throws -> TrainingConfiguration {
        var c = TrainingPresets.preset(preset)!
        if let config {
            do {
                c = try JSONDecoder().decode(TrainingConfiguration.self, from: Data(try readText(config).utf8))
            } catch let error as DecodingError {
                throw CLIError("\(config) is not a recipe file (write one with --print-config): \(error)")
            }
        }
        if let model { c.model = model }
        if let data { c.data = data }
        if let epochs { c.epochs = epochs }
        if let batch { c.batchSize = batch }
        if let optimizer, let kind = Optimizer.Kind(rawValue: optimizer), kind != c.optimizer.kind {
            c.optimizer = kind == .lars ? .lars() : kind == .adamw ? .adamw() : Optimizer(kind: kind)
            if (kind == .adam || kind == .adamw) && lr == nil { c.schedule.baseLearningRate = 0.001 }
        }
        if let trust {
            guard c.optimizer.kind == .lars else { throw CLIError("--trust is LARS's trust coefficient: give --optimizer lars") }
            c.optimizer.trustCoefficient = trust
        }
        if let clipNorm { c.optimizer.clipNorm = clipNorm }
        if let momentum { c.optimizer.momentum = momentum }
        if let weightDecay { c.optimizer.weightDecay = weightDecay }
        if let lr { c.schedule.baseLearningRate = lr }
        if let schedule, let kind = Schedule.Kind(rawValue: schedule) { c.schedule.kind = kind }
        if let stepEpochs { c.schedule.stepEpochs = stepEpochs }
        if let plateauPatience { c.schedule.patience = plateauPatience }
        if let patience { c.earlyStoppingPatience = patience }
        if let warmup { c.schedule.warmupSteps = warmup }
        if let seed { c.seed = seed }
        if c.schedule.kind == .onecycle && c.schedule.warmupSteps > 0 {
            throw CLIError("the onecycle schedule warms up by itself (from lr/25 over 30% of the run): drop --warmup")
        }
        if let checkpointEvery { c.checkpointEvery = checkpointEvery }
        if let input { c.inputShape = Shape(parsing: input) }
        if let resize { c.preprocessing.resize = resize }
        if let crop { c.preprocessing.crop = crop }
        if let pad {
            // --pad 0 removes the padding; without a crop smaller than the image, the random
            // crops go with it (there is nothing left to choose).
            c.preprocessing.pad = pad > 0 ? pad : nil
            c.preprocessing.randomCrop = pad > 0 || (c.preprocessing.randomCrop && c.preprocessing.crop != nil)
        }
        if let flip { c.preprocessing.flip = flip }
        if let labelSmoothing { c.labelSmoothing = labelSmoothing }
        if let limit { c.trainLimit = limit }
        if let valLimit { c.validationLimit = valLimit }
        if let from {
            var fineTuning = FineTuning(weights: from)
            fineTuning.freeze = freeze
            fineTuning.freezeUntil = freezeUntil
            fineTuning.reinitialize = reinit
            fineTuning.headLearningRate = headLr
            c.fineTuning = fineTuning
        }
        if c.optimizer.kind == .adam, momentum != nil || weightDecay != nil {
            throw CLIError("--momentum and --weight-decay belong to sgd; adam keeps Keras's defaults (adamw takes --weight-decay)")
        }
        if c.optimizer.kind == .adamw, momentum != nil {
            throw CLIError("--momentum belongs to sgd and lars; adamw has its betas (PyTorch's defaults)")
        }
        return c
    }

    /// Turns on PCA lighting from a statistics file (given, or beside the data for `paper`).
    func addLighting(to c: inout TrainingConfiguration, speaks: Bool = true) throws {
        let besideData = "\(c.data)/alexnet-stats.json"
        guard let path = stats ?? (preset.hasPrefix("paper") && access(besideData, F_OK) == 0 ? besideData : nil) else {
            if preset.hasPrefix("paper"), !c.data.isEmpty, !printConfig, speaks {
                printError("note: PCA lighting is off; run `alexnet data stats --data \(c.data)` to turn it on")
            }
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

    /// Recipe options given with --resume that differ from the run's: each names both values.
    func contradictions(of run: RunState, networkInput: Shape) -> [String] {
        let c = run.configuration
        var found: [String] = []
        func compare<T: Equatable>(_ option: String, _ given: T?, _ stored: T) {
            if let given, given != stored { found.append("\(option) \(given) (the run's is \(stored))") }
        }
        compare("--preset", preset == "quick" ? nil : preset, c.preset)
        compare("--model", model, c.model)
        compare("--data", data, c.data)
        compare("--batch", batch, c.batchSize)
        compare("--lr", lr, c.schedule.baseLearningRate)
        compare("--optimizer", optimizer, c.optimizer.kind.rawValue)
        compare("--momentum", momentum, c.optimizer.momentum)
        compare("--weight-decay", weightDecay, c.optimizer.weightDecay)
        compare("--trust", trust, c.optimizer.trustCoefficient ?? 0.001)
        compare("--schedule", schedule, c.schedule.kind.rawValue)
        compare("--step-epochs", stepEpochs, c.schedule.stepEpochs)
        compare("--plateau-patience", plateauPatience, c.schedule.patience)
        compare("--patience", patience, c.earlyStoppingPatience ?? 0)
        compare("--warmup", warmup, c.schedule.warmupSteps)
        compare("--seed", seed, c.seed)
        compare("--limit", limit, c.trainLimit ?? 0)
        compare("--val-limit", valLimit, c.validationLimit ?? 0)
        compare("--input", input.flatMap(Shape.init(parsing:))?.description, networkInput.description)
        compare("--resize", resize.map(String.init), c.preprocessing.resize.map(String.init) ?? "none")
        compare("--crop", crop.map(String.init), c.preprocessing.crop.map(String.init) ?? "none")
        compare("--pad", pad, c.preprocessing.pad ?? 0)
        compare("--flip", flip, c.preprocessing.flip)
        compare("--label-smoothing", labelSmoothing, c.labelSmoothing ?? 0)
        compare("--from", from, c.fineTuning?.weights ?? "none")
        compare("--freeze", freeze.isEmpty ? nil : freeze, c.fineTuning?.freeze ?? [])
        compare("--freeze-until", freezeUntil, c.fineTuning?.freezeUntil ?? "none")
        compare("--reinit", reinit.isEmpty ? nil : reinit, c.fineTuning?.reinitialize ?? [])
        compare("--head-lr", headLr, c.fineTuning?.headLearningRate ?? 0)
        if stats != nil { found.append("--stats (the run's lighting is part of its recipe)") }
        if config != nil { found.append("--config (the run's recipe is its checkpoint's)") }
        return found
    }

    func run() throws {
        if printConfig && resume { throw CLIError("--print-config shows a new run's recipe; a resumed run keeps its checkpoint's") }
        if printConfig { return try train(group: nil) }
        try cluster.withProcessGroup { try train(group: $0) }
    }

    /// The run, in this process's place in `group` (nil: alone). Only rank 0 speaks.
    private func train(group: (any GradientReducer)?) throws {
        let directory = out ?? "runs/\(preset)"
        let speaks = (group?.rank ?? 0) == 0
        func print(_ text: String) { if speaks { Swift.print(text) } }
        var setup = TrainingSetup()
        if let group { setup.reducer = group }
        setup.backend = compute.backend
        setup.backendOptions = compute.options()
        setup.workers = workers
        setup.skipBadImages = skipBadImages
        setup.outputDirectory = directory
        setup.overwrite = overwrite
        setup.tensorBoardDirectory = tensorboard == "none" ? nil : tensorboard ?? directory
        setup.exactCrop = crop != nil
        let session: TrainingSession
        if resume {
            let lastPath = "\(directory)/last.safetensors"
            guard access(lastPath, F_OK) == 0 else { throw CLIError("--resume: there is no \(lastPath) to resume from") }
            let loaded = try Checkpoint.read(lastPath)
            let run = loaded.run
            let conflicts = contradictions(of: run, networkInput: loaded.network.inputShape)
            guard conflicts.isEmpty else {
                throw CLIError("--resume continues \(lastPath) with its own recipe; these options contradict it: "
                    + conflicts.joined(separator: ", ") + ". Only --epochs and --checkpoint-every may change; start a new run with another --out to change the rest.")
            }
            if let epochs, epochs != run.configuration.epochs {
                print("note: the run had \(run.configuration.epochs) epoch\(run.configuration.epochs == 1 ? "" : "s"); training to \(epochs) (--epochs)")
            }
            guard run.epoch < (epochs ?? run.configuration.epochs) else {
                print("\(lastPath) has trained \(run.epoch) epoch\(run.epoch == 1 ? "" : "s"); pass --epochs with more to train longer.")
                return
            }
            session = try TrainingSession.resume(setup: setup, epochs: epochs, checkpointEvery: checkpointEvery)
        } else {
            var configuration = try configuration()
            try addLighting(to: &configuration, speaks: speaks)
            if printConfig {
                print(try json(configuration))
                return
            }
            session = try TrainingSession(configuration: configuration, setup: setup)
            if let classes, classes != session.run.classNames.count {
                throw CLIError("--classes \(classes), but \(configuration.data) has \(session.run.classNames.count) classes")
            }
            if let start = session.weightsStart { print(describe(start, fineTuning: session.run.configuration, network: session.network)) }
        }
        let configuration = session.run.configuration
        let trainer = session.trainer
        let display = ProgressDisplay()
        display.batchSize = configuration.batchSize
        display.classCount = session.run.classNames.count
        if speaks { trainer.observer = display }
        Interrupts.install()
        trainer.shouldStop = { Interrupts.isRequested }

        let examples = "\(session.trainingExamples) training" + (session.validationExamples.map { ", \($0) validation" } ?? "") + " images"
        print("""
            \(resume ? "Resuming" : "Training") \(session.network.network.name) (\(session.network.parameterCount.formatted()) parameters) on \(configuration.data): \(examples)
            recipe \(configuration.preset): \(configuration.epochs) epoch\(configuration.epochs == 1 ? "" : "s"), batch \(configuration.batchSize), \(configuration.optimizer.summary), \
            lr \(configuration.schedule.baseLearningRate) (\(configuration.schedule.kind.rawValue)\(configuration.schedule.warmupSteps > 0 ? ", warm-up \(configuration.schedule.warmupSteps) steps" : "")), \
            \(configuration.labelSmoothing.map { $0 > 0 ? "label smoothing \($0), " : "" } ?? "")\
            \(configuration.preprocessing.augmentationSummary.map { "augmented by \($0), " } ?? "")seed \(configuration.seed)
            backend \(session.backend)\(processes(group, batch: configuration.batchSize)); writing to \(directory)/
            """)
        flushStandardOutput()
        let outcome: TrainingOutcome
        do {
            outcome = try suggestingSkipBadImages(unless: skipBadImages) { try session.train() }
        } catch {
            if speaks { display.clearBar() }
            try reportSkipped(session.skippedImages, directory: directory, writes: speaks)
            TrainingSession.removeIfEmpty(session.createdDirectories)
            throw error
        }
        try reportSkipped(session.skippedImages, directory: directory, writes: speaks)
        switch outcome {
        case let .interrupted(step):
            if speaks { display.clearBar() }
            print("Interrupted after step \(step): \(directory)/last.safetensors holds the run; continue it with --resume.")
            throw ExitCode(130)
        case let .stoppedEarly(epoch):
            let run = trainer.run
            let best = run.history.count - 1 - (run.epochsSinceBest ?? 0)
            print("Stopped early after epoch \(epoch): validation top-1 has not improved for \(run.configuration.earlyStoppingPatience ?? 0) "
                + "epoch\(run.configuration.earlyStoppingPatience == 1 ? "" : "s") (--patience).")
            if let top1 = run.bestTop1 {
                print("Test accuracy: \(ProgressDisplay.percent(top1)) top-1 at epoch \(best + 1), the best; \(directory)/best.safetensors holds it.")
            }
        case .completed:
            let final = trainer.run.history.last
            if let top1 = final?.validationTop1, let top5 = final?.validationTop5 {
                let top5Text = session.run.classNames.count > 5 ? ", \(ProgressDisplay.percent(top5)) top-5" : ""
                print("Test accuracy: \(ProgressDisplay.percent(top1)) top-1\(top5Text) "
                    + "after \(configuration.epochs) epoch\(configuration.epochs == 1 ? "" : "s") (\(ProgressDisplay.duration(final?.wallSeconds ?? 0)))")
            }
            print("Checkpoints: \(directory)/last.safetensors, \(directory)/best.safetensors; history.csv and curves.png beside them.")
        }
    }
}

/// What a fine-tuning run took from its weights, tensor by tensor, and what trains.
func describe(_ start: TrainingSession.WeightsStart, fineTuning c: TrainingConfiguration, network: ResolvedNetwork) -> String {
    let source = c.fineTuning?.weights ?? "the weights"
    var lines = ["Starting from \(source): \(start.match.loadedCount) of \(start.match.tensors.count) tensors loaded"]
    lines += start.match.report.map { "  " + $0 }
    if !start.frozenLayers.isEmpty {
        let batchNorms = network.layers.filter { $0.layer is BatchNorm && start.frozenLayers.contains($0.name) }
        let statistics = batchNorms.isEmpty ? "" : "; frozen batch norms normalise with their running statistics and keep them"
        lines.append("frozen (no update, no weight gradient\(statistics)): \(start.frozenLayers.joined(separator: ", "))")
    }
    if !start.match.newLayers.isEmpty {
        let rate = c.fineTuning?.headLearningRate.map { "learning rate \($0)" } ?? "the base learning rate"
        lines.append("new head: \(start.match.newLayers.joined(separator: ", ")) (\(rate))")
    } else {
        lines.append("note: every tensor fits, the last classifier too: it starts as the weights' classifier. If these classes "
            + "are not the weights' classes, start it fresh with --reinit LAYER (e.g. the last linear layer).")
    }
    if start.normalizationFromWeights {
        lines.append("normalisation from the weights: mean \(c.preprocessing.mean), std \(c.preprocessing.std)")
    }
    return lines.joined(separator: "\n")
}

/// Flushes `print`'s buffer (before other threads or stderr write).
func flushStandardOutput() { fflush(nil) }

/// ", 2 processes x 64 images" for a data-parallel run, "" alone.
func processes(_ group: (any GradientReducer)?, batch: Int) -> String {
    guard let group, group.worldSize > 1 else { return "" }
    return " per process, \(group.worldSize) processes (MPI) x \(batch / group.worldSize) images a step"
}

/// Says how many images the loaders skipped, and lists them in `directory/skipped-images.txt`
/// (when this process `writes`).
func reportSkipped(_ lines: [String], directory: String, writes: Bool = true) throws {
    guard !lines.isEmpty, writes else { return }
    let path = "\(directory)/skipped-images.txt"
    try AtomicFile.write(lines.joined(separator: "\n") + "\n", to: path)
    print("Skipped \(lines.count) unreadable image\(lines.count == 1 ? "" : "s") (--skip-bad-images), listed in \(path); the first: \(lines[0])")
}
