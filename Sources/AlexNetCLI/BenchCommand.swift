import AlexNet
import ArgumentParser
import AlexNetDistributed
import Dispatch

/// `alexnet bench`: images per second of training or inference on synthetic input.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure training or inference speed on synthetic input.",
        discussion: """
            Warms up, then times --steps steps and prints images/s, milliseconds per step \
            (median, min, max), the achieved GFLOP/s (6 x MACs per training image, 2 x MACs per \
            inference image), this machine's sgemm peak measured just before and the fraction of \
            it reached, and the peak resident memory. --per-layer adds forward and backward time \
            per layer. bench/peers/compare.py runs the same work in PyTorch and Keras back to back.

            Examples:
              alexnet bench --model paper-1gpu --batch 128 --mode train
              alexnet bench --model torchvision --mode latency
              alexnet bench --model d2l-fashion --batch 128 --per-layer --json
              alexnet bench --model paper-1gpu --mode infer --precision int8

            Under mpirun (--mode train), --batch is the global batch shared among the \
            processes and images/s counts all of them; the report adds the all-reduce time per \
            step, how much of it ran hidden behind backward, and the bytes each process sent:
              mpirun -np 2 alexnet bench --model paper-1gpu --batch 128 --threads 1
            """)

    enum Mode: String, ExpressibleByArgument, CaseIterable, Codable {
        case train, infer, latency
    }

    @OptionGroup var model: ModelOptions

    @Option(parsing: .unconditional, help: "Images per step (default: 128 to train, 64 to infer, 1 for latency).")
    var batch: Int?

    @Option(help: "What to time: train (forward, backward, SGD step), infer, or latency (infer at batch 1).")
    var mode: Mode = .train

    @OptionGroup var compute: ComputeOptions
    @OptionGroup var cluster: DistributedOptions

    @Option(parsing: .unconditional, help: "Timed steps.")
    var steps = 10

    @Option(parsing: .unconditional, help: "Untimed steps first.")
    var warmup = 2

    @Flag(help: "Run 3x3 convolutions direct instead of with Winograd (as PyTorch and Keras do).")
    var noWinograd = false

    @Flag(help: "Also time every layer's forward and backward.")
    var perLayer = false

    @Flag(help: "Print the results as JSON.")
    var json = false
    @Option(help: ArgumentHelp("Train with these layers frozen, as `train --from --freeze` does (shell pattern over layer names; repeatable): no update, no weight gradient, backward stops below the lowest layer that trains.", valueName: "pattern"))
    var freeze: [String] = []

    func validate() throws {
        if let batch, batch <= 0 { throw ValidationError("--batch must be positive") }
        if mode == .latency, let batch, batch != 1 { throw ValidationError("--mode latency runs batch 1; use --mode infer for batch \(batch)") }
        if steps <= 0 || warmup < 0 { throw ValidationError("--steps must be positive and --warmup not negative") }
        if !freeze.isEmpty && mode != .train { throw ValidationError("--freeze times training: use --mode train") }
        if perLayer && compute.backend == "reference" { throw ValidationError("--per-layer needs the cpu backend") }
        if compute.isInt8 && mode == .train { throw ValidationError("--precision int8 runs inference: use --mode infer or latency") }
        if compute.isInt8 && perLayer { throw ValidationError("--per-layer times the float plans only") }
    }

    func run() throws {
        guard !cluster.isRequested || mode == .train else {
            throw CLIError("under mpirun, bench measures data-parallel training: use --mode train (inference needs no all-reduce)")
        }
        try cluster.withProcessGroup { try measure(group: $0) }
    }

    private func measure(group: MPIReducer?) throws {
        var network = try model.network().resolved()
        var optimizer = Optimizer.paper
        if !freeze.isEmpty {
            var fineTuning = FineTuning(weights: "--freeze")
            fineTuning.freeze = freeze
            let (rates, frozen) = try fineTuning.layerRates(network: network, newLayers: [], baseLearningRate: 1)
            network.frozenLayers = Set(frozen)
            optimizer.layerRates = rates
        }
        let batchSize = batch ?? [.train: 128, .infer: 64, .latency: 1][mode]!
        let reducer: any GradientReducer = group ?? LocalReducer()
        let processes = reducer.worldSize
        guard batchSize % processes == 0 else {
            throw CLIError("--batch \(batchSize) does not divide among \(processes) processes")
        }
        let localBatch = batchSize / processes
        let threadCount = compute.threadsPerProcess ?? CPUBackend.coreCount
        // Every process measures its own share of the machine; the job's peak is their sum.
        let peak = MachineProbe.sgemmPeak(threads: threadCount) * Double(processes)
        let classes = network.outputShape.elementCount
        let labels = (0..<localBatch).map { $0 % classes }
        let backend = try compute.make(winograd: !noWinograd, allowInt8: true)
        var plan = try backend.makePlan(for: network, batchSize: localBatch, mode: mode == .train ? .training : .inference, seed: 1)
        let input = Tensor(randomUniform: [localBatch] + network.inputShape.dimensions, low: 0, high: 1, seed: UInt64(1 + reducer.rank))
        if compute.isInt8 {
            // The random weights quantized, ranges from the synthetic batch itself.
            plan = try QuantizedModel.int8Plan(from: plan, calibration: [input], batchSize: localBatch, threads: threadCount)
        }
        // A training step as the trainer takes it: backward hands finished gradients to the
        // reducer (all-reduced on its thread meanwhile under MPI), then the update.
        let step: (Int) throws -> Void = mode == .train
            ? { index in
                _ = try plan.computeGradients(input: input, labels: labels, step: index, firstRow: reducer.rank * localBatch,
                                              reducer: reducer)
                try plan.reduceGradients(with: reducer)
                try plan.update(with: optimizer, learningRate: 1e-4, step: index)
            }
            : { _ in _ = try plan.infer(input) }
        let profiled = plan as? any ProfilingPlan

        for index in 0..<warmup { try step(index) }
        group?.resetStatistics()
        profiled?.resetTimings()
        profiled?.isProfiling = perLayer
        var seconds: [Double] = []
        for index in 0..<steps {
            let start = DispatchTime.now().uptimeNanoseconds
            try step(warmup + index)
            seconds.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        seconds.sort()
        let median = seconds.count % 2 == 1 ? seconds[seconds.count / 2]
            : (seconds[seconds.count / 2 - 1] + seconds[seconds.count / 2]) / 2
        // Training: forward (2 x MACs) and backward (4 x MACs) of the layers that train (from the
        // lowest trained layer up, all of them without --freeze).
        let trained = network.layers.filter { $0.index >= (network.firstTrainedLayer ?? network.layers.count) }
        let flopsPerImage = Double(2 * network.multiplyAccumulates + (mode == .train ? 4 * trained.reduce(0) { $0 + $1.multiplyAccumulates } : 0))
        let gflops = flopsPerImage * Double(batchSize) / median / 1e9
        let layers = (profiled?.timings ?? []).filter { _ in perLayer }.map { timing in
            BenchResult.Layer(
                name: timing.name, implementation: timing.implementation,
                forwardMilliseconds: 1000 * timing.forwardSeconds / Double(steps),
                backwardMilliseconds: 1000 * timing.backwardSeconds / Double(steps),
                forwardGflops: timing.multiplyAccumulates > 0 && timing.forwardSeconds > 0
                    ? 2 * Double(timing.multiplyAccumulates * batchSize * steps) / timing.forwardSeconds / 1e9 : nil,
                backwardGflops: timing.multiplyAccumulates > 0 && timing.backwardSeconds > 0
                    ? 4 * Double(timing.multiplyAccumulates * batchSize * steps) / timing.backwardSeconds / 1e9 : nil)
        }
        let result = BenchResult(
            framework: "alexnet-swift", model: network.network.name, mode: mode.rawValue, batch: batchSize,
            backend: backend.name, precision: compute.precision, threads: threadCount, steps: steps,
            imagesPerSecond: Double(batchSize) / median, millisecondsMedian: 1000 * median,
            millisecondsMin: 1000 * seconds.first!, millisecondsMax: 1000 * seconds.last!, gflops: gflops,
            sgemmPeakGflops: peak, peakFraction: gflops / peak,
            peakResidentBytes: MachineProbe.peakResidentBytes() ?? 0, layers: layers,
            communication: group.flatMap { group in
                let statistics = group.statistics
                guard group.worldSize > 1, statistics.steps > 0 else { return nil }
                let steps = Double(statistics.steps)
                // A ring all-reduce sends 2 (N - 1) / N of the buffer from each process.
                let sent = 2 * Double(group.worldSize - 1) / Double(group.worldSize) * Double(statistics.bytes) / steps
                return BenchResult.Communication(
                    processes: group.worldSize, bucketMiB: Double(group.bucketFloats * 4) / 1_048_576,
                    bucketsPerStep: Double(statistics.buckets) / steps,
                    allReduceMillisecondsPerStep: 1000 * statistics.allReduceSeconds / steps,
                    exposedMillisecondsPerStep: 1000 * statistics.exposedSeconds / steps,
                    hiddenFraction: statistics.hiddenFraction, gradientBytes: statistics.bytes / statistics.steps,
                    bytesSentPerStep: Int(sent))
            })
        if reducer.rank == 0 { print(json ? try AlexNetCLI.json(result) : result.text) }
    }
}

/// What `alexnet bench` measures; the peer scripts print the same keys.
struct BenchResult: Codable {
    struct Layer: Codable {
        var name: String
        var implementation: String
        var forwardMilliseconds: Double
        var backwardMilliseconds: Double
        var forwardGflops: Double?
        var backwardGflops: Double?
    }

    var framework: String
    var model: String
    var mode: String
    var batch: Int
    var backend: String
    var precision: String
    var threads: Int
    var steps: Int
    var imagesPerSecond: Double
    var millisecondsMedian: Double
    var millisecondsMin: Double
    var millisecondsMax: Double
    var gflops: Double
    var sgemmPeakGflops: Double
    var peakFraction: Double
    var peakResidentBytes: Int
    var layers: [Layer]
    /// Data-parallel training under MPI: what the all-reduces cost (nil alone).
    var communication: Communication?

    struct Communication: Codable {
        var processes: Int
        var bucketMiB: Double
        var bucketsPerStep: Double
        var allReduceMillisecondsPerStep: Double
        /// The part of it the step waited for after backward.
        var exposedMillisecondsPerStep: Double
        var hiddenFraction: Double
        var gradientBytes: Int
        var bytesSentPerStep: Int
    }

    var text: String {
        var lines = [
            "\(model), \(mode), batch \(batch), \(backend) backend\(precision == "float32" ? "" : " in \(precision)"), \(threads) thread\(threads == 1 ? "" : "s"), \(steps) timed steps",
            "images/s      \(fixed(imagesPerSecond, 1))",
            "ms per step   \(fixed(millisecondsMedian, 1)) median (min \(fixed(millisecondsMin, 1)), max \(fixed(millisecondsMax, 1)))",
            "GFLOP/s       \(fixed(gflops, 1)) (\(fixed(100 * peakFraction, 0))% of the sgemm peak measured now: \(fixed(sgemmPeakGflops, 1))"
                + (peakFraction > 1 ? "; counted as direct convolutions, where Winograd does fewer multiplications)" : ")"),
            "peak memory   \(fixed(Double(peakResidentBytes) / 1_073_741_824, 2)) GiB resident",
        ]
        if let c = communication {
            lines[0] = "\(model), \(mode), global batch \(batch) = \(c.processes) processes x \(batch / c.processes), \(backend) backend, "
                + "\(threads) thread\(threads == 1 ? "" : "s") each, \(steps) timed steps"
            lines.append("all-reduce    \(fixed(c.allReduceMillisecondsPerStep, 1)) ms per step in \(fixed(c.bucketsPerStep, 1)) buckets of "
                + "\(fixed(c.bucketMiB, 0)) MiB; \(fixed(100 * c.hiddenFraction, 0))% hidden behind backward "
                + "(\(fixed(c.exposedMillisecondsPerStep, 1)) ms exposed)")
            lines.append("sent          \(fixed(Double(c.bytesSentPerStep) / 1_048_576, 1)) MiB per process per step "
                + "(ring all-reduce of \(fixed(Double(c.gradientBytes) / 1_048_576, 1)) MiB of gradients)")
        }
        if !layers.isEmpty {
            lines.append("")
            let header = ["layer", "forward ms", "GFLOP/s", "backward ms", "GFLOP/s", "implementation"]
            let rows = layers.map { layer in
                [layer.name, fixed(layer.forwardMilliseconds, 2), layer.forwardGflops.map { fixed($0, 0) } ?? "",
                 fixed(layer.backwardMilliseconds, 2), layer.backwardGflops.map { fixed($0, 0) } ?? "", layer.implementation]
            }
            let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max()! }
            for cells in [header] + rows {
                lines.append(cells.indices.map { column in
                    let pad = String(repeating: " ", count: widths[column] - cells[column].count)
                    return (1...4).contains(column) ? pad + cells[column] : cells[column] + pad
                }.joined(separator: "  ").trimmedRight())
            }
        }
        return lines.joined(separator: "\n")
    }
}
