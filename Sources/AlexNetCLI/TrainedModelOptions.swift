import AlexNet
import ArgumentParser
import FoundationEssentials

/// Where `predict`, `evaluate` and `export` get a trained network: a checkpoint of ours, or a
/// plain weights file (e.g. torchvision's AlexNet converted to safetensors) for a preset.
struct TrainedModelOptions: ParsableArguments {
    @Option(help: ArgumentHelp("A checkpoint written by `alexnet train`.", valueName: "file")) var checkpoint: String?
    @Option(help: ArgumentHelp("A safetensors weights file: from `alexnet export`, or named like --model's layers (torchvision's state-dict names for --model torchvision).", valueName: "file"))
    var weights: String?
    @Option(name: .shortAndLong, help: ArgumentHelp("With --weights: the network they belong to, a preset or a network file (not needed for files from `alexnet export`).", valueName: "name|file"))
    var model: String?
    @Option(name: .customLong("class-names"), help: ArgumentHelp("With --weights: a text file of class names, one per line (default: the file's own, or ImageNet's for 1,000 classes).", valueName: "file"))
    var classNames: String?

    func validate() throws {
        if checkpoint != nil, weights != nil { throw ValidationError("give either --checkpoint or --weights, not both") }
        if checkpoint != nil, model != nil || classNames != nil {
            throw ValidationError("--model and --class-names go with --weights; a checkpoint carries its own network and classes")
        }
    }

    /// Whether a model was named (`neighbors` needs one only for query images).
    var isGiven: Bool { checkpoint != nil || weights != nil }

    /// The file the model comes from.
    var path: String { checkpoint ?? weights ?? "" }

    /// The trained model the options name.
    func load() throws -> TrainedModel {
        guard isGiven else { throw CLIError("give either --checkpoint or --weights") }
        if let checkpoint { return try TrainedModel(checkpoint: checkpoint) }
        let names = try classNames.map { path in
            try readText(path).split(whereSeparator: \.isNewline).map(String.init).filter { !$0.isEmpty }
        }
        return try TrainedModel(weights: weights!, model: model, classNames: names)
    }
}

extension TrainedModelOptions {
    /// The model for inference. With --precision int8 a float model is quantized now, on 512
    /// training images of `data` (default: the dataset it was trained on); a quantized file is
    /// int8 already.
    func loadForInference(_ compute: ComputeOptions, data: String? = nil) throws -> TrainedModel {
        let trained = try load()
        guard compute.isInt8, trained.quantization == nil else { return trained }
        guard let dataName = data ?? trained.data else {
            throw CLIError("--precision int8 calibrates on training images: give --data, or quantize once with `alexnet quantize`")
        }
        let splits = try Datasets.open(dataName)
        let progress = ProgressDisplay()
        progress.note("--precision int8: calibrating on \(min(512, splits.training.count)) training images of \(dataName) "
            + "(`alexnet quantize` does it once and keeps the file)")
        let model = try trained.quantized(source: splits.training, data: dataName, backend: try compute.make(allowInt8: true)) {
            progress.simpleProgress($0, done: $1, total: $2)
        }
        progress.finishLine()
        return model
    }
}
