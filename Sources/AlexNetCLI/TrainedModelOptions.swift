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
