import AlexNet
import ArgumentParser
import FoundationEssentials

#if canImport(Glibc)
import Glibc
#endif

/// `alexnet experiment`: one of the paper's design choices, measured with paired runs.
struct ExperimentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "experiment",
        abstract: "Measure one of the paper's design choices with paired training runs (--list names them).",
        discussion: """
            Each experiment trains arms that differ only in one choice (ReLU or tanh, LRN or \
            none, ...) with the same seeds, data order and recipe, and prints each arm's measure \
            (mean ± sample standard deviation over --seeds) beside the paper's claim. The \
            network is mini-alexnet (AlexNet's layers at 28x28, `alexnet experiment --list` \
            describes it) on Fashion-MNIST unless --data says otherwise; ten-crop trains one arm \
            and tests it twice, fashion-recipe takes the fashion preset apart (its network and \
            recipe, --epochs to shorten it). <out>/report.md, \
            results.json (every number) and curves.png go to --out, every run's checkpoints and \
            TensorBoard events to <out>/<arm>/seed-<k>/. Ctrl-C stops after a step; the same \
            command continues with the runs it has not finished.

            Examples:
              alexnet experiment relu-vs-tanh
              alexnet experiment dropout --seeds 5 --epochs 10 --out runs/dropout
              alexnet experiment fashion-recipe --epochs 4 --seeds 1
            """)

    @Argument(help: ArgumentHelp("The experiment: \(Experiment.names.joined(separator: ", ")).", valueName: "name"))
    var name: String?
    @Flag(help: "List the experiments with the paper's claims, and exit.") var list = false
    @Option(help: ArgumentHelp("Dataset (default: fashion-mnist).", valueName: "name|dir")) var data = "fashion-mnist"
    @Option(parsing: .unconditional, help: "Seeds (runs per arm).") var seeds = 3
    @Option(parsing: .unconditional, help: "Epochs per run (default: 2 for relu-vs-tanh and depth, 5 for dropout and ten-crop, the preset's for fashion-recipe, 3 otherwise).") var epochs: Int?
    @Option(parsing: .unconditional, help: "Examples per step (default: 128).") var batch: Int?
    @Option(parsing: .unconditional, help: "Base learning rate (default: 0.01 with SGD, momentum 0.9, weight decay 5e-4; the preset's for fashion-recipe).") var lr: Float?
    @Option(parsing: .unconditional, help: "Train on the first N training examples only.") var limit: Int?
    @Option(name: .customLong("val-limit"), parsing: .unconditional, help: "Validate on the first N validation examples only.") var valLimit: Int?
    @Option(help: "Output directory (default: runs/experiments/<name>).") var out: String?
    @OptionGroup var compute: ComputeOptions
    @Option(parsing: .unconditional, help: "Loader threads preparing batches.") var workers = 2

    func validate() throws {
        if list { return }
        guard let name else { throw ValidationError("name an experiment: \(Experiment.names.joined(separator: ", ")) (or --list)") }
        guard Experiment.names.contains(name) else {
            throw ValidationError("unknown experiment '\(name)'; choose one of \(Experiment.names.joined(separator: ", "))")
        }
        for (option, value) in [("--seeds", seeds), ("--batch", batch ?? 1), ("--workers", workers), ("--epochs", epochs ?? 1),
                                ("--limit", limit ?? 1), ("--val-limit", valLimit ?? 1)] where value <= 0 {
            throw ValidationError("\(option) must be positive, got \(value)")
        }
        if let lr, !(lr > 0) { throw ValidationError("--lr must be positive, got \(lr)") }
    }

    func run() throws {
        if list {
            print("mini-alexnet: \(Experiment.miniAlexNet().description)\n")
            for name in Experiment.names {
                let experiment = Experiment.named(name)!
                print("\(name): \(experiment.title). Arms: \(experiment.arms.map(\.name).joined(separator: ", ")).\n  \(experiment.claim)")
            }
            return
        }
        let splits = try Datasets.open(data)
        let channels = (try? splits.training.image(at: 0))?.channels == 3 ? 3 : 1
        let classes = splits.training.classNames.count
        guard let experiment = Experiment.named(name!, base: Experiment.miniAlexNet(channels: channels, classes: classes)) else { return }
        if experiment.requiresRGB && channels != 3 {
            throw CLIError("\(name!) alters RGB intensities along the principal components of the training images' colours: "
                + "\(data) is not RGB (give --data with colour images, e.g. cifar10)")
        }
        var recipe = TrainingConfiguration(
            preset: "experiment", model: "", data: data, epochs: epochs ?? experiment.epochs,
            batchSize: batch ?? 128, optimizer: .paper, schedule: Schedule(kind: .constant, baseLearningRate: lr ?? 0.01), seed: 0,
            preprocessing: Preprocessing(channels: channels, resize: 28, mean: channels == 1 ? [TrainingPresets.fashionMNISTMean] : nil,
                                         std: channels == 1 ? [TrainingPresets.fashionMNISTStd] : nil))
        if var own = experiment.recipe {
            // An experiment on a preset (fashion-recipe): its recipe, with the options given.
            guard channels == own.preprocessing.channels, classes == 10 else {
                throw CLIError("\(name!) ablates the \(own.preset) preset, made for Fashion-MNIST: \(data) has \(channels == 3 ? "RGB" : "gray") "
                    + "images in \(classes) classes")
            }
            own.data = data
            if let epochs { own.epochs = epochs }
            if let batch { own.batchSize = batch }
            if let lr { own.schedule.baseLearningRate = lr }
            recipe = own
        }
        recipe.trainLimit = limit
        recipe.validationLimit = valLimit
        if experiment.requiresRGB {
            let stats = try DatasetStatistics.compute(splits.training, channels: 3)
            recipe.preprocessing.eigenvalues = stats.eigenvalues?.map(Float.init)
            recipe.preprocessing.eigenvectors = stats.eigenvectors?.map(Float.init)
        }
        let directory = out ?? "runs/experiments/\(name!)"
        let runner = ExperimentRunner(experiment: experiment, recipe: recipe, seeds: (0..<seeds).map { UInt64($0) }, directory: directory)
        runner.setup.backend = compute.backend
        runner.setup.backendOptions = compute.options()
        runner.setup.workers = workers
        let display = ProgressDisplay()
        display.batchSize = recipe.batchSize
        display.classCount = classes
        runner.observer = display
        runner.runStarted = { arm, seed, number, total, resumed in
            display.clearBar()
            print("run \(number)/\(total): \(arm), seed \(seed)\(resumed ? " (resuming)" : "")")
            flushStandardOutput()
        }
        Interrupts.install()
        runner.shouldStop = { Interrupts.isRequested }
        print("\(experiment.title): \(experiment.arms.count) arms x \(seeds) seeds, \(recipe.epochs) epoch\(recipe.epochs == 1 ? "" : "s") each, on \(data); writing to \(directory)/")
        print("\(experiment.claimant): \(experiment.claim)")
        guard let runs = try runner.run() else {
            display.clearBar()
            print("Interrupted: the same command continues with the runs not finished.")
            throw ExitCode(130)
        }
        display.clearBar()
        let command = (["alexnet"] + CommandLine.arguments.dropFirst()).joined(separator: " ")
        let report = ExperimentReport(experiment: experiment, runs: runs, command: command)
        try report.write(to: directory)
        print(report.markdown)
        print("Report: \(directory)/report.md, results.json and curves.png beside it.")
    }
}
