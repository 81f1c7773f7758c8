import AlexNetBackends
import AlexNetCore
import AlexNetData
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

/// How a call to `Trainer.run` ended.
public enum TrainingOutcome: Equatable, Sendable {
    case completed
    /// Stopped by `shouldStop` (Ctrl-C) after a step; the checkpoint holds the position.
    case interrupted(step: Int)
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

/// The training loop: batches from the loader, a step of the plan, metrics, validation after
/// every epoch, the schedule, and checkpoints. Every random choice is a function of the seed
/// and the position (epoch, batch, step), which a checkpoint stores, so a resumed run takes
/// exactly the steps the uninterrupted run would have.
public final class Trainer {
    public let plan: any Plan
    public let training: DataLoader
    public let validation: DataLoader?
    /// Where `last.safetensors`, `best.safetensors`, the history and the plots go (nil: nowhere).
    public let outputDirectory: String?
    public weak var observer: TrainingObserver?
    /// Polled after every step; true stops the run after writing a checkpoint.
    public var shouldStop: () -> Bool = { false }
    public private(set) var run: RunState
    private var optimizer: any Optimizer

    public init(plan: any Plan, training: DataLoader, validation: DataLoader?, run: RunState, outputDirectory: String?) {
        precondition(training.batchSize == plan.batchSize && (validation?.batchSize ?? plan.batchSize) == plan.batchSize,
                     "Trainer: the loaders' batch sizes must equal the plan's (\(plan.batchSize))")
        self.plan = plan
        self.training = training
        self.validation = validation
        self.run = run
        self.outputDirectory = outputDirectory
        optimizer = run.configuration.optimizer.make(learningRate: run.configuration.schedule.baseLearningRate)
    }

    /// The optimizer this run uses (for restoring its buffers from a checkpoint).
    public var currentOptimizer: any Optimizer { optimizer }

    public var lastCheckpointPath: String? { outputDirectory.map { "\($0)/last.safetensors" } }
    public var bestCheckpointPath: String? { outputDirectory.map { "\($0)/best.safetensors" } }

    /// Trains from the run's position to its last epoch.
    public func train() throws -> TrainingOutcome {
        let configuration = run.configuration
        let classes = run.classNames.count
        let start = DispatchTime.now().uptimeNanoseconds
        let priorSeconds = run.elapsedSeconds
        func elapsed() -> Double { priorSeconds + Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
        while run.epoch < configuration.epochs {
            let epoch = run.epoch
            let batches = training.batchesPerEpoch
            observer?.epochStarted(epoch: epoch, epochs: configuration.epochs, batches: batches, firstBatch: run.batch)
            let stream = training.batches(epoch: epoch, from: run.batch)
            var stepStart = DispatchTime.now().uptimeNanoseconds
            while var batch = try stream.nextBatch() {
                let rate = configuration.schedule.learningRate(epoch: epoch, step: run.step)
                optimizer.learningRate = rate
                let loss = plan.computeGradients(input: batch.input, labels: batch.labels, step: UInt64(run.step))
                training.recycle(&batch)
                guard loss.isFinite else {
                    stream.stop()
                    throw TrainingError.nonFiniteLoss(loss: loss, epoch: epoch, batch: batch.index, step: run.step,
                                                      checkpoint: lastCheckpointPath.flatMap { access($0, F_OK) == 0 ? $0 : nil })
                }
                var metrics = Metrics(classes: classes)
                let logits = plan.lastLogits
                logits.scalars.withUnsafeBufferPointer { scores in
                    metrics.add(probabilities: scores, labels: batch.labels[...], rows: batch.count, lossSum: 0)
                }
                plan.update(with: optimizer, step: run.step + 1)
                let now = DispatchTime.now().uptimeNanoseconds
                run.partial.seconds += Double(now - stepStart) / 1e9
                stepStart = now
                run.step += 1
                run.batch = batch.index + 1
                run.partial.examples += batch.count
                run.partial.lossSum += Double(loss) * Double(batch.count)
                run.partial.correct += metrics.top1Correct
                observer?.stepFinished(
                    epoch: epoch, batch: batch.index, batches: batches,
                    loss: run.partial.lossSum / Double(run.partial.examples),
                    accuracy: Double(run.partial.correct) / Double(run.partial.examples),
                    imagesPerSecond: Double(run.partial.examples) / max(run.partial.seconds, 1e-9), learningRate: rate)
                if shouldStop() {
                    stream.stop()
                    run.elapsedSeconds = elapsed()
                    try saveLast()
                    return .interrupted(step: run.step)
                }
                if configuration.checkpointEvery > 0 && run.step % configuration.checkpointEvery == 0 {
                    run.elapsedSeconds = elapsed()
                    try saveLast()
                }
            }
            var record = EpochRecord(
                epoch: epoch + 1, step: run.step, learningRate: optimizer.learningRate,
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
                if run.configuration.schedule.epochEnded(validationError: 1 - metrics.top1) {
                    let next = run.configuration.schedule.learningRate(epoch: epoch + 1, step: run.step)
                    observer?.note("validation error stopped improving: learning rate lowered to \(next)")
                }
            }
            record.wallSeconds = elapsed()
            run.history.append(record)
            run.epoch = epoch + 1
            run.batch = 0
            run.partial = PartialEpoch()
            run.elapsedSeconds = record.wallSeconds
            try saveLast()
            if isBest, let path = bestCheckpointPath { try Checkpoint.write(plan: plan, run: run, to: path) }
            if let outputDirectory { try History.write(run.history, to: outputDirectory) }
            observer?.epochFinished(record, isBest: isBest)
        }
        return .completed
    }

    private func saveLast() throws {
        if let path = lastCheckpointPath { try Checkpoint.write(plan: plan, run: run, to: path) }
    }

    /// Loss, top-1, top-5 and the confusion matrix of the plan in evaluation mode over `loader`.
    public func evaluate(_ loader: DataLoader) throws -> Metrics {
        try Evaluation.run(plan: plan, loader: loader, classes: run.classNames.count) { [observer] batch, batches in
            observer?.validationProgress(batch: batch, batches: batches)
        }
    }
}

/// Evaluation passes shared by the trainer and `alexnet evaluate`.
public enum Evaluation {
    /// Runs `plan` in evaluation mode over every batch of `loader`.
    public static func run(plan: any Plan, loader: DataLoader, classes: Int,
                           progress: (Int, Int) -> Void = { _, _ in }) throws -> Metrics {
        var metrics = Metrics(classes: classes)
        let stream = loader.batches(epoch: 0)
        let batches = loader.batchesPerEpoch
        while var batch = try stream.nextBatch() {
            progress(batch.index, batches)
            var scores = plan.infer(batch.input).scalars
            loader.recycle(&batch)
            Metrics.softmax(&scores, rows: batch.count, classes: classes)
            scores.withUnsafeBufferPointer { metrics.add(probabilities: $0, labels: batch.labels[...], rows: batch.count) }
        }
        return metrics
    }
}
