import AlexNet
import ArgumentParser
import FoundationEssentials

/// `alexnet features`: a layer's activations for every image of a dataset split, as an index
/// that `alexnet neighbors` searches, optionally with binary codes.
struct FeaturesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "features",
        abstract: "Compute a layer's activations (default: the last hidden layer) for every image of a dataset split.",
        discussion: """
            The images are preprocessed as for evaluation (centre crop, no augmentation) and \
            run through the network cut after --layer, in evaluation mode, on the chosen \
            backend. A linear or convolutional layer is taken after the batch norm and the \
            activation that follow it (--layer fc7 gives relu7's output). The file is safetensors: `features` [N, D] \
            float32, `labels` [N] int64, and metadata naming the layer, the network, a \
            fingerprint of its weights, the dataset and split, the class names and, for image \
            folders, each image's file.

            --codes B also learns B-bit binary codes (the paper's proposal for retrieval): PCA \
            to B dimensions, then iterative quantization (ITQ, Gong and Lazebnik 2011), which \
            rotates the PCA space so that the signs lose as little as possible. They are stored \
            beside the features; `alexnet neighbors --codes` searches them.

            Examples:
              alexnet features --checkpoint runs/quick/best.safetensors --split train --codes 256 --out train.safetensors
              alexnet features --checkpoint runs/quick/best.safetensors --split test --out test.safetensors
            """)

    @OptionGroup var model: TrainedModelOptions
    @OptionGroup var compute: ComputeOptions
    @Option(help: ArgumentHelp("Dataset (default: the one the checkpoint was trained on).", valueName: "name|dir")) var data: String?
    @Option(help: ArgumentHelp("Which split: train or test.", valueName: "split")) var split = "test"
    @Option(help: ArgumentHelp("The layer whose output to keep (default: the last hidden layer, e.g. fc7).", valueName: "name"))
    var layer: String?
    @Option(parsing: .unconditional, help: "Images per forward pass.") var batch = 100
    @Option(parsing: .unconditional, help: "Only the first N images of the split.") var limit: Int?
    @Option(parsing: .unconditional, help: ArgumentHelp("Also learn binary codes of this many bits (64, 128, 256...).", valueName: "bits"))
    var codes: Int?
    @Option(parsing: .unconditional, help: "Iterations of ITQ for --codes (0: plain PCA signs).") var itqIterations = 50
    @Option(help: ArgumentHelp("The safetensors file to write.", valueName: "file")) var out: String
    @Flag(name: .customLong("skip-bad-images"), help: "Leave out images that cannot be read or decoded (listed) instead of stopping.")
    var skipBadImages = false

    func validate() throws {
        guard ["train", "test"].contains(split) else { throw ValidationError("--split must be train or test, got \(split)") }
        if batch <= 0 { throw ValidationError("--batch must be positive, got \(batch)") }
        if let limit, limit <= 0 { throw ValidationError("--limit must be positive, got \(limit)") }
        if let codes, codes <= 0 || codes % 64 != 0 { throw ValidationError("--codes must be a positive multiple of 64 (64, 128, 256), got \(codes)") }
        if itqIterations < 0 { throw ValidationError("--itq-iterations must be 0 or more, got \(itqIterations)") }
    }

    func run() throws {
        let trained = try model.load()
        guard let dataName = data ?? trained.data else { throw CLIError("--weights needs --data (a dataset name or an image folder)") }
        let splits = try Datasets.open(dataName)
        guard let whole = splits.named(split) else {
            throw CLIError("\(dataName) has no \(split) split")
        }
        guard whole.classNames.count == trained.classNames.count else {
            throw CLIError("\(dataName) has \(whole.classNames.count) classes, the model \(trained.classNames.count)")
        }
        let source: any ImageSource = limit.map { PrefixSource(whole, count: min($0, whole.count)) } ?? whole
        let extractor = try FeatureExtractor(model: trained, layer: layer, backend: try compute.make(), batchSize: batch)
        let progress = ProgressDisplay()
        progress.note("\(extractor.layer) of \(trained.network.name): \(extractor.dimension) values for each of \(source.count) \(split) images of \(dataName)")
        let start = ProgressDisplay.seconds()
        var skipped: [String] = []
        let (features, labels, examples) = try suggestingSkipBadImages(unless: skipBadImages) {
            try extractor.features(of: source, skipping: skipBadImages ? { skipped.append("example \($0): \($1)") } : nil) { done, total in
                progress.simpleProgress("features", done: done, total: total)
            }
        }
        progress.finishLine()
        let elapsed = ProgressDisplay.seconds() - start
        let count = labels.count
        progress.note(String(format: "%d images in %.1f s (%.0f img/s)", count, elapsed, Double(count) / max(elapsed, 1e-9)))
        for line in skippedImagesReport(skipped, ", left out of the index") { progress.note(line) }
        guard count > 0 else { throw CLIError("no image of \(dataName)'s \(split) split could be read: nothing to index") }
        var learnt: BinaryCodes?
        if let codes {
            let codeStart = ProgressDisplay.seconds()
            learnt = try BinaryCodes.learn(features: features, count: count, dimension: extractor.dimension, bits: codes,
                                           iterations: itqIterations)
            progress.note("learnt \(codes)-bit codes (\(learnt!.method)) in " + String(format: "%.1f s", ProgressDisplay.seconds() - codeStart))
        }
        let files = (whole as? any ImageFiles).map { files in examples.map { files.files[$0] } }
        let index = FeatureIndex(features: features, labels: labels, dimension: extractor.dimension, layer: extractor.layer,
                                 network: trained.network.name, fingerprint: extractor.fingerprint, data: dataName, split: split,
                                 classNames: trained.classNames, paths: files, codes: learnt)
        try index.write(to: out)
        print("wrote \(out): \(count) x \(extractor.dimension) features of \(extractor.layer)"
            + (learnt.map { ", \($0.bits)-bit codes" } ?? ""))
    }
}
