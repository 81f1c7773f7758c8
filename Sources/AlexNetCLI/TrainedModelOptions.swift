import AlexNetBackends
import AlexNetData
import AlexNetInterop
import AlexNetNetwork
import AlexNetTraining
import ArgumentParser
import FoundationEssentials

/// Where `predict`, `evaluate` and `export` get a trained network: a checkpoint of ours, or a
/// plain weights file (e.g. torchvision's AlexNet converted to safetensors) for a preset.
struct TrainedModelOptions: ParsableArguments {
    @Option(help: ArgumentHelp("A checkpoint written by `alexnet train`.", valueName: "file")) var checkpoint: String?
    @Option(help: ArgumentHelp("A safetensors weights file named like --model's layers (torchvision's state-dict names for --model torchvision).", valueName: "file"))
    var weights: String?
    @Option(name: .shortAndLong, help: ArgumentHelp("The network the --weights belong to.", valueName: "name|file"))
    var model = "torchvision"
    @Option(name: .customLong("class-names"), help: ArgumentHelp("With --weights: a text file of class names, one per line.", valueName: "file"))
    var classNames: String?

    func validate() throws {
        guard (checkpoint == nil) != (weights == nil) else { throw ValidationError("give either --checkpoint or --weights") }
    }

    /// ImageNet preprocessing as torchvision's pretrained models expect it: resize 256, centre
    /// crop 224 (the network's input size), per-channel mean and std of ImageNet.
    static func imageNetPreprocessing(crop: Int) -> Preprocessing {
        Preprocessing(channels: 3, resize: crop * 256 / 224, crop: crop, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225])
    }

    /// The network, its preprocessing and class names, and a way to fill a plan's parameters.
    func load() throws -> (network: Network, preprocessing: Preprocessing, classNames: [String], data: String?, fill: (any Plan) throws -> Void) {
        if let checkpoint {
            let loaded = try Checkpoint.read(checkpoint)
            return (loaded.network, loaded.run.configuration.preprocessing, loaded.run.classNames, loaded.run.configuration.data,
                    { try Checkpoint.load(loaded.tensors, into: $0) })
        }
        let file = try SafeTensors(path: weights!)
        var network = try Zoo.network(model, readFile: readText)
        var names: [String]
        if let classNames {
            names = try readText(classNames).split(whereSeparator: \.isNewline).map(String.init).filter { !$0.isEmpty }
            network = try network.withClassCount(names.count)
        } else {
            names = (0..<(network.classCount ?? 0)).map { "class \($0)" }
        }
        guard let input = network.inputShape.image, input.channels == 3 else {
            throw CLIError("--weights needs an RGB network; \(model) takes \(network.inputShape)")
        }
        return (network, Self.imageNetPreprocessing(crop: input.height), names, nil, { try Checkpoint.load(file, into: $0) })
    }
}

/// `alexnet weights inspect FILE`: what a safetensors file holds.
struct WeightsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "weights", abstract: "Inspect safetensors weight files.", subcommands: [Inspect.self])

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a safetensors file's tensors (name, dtype, shape) and metadata keys.")
        @Argument(help: "The file.") var file: String

        func run() throws {
            let tensors = try SafeTensors(path: file)
            let width = tensors.entries.map(\.name.count).max() ?? 4
            var total = 0
            for entry in tensors.entries {
                total += entry.elementCount
                print("\(entry.name.padding(toLength: width, withPad: " ", startingAt: 0))  \(entry.dtype.rawValue.padding(toLength: 4, withPad: " ", startingAt: 0))  \(entry.shape)")
            }
            print("\(tensors.entries.count) tensors, \(total.formatted()) values")
            if !tensors.metadata.isEmpty { print("metadata: \(tensors.metadata.keys.sorted().joined(separator: ", "))") }
        }
    }
}

/// `alexnet export`: a trained network for other tools, as ONNX or as a safetensors weights file.
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a trained network for other tools: ONNX, or safetensors weights.",
        discussion: """
            --format onnx writes the whole network (IR 7, opset 13) with its weights: input \
            `input` [batch, C, H, W], outputs `logits` and `probabilities`; the class names and \
            the preprocessing are in the model's metadata. It runs in ONNX Runtime, TensorRT, \
            OpenVINO, and opens in netron.

            --format safetensors writes the parameters and batch-norm statistics under the \
            network's layer names (torchvision's for --model torchvision), loadable in PyTorch \
            with safetensors.torch.load_file.

            Without --format the extension of --out decides (.onnx or .safetensors).
            """)

    @OptionGroup var model: TrainedModelOptions
    @Option(help: ArgumentHelp("onnx or safetensors (default: from --out's extension).", valueName: "format")) var format: String?
    @Option(help: ArgumentHelp("The file to write.", valueName: "file")) var out: String

    static let formats = ["onnx", "safetensors"]

    var resolvedFormat: String? {
        if let format { return format }
        let ext = out.split(separator: ".").last.map { $0.lowercased() } ?? ""
        return Self.formats.contains(ext) ? ext : nil
    }

    func validate() throws {
        guard let format = resolvedFormat else {
            throw ValidationError("give --format onnx or --format safetensors (--out \(out) has neither extension)")
        }
        guard Self.formats.contains(format) else {
            throw ValidationError("--format \(format) is not supported: use onnx or safetensors")
        }
    }

    func run() throws {
        let loaded = try model.load()
        let network = try loaded.network.resolved()
        let plan = try ReferenceBackend().makePlan(for: network, batchSize: 1, seed: 0)
        try loaded.fill(plan)
        func values(_ slot: ParameterSlot) -> UnsafeBufferPointer<Float> {
            UnsafeBufferPointer((slot.isTrainable ? plan.parameters : plan.state).view(offset: slot.offset, count: slot.count))
        }
        if resolvedFormat == "onnx" {
            let preprocessing = try String(decoding: JSONEncoder().encode(loaded.preprocessing), as: UTF8.self)
            try ONNXExport.write(network, metadata: [
                "network": network.network.name,
                "class_names": loaded.classNames.joined(separator: "\n"),
                "preprocessing": preprocessing,
            ], to: out, tensor: values)
            print("wrote \(network.network.name) (\(network.layers.count) layers, \(network.parameterCount.formatted()) parameters) as ONNX to \(out)")
        } else {
            let outputs = network.layout.slots.map { SafeTensors.Output(name: $0.name, shape: $0.spec.shape, data: values($0)) }
            try SafeTensors.write(outputs, metadata: ["format": "pt"], to: out)
            print("wrote \(outputs.count) tensors of \(network.network.name) to \(out)")
        }
    }
}
