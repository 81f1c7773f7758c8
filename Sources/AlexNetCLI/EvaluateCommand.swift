import AlexNet
import ArgumentParser
import FoundationEssentials

/// `alexnet evaluate`: a checkpoint's loss, top-1, top-5, per-class accuracy and confusion
/// matrix on a dataset's test split.
struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Loss, top-1/top-5, per-class accuracy and the confusion matrix of a checkpoint.",
        discussion: """
            Images are preprocessed exactly as the checkpoint's training run did (its centre crop \
            for evaluation). --ten-crop averages the softmax over the four corner crops, the \
            centre crop and their mirrors (the paper's test procedure); it needs a network whose \
            input is smaller than the resized image.
            """)

    @OptionGroup var model: TrainedModelOptions
    @OptionGroup var compute: ComputeOptions
    @Option(help: ArgumentHelp("Dataset (default: the one the checkpoint was trained on); its test split is used.", valueName: "name|dir"))
    var data: String?
    @Flag(name: .customLong("ten-crop"), help: "Average the softmax of ten crops per image.") var tenCrop = false
    @Option(parsing: .unconditional, help: "Examples per batch.") var batch = 100
    @Flag(name: .customLong("skip-bad-images"), help: "Leave out images that cannot be read or decoded (counted) instead of stopping.")
    var skipBadImages = false
    @Option(parsing: .unconditional, help: "Evaluate the first N examples only.") var limit: Int?
    @Flag(help: "Print the results as JSON.") var json = false
    @Option(name: .customLong("confusion-png"), help: ArgumentHelp("Also draw the confusion matrix into this PNG file.", valueName: "file"))
    var confusionPNG: String?

    struct Report: Encodable {
        var checkpoint: String
        var data: String
        var examples: Int
        var tenCrop: Bool
        /// Images left out because they could not be read (--skip-bad-images).
        var skipped: Int
        var loss: Double
        var top1: Double
        var top5: Double
        var classes: [String]
        var perClassAccuracy: [Double]
        /// confusion[truth][predicted]
        var confusion: [[Int]]
    }

    func validate() throws {
        if batch <= 0 { throw ValidationError("--batch must be positive, got \(batch)") }
        if let limit, limit <= 0 { throw ValidationError("--limit must be positive, got \(limit)") }
    }

    func run() throws {
        let loaded = try model.loadForInference(compute, data: data)
        guard let dataName = data ?? loaded.data else { throw CLIError("--weights needs --data (an image folder with val/ or test/)") }
        let splits = try Datasets.open(dataName)
        // A folder without train/val splits (e.g. --data imagenet/val) is evaluated whole.
        let testSplit = splits.test ?? splits.training
        if splits.test == nil { ProgressDisplay().note("\(dataName) has no separate test split: evaluating on all \(testSplit.count) of its images") }
        let source: any ImageSource = limit.map { PrefixSource(testSplit, count: $0) } ?? testSplit
        let classes = loaded.classNames
        guard source.classNames.count == classes.count else {
            throw CLIError("\(dataName) has \(source.classNames.count) classes, the checkpoint \(classes.count)")
        }
        let network = try loaded.network.resolved()
        let preprocessing = loaded.preprocessing.fitted(to: network.inputShape)
        let plan = try loaded.makePlan(on: try compute.make(allowInt8: true), batchSize: tenCrop ? 10 : batch)
        var skipped: [String] = []
        let metrics = try suggestingSkipBadImages(unless: skipBadImages) {
            if tenCrop {
                return try TenCrop.evaluate(plan: plan, source: source, preprocessing: preprocessing, shape: network.inputShape,
                                            classes: classes.count, skipping: skipBadImages ? { skipped.append("\($1)") } : nil)
            }
            let loader = try DataLoader(source: source, preprocessing: preprocessing, shape: network.inputShape,
                                        batchSize: batch, training: false, skipBadImages: skipBadImages)
            defer { skipped = loader.skippedImages.map(\.reason) }
            return try Evaluation.run(plan: plan, loader: loader, classes: classes.count)
        }
        let k = classes.count
        let report = Report(
            checkpoint: model.path, data: dataName, examples: metrics.count, tenCrop: tenCrop,
            skipped: skipped.count, loss: metrics.loss,
            top1: metrics.top1, top5: metrics.top5, classes: classes, perClassAccuracy: metrics.perClassAccuracy,
            confusion: (0..<k).map { Array(metrics.confusion[($0 * k)..<(($0 + 1) * k)]) })
        if let confusionPNG {
            try AtomicFile.write(bytes: ConfusionPlot.png(metrics.confusion, classNames: classes), to: confusionPNG)
        }
        if json {
            print(try AlexNetCLI.json(report))
            return
        }
        print("\(model.path) on \(dataName) (\(metrics.count) test images\(tenCrop ? ", ten crops each" : "")):")
        print(String(format: "loss %.4f   top-1 %.2f%%", metrics.loss, metrics.top1 * 100)
            + (k > 5 ? String(format: "   top-5 %.2f%%", metrics.top5 * 100) : ""))
        for line in skippedImagesReport(skipped, "") { print(line) }
        print("\nper-class accuracy:")
        let width = classes.map(\.count).max() ?? 5
        for (name, accuracy) in zip(classes, metrics.perClassAccuracy) {
            print("  \(name.padding(toLength: width, withPad: " ", startingAt: 0))  \(String(format: "%6.2f%%", accuracy * 100))")
        }
        print("\nconfusion matrix (rows: true class, columns: predicted):")
        let cell = max(5, String(metrics.confusion.max() ?? 0).count + 1)
        let indexWidth = String(k - 1).count
        print(String(repeating: " ", count: width + indexWidth + 3) + (0..<k).map { String($0).leftPadded(to: cell) }.joined())
        for truth in 0..<k {
            let row = (0..<k).map { String(metrics.confusion[truth * k + $0]).leftPadded(to: cell) }.joined()
            print("  \(String(truth).leftPadded(to: indexWidth)) \(classes[truth].padding(toLength: width, withPad: " ", startingAt: 0))\(row)")
        }
    }
}

extension String {
    func leftPadded(to width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
}
