import AlexNetBackends
import AlexNetData
import AlexNetInterop
import AlexNetNetwork
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// What one training run of an experiment measured.
public struct ExperimentRun: Codable, Sendable, Equatable {
    public var arm: String
    public var seed: UInt64
    /// Validation top-1 error after the last epoch.
    public var testError: Double
    /// Training top-1 error of the last epoch (its running mean, dropout on).
    public var trainError: Double
    public var steps: Int
    public var wallSeconds: Double
    /// Steps until the smoothed batch training error reached the experiment's threshold (nil:
    /// never within the run).
    public var stepsToThreshold: Int?
    /// Wall time at that step, at the run's mean step time.
    public var secondsToThreshold: Double?
    /// The smoothed batch training error, sampled: (step, error).
    public var trainingCurve: [[Double]]
    /// Validation error after each epoch.
    public var testErrorByEpoch: [Double]
    /// The step whose loss was not finite, when the run diverged (then it has no measure, and
    /// its test error is that of its last finished epoch, or 1).
    public var divergedAtStep: Int?

    /// The run's value of `measure` (nil when it has none: a threshold never reached).
    public func value(of measure: Experiment.Measure) -> Double? {
        if divergedAtStep != nil { return nil }
        return switch measure {
        case .testError: testError
        case .stepsToTrainingError: stepsToThreshold.map(Double.init)
        case .generalizationGap: testError - trainError
        }
    }
}

/// Trains every arm of an experiment with every seed, each run in its own folder
/// (`<out>/<arm>/seed-<k>/`, with the arm's network file beside it), and measures them. Runs
/// that finished are read back, an interrupted one resumes, so an interrupted experiment
/// continues with what it has not done.
public final class ExperimentRunner {
    public let experiment: Experiment
    /// The recipe every arm shares (its model is replaced by each arm's network).
    public let recipe: TrainingConfiguration
    public let seeds: [UInt64]
    public let directory: String
    /// Backend, threads, loader workers (output folders are the runner's).
    public var setup = TrainingSetup()
    public weak var observer: TrainingObserver?
    /// Told before each run starts: (arm, seed, run number from 1, runs in all, resumed).
    public var runStarted: (String, UInt64, Int, Int, Bool) -> Void = { _, _, _, _, _ in }
    /// Polled after every step; true stops the experiment after writing the run's checkpoint.
    public var shouldStop: () -> Bool = { false }

    public init(experiment: Experiment, recipe: TrainingConfiguration, seeds: [UInt64], directory: String) {
        self.experiment = experiment
        self.recipe = recipe
        self.seeds = seeds
        self.directory = directory
    }

    public func runDirectory(arm: String, seed: UInt64) -> String { "\(directory)/\(arm)/seed-\(seed)" }
    public func networkPath(arm: String) -> String { "\(directory)/\(arm)/network.txt" }

    /// The recipe of `arm` for `seed`: the shared one with the arm's network (as a file) and its
    /// own change.
    public func configuration(arm: Experiment.Arm, seed: UInt64) -> TrainingConfiguration {
        var c = recipe
        c.preset = "experiment \(experiment.name), \(arm.name)"
        c.model = networkPath(arm: arm.name)
        c.seed = seed
        arm.recipe(&c)
        return c
    }

    /// Every run, in order (seeds outer, arms inner, so that a stopped experiment has whole
    /// pairs); nil when stopped (Ctrl-C) with the current run's checkpoint written.
    public func run() throws -> [ExperimentRun]? {
        for arm in experiment.arms where arm.tenCropOf == nil {
            let path = networkPath(arm: arm.name), text = NetworkFile.format(arm.network)
            if let existing = try? String(contentsOfFile: path, encoding: .utf8), existing != text,
               seeds.contains(where: { access("\(runDirectory(arm: arm.name, seed: $0))/last.safetensors", F_OK) == 0 }) {
                throw TrainingSetupError("\(path) describes another network than this experiment's \(arm.name) arm, and runs of it "
                    + "are there; remove \(directory)/\(arm.name) or choose another --out")
            }
            try TrainingSession.makeDirectories("\(directory)/\(arm.name)")
            try AtomicFile.write(text, to: path)
        }
        var runs: [ExperimentRun] = []
        let total = seeds.count * experiment.arms.count
        for seed in seeds {
            for arm in experiment.arms {
                if let source = arm.tenCropOf {
                    guard let trained = runs.last(where: { $0.arm == source && $0.seed == seed }) else {
                        preconditionFailure("experiment \(experiment.name): arm \(arm.name) evaluates \(source), which must come before it")
                    }
                    runStarted(arm.name, seed, runs.count + 1, total, false)
                    runs.append(try evaluateTenCrop(arm: arm.name, trained: trained))
                    continue
                }
                guard let run = try train(arm: arm, seed: seed, number: runs.count + 1, of: total) else { return nil }
                runs.append(run)
            }
        }
        return runs
    }

    private func train(arm: Experiment.Arm, seed: UInt64, number: Int, of total: Int) throws -> ExperimentRun? {
        var setup = self.setup
        let folder = runDirectory(arm: arm.name, seed: seed)
        setup.outputDirectory = folder
        setup.tensorBoardDirectory = folder
        let last = "\(folder)/last.safetensors"
        let diverged = "\(folder)/diverged.json"
        let session: TrainingSession
        if access(diverged, F_OK) == 0 {
            // A run whose loss was not finite would diverge again at the same step.
            let record = try JSONDecoder().decode(Diverged.self, from: Data(contentsOf: URL(fileURLWithPath: diverged)))
            var stored = record.configuration
            stored.epochs = recipe.epochs
            guard stored == configuration(arm: arm, seed: seed) else {
                throw TrainingSetupError("\(folder) holds a diverged run of another recipe; remove the folder or choose another --out")
            }
            return record.run
        }
        if access(last, F_OK) == 0 {
            let loaded = try Checkpoint.read(last)
            var stored = loaded.run.configuration
            stored.epochs = recipe.epochs  // --epochs may extend an experiment
            guard stored == configuration(arm: arm, seed: seed), loaded.run.configuration.epochs <= recipe.epochs,
                  NetworkFile.format(loaded.network) == NetworkFile.format(arm.network) else {
                throw TrainingSetupError("\(folder) holds a run of another recipe or network (other options than this experiment's, "
                    + "or another version of it); remove the folder or choose another --out")
            }
            if loaded.run.epoch >= recipe.epochs || loaded.run.stopsEarly {
                return try measure(loaded.run, arm: arm.name, seed: seed, folder: folder)
            }
            runStarted(arm.name, seed, number, total, true)
            session = try TrainingSession.resume(setup: setup, epochs: recipe.epochs)
        } else {
            runStarted(arm.name, seed, number, total, false)
            session = try TrainingSession(configuration: configuration(arm: arm, seed: seed), setup: setup)
        }
        session.trainer.observer = observer
        session.trainer.shouldStop = shouldStop
        do {
            if case .interrupted = try session.train() { return nil }
        } catch let TrainingError.nonFiniteLoss(_, _, _, step, _) {
            // A diverged arm is a result (the choice made training unstable), not the end of
            // the experiment.
            var run = try measure(session.run, arm: arm.name, seed: seed, folder: folder)
            run.divergedAtStep = step
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            let record = Diverged(configuration: configuration(arm: arm, seed: seed), run: run)
            try AtomicFile.write(String(decoding: try encoder.encode(record), as: UTF8.self) + "\n", to: diverged)
            return run
        }
        return try measure(session.run, arm: arm.name, seed: seed, folder: folder)
    }

    /// A diverged run as `<out>/<arm>/seed-<k>/diverged.json` keeps it: its recipe and numbers.
    struct Diverged: Codable {
        var configuration: TrainingConfiguration
        var run: ExperimentRun
    }

    /// What a ten-crop evaluation found, kept beside the arm (`<out>/<arm>/seed-<k>.json`) for
    /// the final weights of the trained arm's run at `step`.
    struct TenCropResult: Codable, Equatable {
        var step: Int
        var testError: Double
    }

    /// `trained`'s final weights evaluated on the validation split with the paper's ten crops:
    /// its numbers with the test error replaced (no curves: the crops were not tried per epoch).
    func evaluateTenCrop(arm: String, trained: ExperimentRun) throws -> ExperimentRun {
        let cache = "\(directory)/\(arm)/seed-\(trained.seed).json"
        var result = try? JSONDecoder().decode(TenCropResult.self, from: Data(contentsOf: URL(fileURLWithPath: cache)))
        if result?.step != trained.steps {
            let loaded = try Checkpoint.read("\(runDirectory(arm: trained.arm, seed: trained.seed))/last.safetensors")
            let c = loaded.run.configuration
            let splits = try Datasets.open(c.data)
            guard let test = splits.test else { throw TrainingSetupError("\(c.data) has no test split to evaluate with ten crops") }
            let source: any ImageSource = c.validationLimit.map { PrefixSource(test, count: $0) } ?? test
            let network = try loaded.network.resolved()
            let plan = try Backends.make(setup.backend, options: setup.backendOptions)
                .makePlan(for: network, batchSize: 10, mode: .inference, seed: 0)
            try Checkpoint.load(loaded.tensors, into: plan)
            let metrics = try TenCrop.evaluate(plan: plan, source: source, preprocessing: c.preprocessing.fitted(to: network.inputShape),
                                               shape: network.inputShape, classes: loaded.run.classNames.count)
            result = TenCropResult(step: loaded.run.step, testError: 1 - metrics.top1)
            try TrainingSession.makeDirectories("\(directory)/\(arm)")
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try AtomicFile.write(String(decoding: try encoder.encode(result), as: UTF8.self) + "\n", to: cache)
        }
        var run = trained
        run.arm = arm
        run.testError = result!.testError
        run.stepsToThreshold = nil
        run.secondsToThreshold = nil
        run.trainingCurve = []
        run.testErrorByEpoch = []
        return run
    }

    /// The run's numbers from its history and its events files (a resumed run has several).
    func measure(_ run: RunState, arm: String, seed: UInt64, folder: String) throws -> ExperimentRun {
        var accuracyByStep: [Int: Double] = [:]
        let files = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasPrefix("events.out.tfevents.") }.sorted()
        for name in files {
            for (step, value) in try EventFile(path: "\(folder)/\(name)").scalar("step/top1") { accuracyByStep[step] = value }
        }
        let errors = accuracyByStep.keys.sorted().map { (step: $0, error: 1 - accuracyByStep[$0]!) }
        // A moving mean over the last `window` batches: one batch's error is noisy.
        let window = max(1, min(50, errors.count / 20))
        var smoothed: [(step: Int, error: Double)] = []
        var sum = 0.0
        for (k, point) in errors.enumerated() {
            sum += point.error
            if k >= window { sum -= errors[k - window].error }
            if k + 1 >= window { smoothed.append((point.step, sum / Double(window))) }
        }
        let reached = smoothed.first { $0.error <= experiment.threshold }?.step
        let stride = max(1, smoothed.count / 200)
        let final = run.history.last
        return ExperimentRun(
            arm: arm, seed: seed, testError: 1 - (final?.validationTop1 ?? 0), trainError: 1 - (final?.trainAccuracy ?? 0),
            steps: run.step, wallSeconds: run.elapsedSeconds, stepsToThreshold: reached,
            secondsToThreshold: reached.map { run.elapsedSeconds * Double($0) / Double(max(run.step, 1)) },
            trainingCurve: smoothed.enumerated().filter { $0.offset % stride == 0 || $0.offset == smoothed.count - 1 }
                .map { [Double($0.element.step), $0.element.error] },
            testErrorByEpoch: run.history.map { 1 - ($0.validationTop1 ?? 0) })
    }
}
