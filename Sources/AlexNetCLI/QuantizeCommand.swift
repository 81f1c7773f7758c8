import AlexNet
import ArgumentParser
import FoundationEssentials

extension CalibrationMethod: ExpressibleByArgument {}

/// `alexnet quantize`: post-training static int8 quantization of a trained network.
struct QuantizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quantize",
        abstract: "Quantize a trained network to int8 for faster CPU inference (post-training, static).",
        discussion: """
            Batch norm is folded into the convolution before it; the weights of every \
            convolution and linear layer become s8, symmetric per output channel; each tensor \
            between them gets a u8 (after a ReLU) or s8 range, calibrated on --calibration \
            training images run through the float network: minmax keeps the largest value seen, \
            percentile the 99.99th percentile, entropy the range whose 8-bit histogram is \
            closest to the float one (TensorRT's method). LRN stays in float between the \
            integers (oneDNN has none in int8), and the logits come out in float.

            The output is a safetensors weights file (a quarter of the float size) with the \
            network, preprocessing, class names and ranges in its metadata; evaluate, predict \
            and serve take it with --weights and run it on the cpu backend's int8 plan.

            Examples:
              alexnet quantize --checkpoint runs/quick/best.safetensors --out quick-int8.safetensors
              alexnet evaluate --weights quick-int8.safetensors
              alexnet quantize --checkpoint best.safetensors --method minmax --calibration 1024 --out q.safetensors
            """)

    @OptionGroup var model: TrainedModelOptions
    @OptionGroup var compute: ComputeOptions
    @Option(help: ArgumentHelp("Dataset whose training images calibrate (default: the one the checkpoint was trained on).", valueName: "name|dir"))
    var data: String?
    @Option(parsing: .unconditional, help: ArgumentHelp("Training images to calibrate on, spread over the split.", valueName: "N"))
    var calibration = 512
    @Option(help: ArgumentHelp("How ranges are chosen: minmax, percentile or entropy.", valueName: "method")) var method = CalibrationMethod.entropy
    @Option(parsing: .unconditional, help: "Images per forward pass during calibration.") var batch = 64
    @Option(help: ArgumentHelp("The quantized safetensors file to write.", valueName: "file")) var out: String

    func validate() throws {
        if calibration <= 0 { throw ValidationError("--calibration must be positive, got \(calibration)") }
        if batch <= 0 { throw ValidationError("--batch must be positive, got \(batch)") }
    }

    func run() throws {
        let trained = try model.load()
        if trained.quantization != nil { throw CLIError("\(model.path) is already quantized (int8); give the float checkpoint or weights") }
        guard let dataName = data ?? trained.data else { throw CLIError("--weights needs --data (the training images to calibrate on)") }
        let splits = try Datasets.open(dataName)
        let progress = ProgressDisplay()
        let (resolved, host) = try trained.onHost()
        let (folded, tensors) = try QuantizedModel.foldingBatchNorm(resolved, tensors: host)
        let foldedCount = resolved.layers.count - folded.layers.count
        progress.note("\(trained.network.name): \(foldedCount > 0 ? "\(foldedCount) batch norm layer\(foldedCount == 1 ? "" : "s") folded, " : "")"
            + "calibrating \(try Int8Plan.quantizedTensors(of: folded).count) ranges (\(method.rawValue)) on \(min(calibration, splits.training.count)) "
            + "training images of \(dataName)")
        let start = ProgressDisplay.seconds()
        let batches = try QuantizedModel.calibrationBatches(
            splits.training, count: calibration, batchSize: min(batch, calibration),
            preprocessing: trained.preprocessing.fitted(to: folded.inputShape), shape: folded.inputShape) { done, total in
            progress.simpleProgress("images", done: done, total: total)
        }
        progress.finishLine()
        let ranges = try Calibration.ranges(of: tensors, batches: batches, method: method, backend: try compute.make()) { done, total in
            progress.simpleProgress("calibration", done: done, total: total)
        }
        progress.finishLine()
        let calibrationInfo = QuantizedModel.Calibration(ranges: ranges, images: min(calibration, splits.training.count), data: dataName)
        try QuantizedModel.write(folded, tensors: tensors, model: trained, calibration: calibrationInfo, to: out)
        let width = ranges.thresholds.keys.map(\.count).max() ?? 5
        print("ranges (\(method.rawValue)):")
        for (name, unsigned) in try Int8Plan.quantizedTensors(of: folded) {
            print("  \(name.padding(toLength: width, withPad: " ", startingAt: 0))  \(unsigned ? "u8" : "s8")  "
                + String(format: "%.4g", ranges.thresholds[name]!))
        }
        let bytes = (try? FileManager.default.attributesOfItem(atPath: out)[.size] as? Int) ?? 0
        print(String(format: "wrote %@ (%.1f MB; float32 weights: %.1f MB) in %.1f s", out, Double(bytes) / 1e6,
                     Double(resolved.layout.trainableCount + resolved.layout.stateCount) * 4 / 1e6, ProgressDisplay.seconds() - start))
    }
}
