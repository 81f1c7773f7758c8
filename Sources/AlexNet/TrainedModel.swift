import AlexNetBackends
import AlexNetCore
import AlexNetData
import AlexNetInterop
import AlexNetNetwork
import AlexNetTraining
import FoundationEssentials

/// A trained network ready to be put on a backend: the network, the preprocessing its images
/// need, its class names, and its tensors. It comes from a checkpoint of `alexnet train`, or
/// from a plain safetensors weights file (ours from `alexnet export`, or torchvision's AlexNet
/// converted to safetensors).
public struct TrainedModel: @unchecked Sendable {
    /// The network description (layers and input shape).
    public var network: Network
    /// The preprocessing the network was trained with (`fitted(to:)` adapts it to any image).
    public var preprocessing: Preprocessing
    /// The names of the network's outputs, in order.
    public var classNames: [String]
    /// The dataset a checkpoint was trained on (nil for weights files).
    public var data: String?
    /// The file it was read from.
    public var source: String
    /// The calibration of a quantized weights file (`alexnet quantize`): its plans are int8.
    public var quantization: QuantizedModel.Metadata?
    private let tensors: SafeTensors

    /// Metadata keys of our weights files (`alexnet export`), so that they load back alone.
    public enum MetadataKey {
        /// The network in the network file format.
        public static let network = "network"
        /// The `Preprocessing` as JSON.
        public static let preprocessing = "preprocessing"
        /// The class names, one per line.
        public static let classNames = "class_names"
    }

    /// ImageNet preprocessing as torchvision's pretrained models expect it: resize 256, centre
    /// crop 224 (the network's input size), per-channel mean and std of ImageNet.
    public static func imageNetPreprocessing(crop: Int) -> Preprocessing { .imageNet(crop: crop) }

    /// A checkpoint written by `alexnet train`.
    public init(checkpoint path: String) throws {
        try Self.refuseForeignFormats(path)
        let loaded = try Checkpoint.read(path)
        network = loaded.network
        preprocessing = loaded.run.configuration.preprocessing
        classNames = loaded.run.classNames
        data = loaded.run.configuration.data
        source = path
        tensors = loaded.tensors
    }

    /// A weights file. The network is `model` (a zoo name or a network file), or the one the
    /// file's metadata describes (files from `alexnet export`). Class names come from
    /// `classNames`, the metadata, or ImageNet's for a 1,000-class network; preprocessing from
    /// the metadata, or torchvision's ImageNet preprocessing for an RGB network.
    public init(weights path: String, model: String? = nil, classNames names: [String]? = nil) throws {
        try Self.refuseForeignFormats(path)
        let file = try SafeTensors(path: path)
        var network: Network
        if let model {
            network = try Zoo.network(model, readFile: { try readTextFile($0) })
        } else if let text = file.metadata[MetadataKey.network] {
            network = try NetworkFile.parse(text, source: "\(path) (network metadata)")
        } else {
            throw FileError(path, "does not say which network it belongs to: give --model (torchvision for torchvision's AlexNet)")
        }
        let stored = file.metadata[MetadataKey.classNames].map { $0.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) }
        // Stored names belong to the file's own network; with another --model they may not fit,
        // and the tensor check below says what does not.
        let classNames: [String]
        if let names {
            classNames = names
            if network.classCount != names.count { network = try network.withClassCount(names.count) }
        } else if let stored, stored.count == network.classCount {
            classNames = stored
        } else if network.classCount == ImageNetClasses.names.count {
            classNames = ImageNetClasses.names
        } else {
            classNames = (0..<(network.classCount ?? 0)).map { "class \($0)" }
        }
        if let json = file.metadata[MetadataKey.preprocessing] {
            do {
                preprocessing = try JSONDecoder().decode(Preprocessing.self, from: Data(json.utf8))
            } catch {
                throw FileError(path, "has unreadable preprocessing metadata: \(error)")
            }
        } else if let input = network.inputShape.image, input.channels == 3 {
            preprocessing = Self.imageNetPreprocessing(crop: input.height)
        } else {
            preprocessing = Preprocessing(channels: network.inputShape.image?.channels == 3 ? 3 : 1)
        }
        if let json = file.metadata[QuantizedModel.metadataKey] {
            do {
                quantization = try JSONDecoder().decode(QuantizedModel.Metadata.self, from: Data(json.utf8))
            } catch {
                throw FileError(path, "has unreadable quantization metadata: \(error)")
            }
        }
        self.network = network
        self.classNames = classNames
        data = quantization?.data
        source = path
        tensors = file
    }

    /// An inference plan holding this model's tensors: an `Int8Plan` for a quantized file (on
    /// the CPU backend only), otherwise `backend`'s.
    public func makePlan(on backend: any Backend, batchSize: Int) throws -> any Plan {
        let resolved = try network.resolved()
        let plan: any Plan
        if let quantization {
            guard let cpu = backend as? CPUBackend else {
                throw FileError(source, "holds int8 weights (alexnet quantize), which run on the cpu backend only, not \(backend.name)")
            }
            plan = try Int8Plan(network: resolved, batchSize: batchSize, ranges: quantization.ranges, threads: cpu.threads)
        } else {
            plan = try backend.makePlan(for: resolved, batchSize: batchSize, mode: .inference, seed: 0)
        }
        try load(into: plan)
        return plan
    }

    /// Copies the tensors into `plan` (made for `network`). Every missing, unexpected or
    /// mis-shaped tensor is listed; a class-count mismatch says how many names were given.
    public func load(into plan: any Plan) throws {
        do {
            try Checkpoint.load(tensors, into: plan)
        } catch let error as FileError where network.classCount.map({ $0 != originalClassCount }) ?? false {
            throw FileError(error.source, "\(error.message)\n(the network was given \(classNames.count) class names; "
                + "the file's last layer has \(originalClassCount ?? 0) outputs)")
        }
    }

    /// The width of the file's last layer, from its tensors.
    private var originalClassCount: Int? {
        guard let last = network.layers.last(where: { $0.layer is Linear }) else { return nil }
        return tensors["\(last.name).weight"]?.shape.first
    }

    /// A clear word for files that are not safetensors at all.
    private static func refuseForeignFormats(_ path: String) throws {
        let lower = path.lowercased()
        if lower.hasSuffix(".onnx") {
            throw FileError(path, "is an ONNX model, not a checkpoint or safetensors weights file; "
                + "ONNX is for other tools (ONNX Runtime, TensorRT), the files this tool reads are .safetensors")
        }
        if lower.hasSuffix(".pth") || lower.hasSuffix(".pt") {
            throw FileError(path, "is a PyTorch pickle; convert it to safetensors first (the README shows the two lines of Python)")
        }
    }

    /// The network with its tensors in host memory (a reference plan for one image), for
    /// what reads the weights themselves: export, the filter picture.
    public func onHost() throws -> (network: ResolvedNetwork, plan: any Plan) {
        let resolved = try network.resolved()
        let plan = try ReferenceBackend().makePlan(for: resolved, batchSize: 1, mode: .inference, seed: 0)
        try load(into: plan)
        plan.copyToHost()
        return (resolved, plan)
    }
}
