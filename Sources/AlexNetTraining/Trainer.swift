import AlexNetBackends
import AlexNetCore
import AlexNetData
import AlexNetInterop
import AlexNetNetwork
import Dispatch

#if canImport(Glibc)
import Glibc
#endif

/// What the trainer reports as it goes (the command line draws progress bars from it).
public protocol TrainingObserver: AnyObject {
    func epochStarted(epoch: Int, epochs: Int, batches: Int, firstBatch: Int)
    /// After each step: the running means of the epoch so far.
    func stepFinished(epoch: Int, batch: Int, batches: Int, loss: Double, accuracy: Double, imagesPerSecond: Double,
                      learningRate: Float)
    func validationProgress(batch: Int, batches: Int)
    func epochFinished(_ record: EpochRecord, isBest: Bool)
    func note(_ message: String)
}

/// How a call to `Trainer.train` ended.
public enum TrainingOutcome: Equatable, Sendable {
    case completed
    /// Stopped by `shouldStop` (Ctrl-C) after a step; the checkpoint holds the position.
    case interrupted(step: Int)
    /// Early stopping ended the run after `epoch` finished epochs (`RunState.stopsEarly`).
    case stoppedEarly(epoch: Int)
}

public enum TrainingError: Error, CustomStringConvertible {
    case nonFiniteLoss(loss: Float, epoch: Int, batch: Int, step: Int, checkpoint: String?)

    public var description: String {
        switch self {
        case let .nonFiniteLoss(loss, epoch, batch, step, checkpoint):
            return "the loss became \(loss) at step \(step + 1) (epoch \(epoch + 1), batch \(batch + 1)); training stopped. "
                + (checkpoint.map { "The last good checkpoint is \($0)." } ?? "No checkpoint was written.")
                + " Try a lower --lr."
        }
    }
}

/// What one training step gives back.
public struct StepResult {
    /// The step's mean loss, over this process's examples.
    public var loss: Float
    /// Loss sum and correct counts of the step, summed over every process.
    public var metrics: Metrics
    /// This process's logits `[N, classes]` (training mode).
    public var logits: Tensor
    public var learningRate: Float
}

/// The training loop. `step` is one optimizer step: forward and backward on the plan, the
/// gradient reducer (where a cluster averages gradients), the optimizer update, the metrics.
/// `train` is the epochs around it: batches from the loader, progress, validation after every
/// epoch, the schedule, checkpoints and history. Every random choice is a function of the seed
/// and the position (epoch, batch, step), which a checkpoint stores, so a resumed run takes
/// exactly the steps the uninterrupted run would have.
public final class Trainer {
    public let plan: any Plan
    public let training: DataLoader
    public let validation: DataLoader?
    /// Where `last.safetensors`, `best.safetensors`, the history and the plots go (nil: nowhere).
    public let outputDirectory: String?
    /// Whether this process writes checkpoints, history and plots (in a cluster, rank 0 only).
    public var writesFiles = true
    /// Joins the step to other processes' (identity with one process).
    public var reducer: any GradientReducer = LocalReducer()
    public weak var observer: TrainingObserver?
    /// TensorBoard's events file, when the run writes one: every step's loss, top-1 and rate, every
    /// epoch's metrics and the curves picture.
    public var events: EventWriter?
    /// Polled after every step; true stops the run after writing a checkpoint.
    public var shouldStop: () -> Bool = { false }
    public private(set) var run: RunState
    /// The run's update rule.
    public var optimizer: Optimizer { run.configuration.optimizer }

    public init(plan: any Plan, training: DataLoader, validation: DataLoader?, run: RunState, outputDirectory: String?) {
        precondition(training.batchSize == plan.batchSize && (validation?.batchSize ?? plan.batchSize) == plan.batchSize,
                     "Trainer: the loaders' batch sizes must equal the plan's (\(plan.batchSize))")
        self.plan = plan
        self.training = training
        self.validation = validation
        self.run = run
        self.outputDirectory = outputDirectory
    }

    public var lastCheckpointPath: String? { outputDirectory.map { "\($0)/last.safetensors" } }
    public var bestCheckpointPath: String? { outputDirectory.map { "\($0)/best.safetensors" } }

    /// One optimizer step on `batch` (its first `batch.count` rows are real examples), at the
    /// run's current step; advances the run by one step. A loss that is not finite (in any
    /// process: the check is made on the merged sums, so every process stops together) throws
    /// before anything is updated.
    public func step(_ batch: Batch) throws -> StepResult {
        let rate = run.learningRate
        let output = try plan.computeGradients(input: batch.input, labels: batch.labels, step: run.step,
                                               firstRow: training.firstRow, reducer: reducer)
        var local = Metrics(classes: run.classNames.count)
        output.logits.scalars.withUnsafeBufferPointer { scores in
            local.add(probabilities: scores, labels: batch.labels[...], rows: batch.count,
                      lossSum: Double(output.loss) * Double(batch.count))
        }
        let metrics = try reducer.merged(local)
        guard metrics.lossSum.isFinite else {
            throw TrainingError.nonFiniteLoss(
                loss: output.loss.isFinite ? Float(metrics.loss) : output.loss, epoch: batch.epoch, batch: batch.index, step: run.step,
                checkpoint: lastCheckpointPath.flatMap { writesFiles && access($0, F_OK) == 0 ? $0 : nil })
        }
        try plan.reduceGradients(with: reducer)
        if optimizer.clipNorm != nil { plan.withHostGradients { optimizer.clip($0) } }
        try plan.update(with: optimizer, learningRate: rate, step: run.step)
        run.step += 1
        return StepResult(loss: output.loss, metrics: metrics, logits: output.logits, learningRate: rate)
    }

    /// Makes every process's parameters and state process 0's (a no-op alone).
    public func synchronizeParameters() throws {
        guard reducer.worldSize > 1 else { return }
        plan.copyToHost()
        try reducer.broadcast(plan.parameters)
        try reducer.broadcast(plan.state)
        plan.copyFromHost()
    }

    /// Trains from the run's position to its last epoch.
    public func train() throws -> TrainingOutcome {
        let clock = Stopwatch(prior: run.elapsedSeconds)
        try synchronizeParameters()
        while run.epoch < run.configuration.epochs {
            if run.stopsEarly { return .stoppedEarly(epoch: run.epoch) }
            let (epoch, batches) = (run.epoch, training.batchesPerEpoch)
            observer?.epochStarted(epoch: epoch, epochs: run.configuration.epochs, batches: batches, firstBatch: run.batch)
            let stream = training.batches(epoch: epoch, from: run.batch)
            var stepStart = DispatchTime.now().uptimeNanoseconds
            while var batch = try stream.nextBatch() {
                let result: StepResult
                do { result = try step(batch) } catch { stream.stop(); throw error }
                training.recycle(&batch)
                let now = DispatchTime.now().uptimeNanoseconds
                run.partial.seconds += Double(now - stepStart) / 1e9
                stepStart = now
                run.batch = batch.index + 1
                run.partial.examples += result.metrics.count
                run.partial.lossSum += result.metrics.lossSum
                run.partial.correct += result.metrics.top1Correct
                observer?.stepFinished(
                    epoch: epoch, batch: batch.index, batches: batches,
                    loss: run.partial.lossSum / Double(run.partial.examples),
                    accuracy: Double(run.partial.correct) / Double(run.partial.examples),
                    imagesPerSecond: Double(run.partial.examples) / max(run.partial.seconds, 1e-9), learningRate: result.learningRate)
                try events?.scalars([("step/loss", result.metrics.loss),
                                     ("step/top1", Double(result.metrics.top1Correct) / Double(max(result.metrics.count, 1))),
                                     ("step/learning_rate", Double(result.learningRate))], step: run.step)
                if try reducer.any(shouldStop()) {
                    stream.stop()
                    run.elapsedSeconds = clock.seconds
                    try events?.flush()
                    try saveLast()
                    return .interrupted(step: run.step)
                }
                if run.configuration.checkpointEvery > 0 && run.step % run.configuration.checkpointEvery == 0 {
                    run.elapsedSeconds = clock.seconds
                    try saveLast()
                }
            }
            try finishEpoch(clock: clock)
        }
        return .completed
    }

    /// Validation, the schedule's epoch rule, the history, and the checkpoints after an epoch.
    private func finishEpoch(clock: Stopwatch) throws {
        let epoch = run.epoch
        var record = EpochRecord(
            epoch: epoch + 1, step: run.step, learningRate: lastStepRate(epoch: epoch),
            trainLoss: run.partial.lossSum / Double(max(run.partial.examples, 1)),
            trainAccuracy: Double(run.partial.correct) / Double(max(run.partial.examples, 1)),
            imagesPerSecond: Double(run.partial.examples) / max(run.partial.seconds, 1e-9), wallSeconds: 0)
        var isBest = false
        if let validation {
            let metrics = try evaluate(validation)
            record.validationLoss = metrics.loss
            record.validationTop1 = metrics.top1
            record.validationTop5 = metrics.top5
            if run.bestTop1.map({ metrics.top1 > $0 }) ?? true {
                run.bestTop1 = metrics.top1
                isBest = true
            }
            if run.scheduleState.epochEnded(validationError: 1 - metrics.top1, schedule: run.configuration.schedule) {
                let next = run.configuration.schedule.learningRate(epoch: epoch + 1, step: run.step, state: run.scheduleState)
                observer?.note("validation error stopped improving: learning rate lowered to \(next)")
            }
        }
        record.wallSeconds = clock.seconds
        run.history.append(record)
        run.epoch = epoch + 1
        run.batch = 0
        run.partial = PartialEpoch()
        run.elapsedSeconds = record.wallSeconds
        try saveLast()
        if isBest, writesFiles, let path = bestCheckpointPath { try Checkpoint.write(plan: plan, run: run, to: path) }
        if writesFiles, let outputDirectory { try History.write(run.history, to: outputDirectory) }
        try logEpoch(record)
        observer?.epochFinished(record, isBest: isBest)
    }

    /// The epoch's metrics and the curves so far to TensorBoard, at the epoch's last step.
    private func logEpoch(_ record: EpochRecord) throws {
        guard let events else { return }
        var values: [(tag: String, value: Double)] = [
            ("loss/train", record.trainLoss), ("top1/train", record.trainAccuracy),
            ("learning_rate", Double(record.learningRate)), ("images_per_second", record.imagesPerSecond),
        ]
        if let loss = record.validationLoss { values.append(("loss/validation", loss)) }
        if let top1 = record.validationTop1 { values.append(("top1/validation", top1)) }
        if let top5 = record.validationTop5 { values.append(("top5/validation", top5)) }
        try events.scalars(values, step: record.step)
        try events.image("curves", png: Plot.png(History.curves(run.history)), step: record.step)
        try events.flush()
    }

    /// The rate the epoch's last step used.
    private func lastStepRate(epoch: Int) -> Float {
        run.configuration.schedule.learningRate(epoch: epoch, step: max(run.step - 1, 0), state: run.scheduleState)
    }

    private func saveLast() throws {
        if writesFiles, let path = lastCheckpointPath { try Checkpoint.write(plan: plan, run: run, to: path) }
    }

    /// Loss, top-1, top-5 and the confusion matrix of the plan in evaluation mode over `loader`
    /// (over every process's share of it).
    public func evaluate(_ loader: DataLoader) throws -> Metrics {
        try reducer.merged(Evaluation.run(plan: plan, loader: loader, classes: run.classNames.count) { [observer] batch, batches in
            observer?.validationProgress(batch: batch, batches: batches)
        })
    }
}

/// Wall time of a run, counting what earlier processes spent on it.
struct Stopwatch {
    let prior: Double
    let start = DispatchTime.now().uptimeNanoseconds
    init(prior: Double) { self.prior = prior }
    var seconds: Double { prior + Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
}
