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
            closest to the float one (TensorRT's method). percentile is the default: on the \
            quick preset's models it lost nothing (within 0.1 point of float), where entropy \
            once clipped the first layer's outputs to a quarter of their range and lost half \
            a point (BENCHMARKS.md). LRN stays in float between the integers (oneDNN has none \
            in int8), and the logits come out in float.

            The output is a safetensors weights file (a quarter of the float size) with the \
            network, preprocessing, class names and ranges in its metadata; evaluate, predict \
            and serve take it with --weights and run it on the cpu backend's int8 plan. They also \
            take --precision int8 with a float checkpoint, calibrating as here every time.

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
    @Option(help: ArgumentHelp("How ranges are chosen: minmax, percentile or entropy.", valueName: "method")) var method = CalibrationMethod.percentile
    @Option(parsing: .unconditional, help: "Images per forward pass during calibration.") var batch = 64
    @Option(help: ArgumentHelp("The quantized safetensors file to write.", valueName: "file")) var out: String

    func validate() throws {
        if calibration <= 0 { throw ValidationError("--calibration must be positive, got \(calibration)") }
        if batch <= 0 { throw ValidationError("--batch must be positive, got \(batch)") }
    }

    func run() throws {
        let trained = try model.load()
        guard let dataName = data ?? trained.data else { throw CLIError("--weights needs --data (the training images to calibrate on)") }
        let splits = try Datasets.open(dataName)
        let progress = ProgressDisplay()
        progress.note("\(trained.network.name): calibrating ranges (\(method.rawValue)) on \(min(calibration, splits.training.count)) "
            + "training images of \(dataName)")
        let start = ProgressDisplay.seconds()
        var stage = ""
        let calibrated = try QuantizedModel.calibrate(trained, source: splits.training, data: dataName, count: calibration, method: method,
                                                      batchSize: batch, backend: try compute.make()) { name, done, total in
            if name != stage, !stage.isEmpty { progress.finishLine() }
            stage = name
            progress.simpleProgress(name, done: done, total: total)
        }
        progress.finishLine()
        try QuantizedModel.write(calibrated.network, tensors: calibrated.tensors, model: trained, calibration: calibrated.calibration, to: out)
        if calibrated.foldedLayers > 0 {
            print("folded \(calibrated.foldedLayers) batch norm layer\(calibrated.foldedLayers == 1 ? "" : "s") into the convolutions before them")
        }
        let ranges = calibrated.calibration.ranges
        let width = ranges.thresholds.keys.map(\.count).max() ?? 5
        print("ranges (\(method.rawValue)):")
        for (name, unsigned) in try Int8Plan.quantizedTensors(of: calibrated.network) {
            print("  \(name.padding(toLength: width, withPad: " ", startingAt: 0))  \(unsigned ? "u8" : "s8")  "
                + String(format: "%.4g", ranges.thresholds[name]!))
        }
        let bytes = (try? FileManager.default.attributesOfItem(atPath: out)[.size] as? Int) ?? 0
        let floats = calibrated.network.layout.trainableCount + calibrated.network.layout.stateCount
        print(String(format: "wrote %@ (%.1f MB; float32 weights: %.1f MB) in %.1f s", out, Double(bytes) / 1e6,
                     Double(floats) * 4 / 1e6, ProgressDisplay.seconds() - start))
    }
}
