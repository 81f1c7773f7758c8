import AlexNet
import ArgumentParser
import FoundationEssentials

/// `alexnet export`: a trained network for other tools, as ONNX or as a safetensors weights file.
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a trained network for other tools: ONNX, or safetensors weights.",
        discussion: """
            --format onnx writes the whole network (IR 7, opset 13) with its weights: input \
            `input` [batch, C, H, W], outputs `logits` and `probabilities`; the class names and \
            the preprocessing are in the model's metadata. It runs in ONNX Runtime, TensorRT, \
            OpenVINO, and opens in netron. An int8 model (from `alexnet quantize`) exports in \
            ONNX's QDQ form: QuantizeLinear/DequantizeLinear around each quantized tensor with \
            the calibrated steps, s8 weights per output channel, int32 biases; ONNX Runtime runs \
            it with its integer kernels.

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
        let (network, plan) = try loaded.onHost()
        func values(_ slot: ParameterSlot) -> UnsafeBufferPointer<Float> {
            UnsafeBufferPointer((slot.isTrainable ? plan.parameters : plan.state).view(offset: slot.offset, count: slot.count))
        }
        let preprocessing = try String(decoding: JSONEncoder().encode(loaded.preprocessing), as: UTF8.self)
        let classNames = loaded.classNames.joined(separator: "\n")
        if resolvedFormat == "onnx" {
            var metadata = [
                "network": network.network.name,
                TrainedModel.MetadataKey.classNames: classNames,
                TrainedModel.MetadataKey.preprocessing: preprocessing,
            ]
            var quantization: ONNXExport.Quantization?
            if let int8 = loaded.quantization {
                quantization = try QuantizedModel.onnxQuantization(of: network, ranges: int8.ranges)
                metadata[QuantizedModel.metadataKey] = try String(decoding: JSONEncoder().encode(int8), as: UTF8.self)
            }
            try ONNXExport.write(network, metadata: metadata, quantization: quantization, to: out, tensor: values)
            let form = quantization == nil ? "ONNX" : "ONNX (QDQ int8, \(quantization!.steps.count) quantized tensors)"
            print("wrote \(network.network.name) (\(network.layers.count) layers, \(network.parameterCount.formatted()) parameters) as \(form) to \(out)")
        } else {
            let outputs = network.layout.slots.map { SafeTensors.Output(name: $0.name, shape: $0.spec.shape, data: values($0)) }
            // The network, its classes and its preprocessing ride along, so that `--weights FILE`
            // loads it back alone; PyTorch ignores the metadata.
            try SafeTensors.write(outputs, metadata: [
                "format": "pt",
                TrainedModel.MetadataKey.network: NetworkFile.format(network.network),
                TrainedModel.MetadataKey.classNames: classNames,
                TrainedModel.MetadataKey.preprocessing: preprocessing,
            ], to: out)
            print("wrote \(outputs.count) tensors of \(network.network.name) to \(out)")
        }
    }
}
