import AlexNetBackends
import AlexNetCore
import AlexNetInterop
import AlexNetNetwork
import Foundation

/// One finished epoch, as the history files and plots show it.
public struct EpochRecord: Codable, Sendable, Equatable {
    public var epoch: Int
    public var step: Int
    public var learningRate: Float
    public var trainLoss: Double
    public var trainAccuracy: Double
    public var validationLoss: Double?
    public var validationTop1: Double?
    public var validationTop5: Double?
    public var imagesPerSecond: Double
    public var wallSeconds: Double

    public init(epoch: Int, step: Int, learningRate: Float, trainLoss: Double, trainAccuracy: Double,
                validationLoss: Double? = nil, validationTop1: Double? = nil, validationTop5: Double? = nil,
                imagesPerSecond: Double, wallSeconds: Double) {
        self.epoch = epoch
        self.step = step
        self.learningRate = learningRate
        self.trainLoss = trainLoss
        self.trainAccuracy = trainAccuracy
        self.validationLoss = validationLoss
        self.validationTop1 = validationTop1
        self.validationTop5 = validationTop5
        self.imagesPerSecond = imagesPerSecond
        self.wallSeconds = wallSeconds
    }
}

/// Sums over the part of an epoch already trained, so that a run resumed mid-epoch reports
/// the same epoch averages as an uninterrupted one.
public struct PartialEpoch: Codable, Sendable, Equatable {
    public var examples = 0
    public var lossSum: Double = 0
    public var correct = 0
    public var seconds: Double = 0

    public init() {}
}

/// Where a run stands: what a checkpoint stores besides the tensors.
public struct RunState: Codable, Sendable, Equatable {
    public var configuration: TrainingConfiguration
    public var classNames: [String]
    /// The epoch being trained (from 0); equals `configuration.epochs` when the run is done.
    public var epoch = 0
    /// The next batch of `epoch` to train.
    public var batch = 0
    /// Optimizer steps taken.
    public var step = 0
    public var partial = PartialEpoch()
    public var history: [EpochRecord] = []
    public var bestTop1: Double?
    /// Seconds of wall time before this process (resumed runs add theirs).
    public var elapsedSeconds: Double = 0
    /// The plateau schedule's memory.
    public var scheduleState = ScheduleState()

    public init(configuration: TrainingConfiguration, classNames: [String]) {
        self.configuration = configuration
        self.classNames = classNames
    }

    /// Finished epochs since the one with the best validation top-1 (0 when the last was the
    /// best, nil before any validation).
    public var epochsSinceBest: Int? {
        let scores = history.map(\.validationTop1)
        guard let best = scores.compactMap({ $0 }).max(), let index = scores.firstIndex(of: best) else { return nil }
        return history.count - 1 - index
    }

    /// Whether early stopping ends the run here (see `TrainingConfiguration.earlyStoppingPatience`).
    public var stopsEarly: Bool {
        guard let patience = configuration.earlyStoppingPatience, let since = epochsSinceBest else { return false }
        return since >= patience
    }

    /// The learning rate of the next step.
    public var learningRate: Float { configuration.schedule.learningRate(epoch: epoch, step: step, state: scheduleState) }

    private enum CodingKeys: String, CodingKey {
        case configuration, classNames, epoch, batch, step, partial, history, bestTop1, elapsedSeconds, scheduleState
    }

    private enum ConfigurationKeys: String, CodingKey { case schedule }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        configuration = try c.decode(TrainingConfiguration.self, forKey: .configuration)
        classNames = try c.decode([String].self, forKey: .classNames)
        epoch = try c.decode(Int.self, forKey: .epoch)
        batch = try c.decode(Int.self, forKey: .batch)
        step = try c.decode(Int.self, forKey: .step)
        partial = try c.decode(PartialEpoch.self, forKey: .partial)
        history = try c.decode([EpochRecord].self, forKey: .history)
        bestTop1 = try c.decodeIfPresent(Double.self, forKey: .bestTop1)
        elapsedSeconds = try c.decode(Double.self, forKey: .elapsedSeconds)
        // Checkpoints written before the plateau memory moved here kept it in the recipe's
        // schedule, under the same keys.
        scheduleState = try c.decodeIfPresent(ScheduleState.self, forKey: .scheduleState)
            ?? c.nestedContainer(keyedBy: ConfigurationKeys.self, forKey: .configuration).decode(ScheduleState.self, forKey: .schedule)
    }
}

/// Checkpoints are safetensors files: the trainable tensors and the state tensors under the
/// network's names (`conv1.weight`, `bn1.running_mean`), the optimizer's buffers under
/// `optimizer.<buffer>.<name>` (`optimizer.velocity.conv1.weight`), and in the metadata the
/// network description (`network`, in the network file format) and the run state (`run`, JSON).
public enum Checkpoint {
    public static let format = "alexnet-swift-checkpoint-1"

    /// Writes `plan`'s tensors and `run` to `path` atomically.
    public static func write(plan: any Plan, run: RunState, to path: String) throws {
        plan.copyToHost()
        let layout = plan.network.layout
        var outputs: [SafeTensors.Output] = []
        for slot in layout.slots {
            let buffer = slot.isTrainable ? plan.parameters : plan.state
            outputs.append(SafeTensors.Output(name: slot.name, shape: slot.spec.shape,
                                              data: UnsafeBufferPointer(buffer.view(offset: slot.offset, count: slot.count))))
        }
        let state = plan.optimizerState
        for (name, buffer) in zip(state.names, state.buffers) {
            for slot in layout.slots where slot.isTrainable {
                outputs.append(SafeTensors.Output(name: "optimizer.\(name).\(slot.name)", shape: slot.spec.shape,
                                                  data: UnsafeBufferPointer(buffer.view(offset: slot.offset, count: slot.count))))
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let metadata = [
            "format": format,
            "network": NetworkFile.format(plan.network.network),
            "run": String(decoding: try encoder.encode(run), as: UTF8.self),
        ]
        try SafeTensors.write(outputs, metadata: metadata, to: path)
    }

    /// A checkpoint read back: the network it describes, the run state and the tensors.
    public struct Loaded {
        public var network: Network
        public var run: RunState
        public var tensors: SafeTensors
    }

    public static func read(_ path: String) throws -> Loaded {
        let tensors = try SafeTensors(path: path)
        guard tensors.metadata["format"] == format else {
            throw CheckpointError(path, "is not a checkpoint of this tool (metadata format is \(tensors.metadata["format"].map { "'\($0)'" } ?? "missing"), expected '\(format)')")
        }
        guard let text = tensors.metadata["network"], let runJSON = tensors.metadata["run"] else {
            throw CheckpointError(path, "lacks the 'network' or 'run' metadata")
        }
        let network = try NetworkFile.parse(text, source: "\(path) (network metadata)")
        let run: RunState
        do {
            run = try JSONDecoder().decode(RunState.self, from: Data(runJSON.utf8))
        } catch {
            throw CheckpointError(path, "has unreadable run metadata: \(error)")
        }
        return Loaded(network: network, run: run, tensors: tensors)
    }

    /// Copies the tensors of `file` named like `plan`'s slots into the plan (and, with
    /// `optimizer`, its optimizer buffers). Every missing tensor, unexpected tensor and shape
    /// mismatch is reported, one per line, before anything is changed.
    public static func load(_ file: SafeTensors, into plan: any Plan, optimizer: Optimizer? = nil,
                            rename: (String) -> String = { $0 }) throws {
        let layout = plan.network.layout
        var expected: [(file: String, slot: ParameterSlot, buffer: FloatBuffer)] = []
        for slot in layout.slots {
            expected.append((rename(slot.name), slot, slot.isTrainable ? plan.parameters : plan.state))
        }
        if let optimizer {
            let buffers = plan.optimizerState.buffers(for: optimizer, count: plan.parameters.count)
            for (name, buffer) in zip(optimizer.stateNames, buffers) {
                for slot in layout.slots where slot.isTrainable {
                    expected.append(("optimizer.\(name).\(slot.name)", slot, buffer))
                }
            }
        }
        var problems: [String] = []
        for (name, slot, _) in expected {
            guard let entry = file[name] else { problems.append("missing tensor '\(name)' \(slot.spec.shape)"); continue }
            if entry.shape != slot.spec.shape {
                problems.append("tensor '\(name)' has shape \(entry.shape), the network needs \(slot.spec.shape)")
            }
        }
        // A weight stored as s8 with per-output-channel scales (`alexnet quantize`) brings
        // `<name>_scale`; it loads as q * scale.
        let quantized = Set(expected.map(\.file).filter { file[$0]?.dtype == .i8 && file[$0 + "_scale"] != nil })
        let wanted = Set(expected.map(\.file) + quantized.map { $0 + "_scale" })
        let optimizerPrefix = optimizer == nil ? "optimizer." : "\u{0}"
        for entry in file.entries where !wanted.contains(entry.name) && !entry.name.hasPrefix(optimizerPrefix) {
            problems.append("unexpected tensor '\(entry.name)' \(entry.shape)")
        }
        guard problems.isEmpty else {
            throw CheckpointError(file.source, "does not fit network '\(plan.network.network.name)':\n  " + problems.joined(separator: "\n  "))
        }
        for (name, slot, buffer) in expected {
            var values: [Float]
            if quantized.contains(name) {
                let q = try file.integers(name), scales = try file.floats(name + "_scale")
                guard !scales.isEmpty, q.count % scales.count == 0 else {
                    throw CheckpointError(file.source, "tensor '\(name)_scale' has \(scales.count) scales for \(q.count) weights")
                }
                let perOutput = q.count / scales.count
                values = q.indices.map { Float(q[$0]) * scales[$0 / perOutput] }
            } else {
                values = try file.floats(name)
            }
            _ = buffer.view(offset: slot.offset, count: slot.count).update(fromContentsOf: values)
        }
        plan.copyFromHost()
    }
}

/// A checkpoint that cannot be used, naming the file and what is wrong.
public typealias CheckpointError = FileError
