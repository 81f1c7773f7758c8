import AlexNetBackends
import AlexNetData
import AlexNetNetwork
import AlexNetTraining
import Foundation
import Testing

@Suite struct ExperimentTests {
    /// The arms of each experiment differ from the paper's arm only in the one choice.
    @Test func armsDifferOnlyInTheirChoice() throws {
        // Lines with their columns' padding collapsed (it follows the longest kind present).
        func lines(_ network: Network) -> [String] {
            NetworkFile.format(network).split(separator: "\n").map { $0.split(separator: " ").joined(separator: " ") }
        }
        func changed(_ experiment: String, arm: Int = 1) throws -> (removed: [String], added: [String]) {
            let e = try #require(Experiment.named(experiment))
            let (a, b) = (lines(e.arms[0].network), lines(e.arms[arm].network))
            return (a.filter { !b.contains($0) }, b.filter { !a.contains($0) })
        }
        let tanh = try changed("relu-vs-tanh")
        #expect(tanh.removed.count == 7 && tanh.removed.allSatisfy { $0.contains(" relu") }, "\(tanh)")
        #expect(tanh.added.count == 7 && tanh.added.allSatisfy { $0.contains(" tanh") }, "\(tanh)")
        let figure1 = try #require(Experiment.named("relu-vs-tanh")).arms[0].network
        #expect(!figure1.layers.contains { $0.layer is LocalResponseNorm || $0.layer is Dropout }, "no regularization, as in Figure 1")
        let lrn = try changed("lrn")
        #expect(lrn.removed.count == 2 && lrn.removed.allSatisfy { $0.contains(" lrn") } && lrn.added.isEmpty, "\(lrn)")
        let pooling = try changed("overlapping-pooling")
        #expect(pooling.removed.count == 3 && pooling.added.allSatisfy { $0.contains("kernel=2 stride=2") }, "\(pooling)")
        let dropout = try changed("dropout")
        #expect(dropout.removed.count == 2 && dropout.removed.allSatisfy { $0.contains(" dropout") } && dropout.added.isEmpty)
        let depth = try changed("depth", arm: 2)
        #expect(depth.removed.count == 2 && depth.removed[0].hasPrefix("conv3") && depth.removed[1].hasPrefix("relu3"), "\(depth)")
        // Two towers: groups 2 on conv2, conv4 and conv5; one tower: half the filters, conv5 kept.
        let towers = try #require(Experiment.named("towers"))
        let two = try towers.arms[0].network.resolved(), one = try towers.arms[1].network.resolved()
        #expect(two.layers.compactMap { ($0.layer as? Convolution)?.groups } == [1, 2, 1, 2, 2])
        #expect(one.layers.compactMap { ($0.layer as? Convolution)?.outputChannels } == [16, 32, 48, 48, 64])
        // PCA lighting changes the recipe, not the network.
        let lighting = try #require(Experiment.named("pca-lighting"))
        #expect(lines(lighting.arms[0].network) == lines(lighting.arms[1].network) && lighting.requiresRGB)
        // The fashion preset's ablation: each arm leaves out one ingredient, the network's
        // batch norm or one field of the preset's recipe, and keeps everything else.
        let noBN = try changed("fashion-recipe")
        #expect(noBN.removed.count == 5 && noBN.removed.allSatisfy { $0.contains(" batchnorm") } && noBN.added.isEmpty, "\(noBN)")
        let ablation = try #require(Experiment.named("fashion-recipe"))
        let base = try #require(ablation.recipe)
        #expect(base == TrainingPresets.preset("fashion"))
        let runner = ExperimentRunner(experiment: ablation, recipe: base, seeds: [0], directory: "unused")
        let full = runner.configuration(arm: ablation.arms[0], seed: 0)
        func recipe(_ arm: String) throws -> TrainingConfiguration {
            try runner.configuration(arm: #require(ablation.arms.first { $0.name == arm }), seed: 0)
        }
        var expected = full
        expected.preprocessing.randomCrop = false
        expected.preprocessing.pad = nil
        #expect(try recipe("no-crops").preprocessing == expected.preprocessing)
        expected = full
        expected.preprocessing.flip = false
        #expect(try recipe("no-flips").preprocessing == expected.preprocessing)
        #expect(try recipe("no-label-smoothing").labelSmoothing == nil && full.labelSmoothing == 0.1)
        #expect(try recipe("constant-lr").schedule.kind == .constant && full.schedule.kind == .cosine)
        #expect(try recipe("no-momentum").optimizer.momentum == 0 && full.optimizer.momentum == 0.9)
        for arm in ablation.arms.dropFirst() where arm.name != "no-batchnorm" {
            var c = runner.configuration(arm: arm, seed: 0)
            c.preset = full.preset
            c.model = full.model
            #expect(c != full && lines(arm.network) == lines(ablation.arms[0].network), "\(arm.name) changes the recipe only")
        }
    }

    /// The defaults fit the budget: three seeds of every trained arm in about 10 to 35
    /// minutes here, where one mini-alexnet epoch with its test pass takes about 70 s on two
    /// cores (so at most 10 epochs per seed across the arms).
    @Test func defaultsAreSizedForTwoCores() throws {
        for name in Experiment.names where name != "fashion-recipe" {
            let experiment = try #require(Experiment.named(name))
            let trained = experiment.arms.filter { $0.tenCropOf == nil }.count
            #expect((4...10).contains(trained * experiment.epochs), "\(name): \(trained) arms x \(experiment.epochs) epochs")
        }
        #expect(Experiment.named("relu-vs-tanh")?.epochs == 2 && Experiment.named("depth")?.epochs == 2)
        #expect(Experiment.named("dropout")?.epochs == 5 && Experiment.named("lrn")?.epochs == 3)
    }

    static func recipe(epochs: Int = 1) -> TrainingConfiguration {
        var recipe = TrainingConfiguration(
            preset: "experiment", model: "", data: "fashion-mnist", epochs: epochs, batchSize: 64, optimizer: .paper,
            schedule: Schedule(kind: .constant, baseLearningRate: 0.05), preprocessing: Preprocessing(channels: 1, resize: 28))
        recipe.trainLimit = 384
        recipe.validationLimit = 128
        return recipe
    }

    /// A tiny experiment end to end: a folder per run with the arm's network file and the
    /// same recipe but for the network, the report with a row per arm, the JSON of every run.
    @Test func aTinyExperimentRunsAndReports() throws {
        let directory = try TrainingFixture.directory()
        let experiment = try #require(Experiment.named("lrn"))
        let runner = ExperimentRunner(experiment: experiment, recipe: Self.recipe(), seeds: [0, 1], directory: directory)
        let runs = try #require(try runner.run())
        #expect(runs.map(\.arm) == ["lrn", "no-lrn", "lrn", "no-lrn"] && runs.map(\.seed) == [0, 0, 1, 1])
        let (a, b) = (runner.configuration(arm: experiment.arms[0], seed: 1), runner.configuration(arm: experiment.arms[1], seed: 1))
        #expect(a.model != b.model && a.seed == b.seed && a.data == b.data && a.optimizer == b.optimizer && a.preprocessing == b.preprocessing)
        #expect(runs.allSatisfy { $0.steps == 6 && $0.testErrorByEpoch.count == 1 && !$0.trainingCurve.isEmpty })
        let report = ExperimentReport(experiment: experiment, runs: runs, command: "alexnet experiment lrn")
        try report.write(to: directory)
        let markdown = try String(contentsOfFile: "\(directory)/report.md", encoding: .utf8)
        #expect(markdown.contains("| arm | test top-1 error | per seed | difference from lrn |\n|---|---|---|---|\n"), "\(markdown)")
        #expect(markdown.contains("| no-lrn | "), "\(markdown)")
        let json = try JSONDecoder().decode(ExperimentReport.self, from: Data(contentsOf: URL(fileURLWithPath: "\(directory)/results.json")))
        #expect(json.runs == runs && json.arms.count == 2)
        let spread = try #require(json.arms[1].differenceMean)
        let byHand = ((runs[1].testError - runs[0].testError) + (runs[3].testError - runs[2].testError)) / 2
        #expect(abs(spread - byHand) < 1e-12)
        #expect(FileManager.default.fileExists(atPath: "\(directory)/curves.png"))
    }

    /// ten-crop trains one arm (resized to 32, random 28x28 crops and mirrors) and evaluates its
    /// final weights twice: the centre crop (the run's last validation) and the mean softmax of
    /// ten crops, computed here again by hand from the checkpoint; the second pass reads the
    /// kept result instead of evaluating again.
    @Test func tenCropEvaluatesTheSameWeights() throws {
        let experiment = try #require(Experiment.named("ten-crop"))
        #expect(experiment.arms.map(\.name) == ["centre-crop", "ten-crop"] && experiment.arms[1].tenCropOf == "centre-crop")
        let directory = try TrainingFixture.directory()
        let runner = ExperimentRunner(experiment: experiment, recipe: Self.recipe(), seeds: [0], directory: directory)
        let c = runner.configuration(arm: experiment.arms[0], seed: 0)
        #expect(c.preprocessing.resize == 32 && c.preprocessing.crop == 28 && c.preprocessing.randomCrop && c.preprocessing.flip)
        let runs = try #require(try runner.run())
        #expect(runs.map(\.arm) == ["centre-crop", "ten-crop"] && runs[0].steps == runs[1].steps)
        #expect(!FileManager.default.fileExists(atPath: "\(directory)/ten-crop/seed-0"), "ten-crop trains nothing")
        let loaded = try Checkpoint.read("\(directory)/centre-crop/seed-0/last.safetensors")
        let network = try loaded.network.resolved()
        let plan = try CPUBackend(threads: 2).makePlan(for: network, batchSize: 10, mode: .inference, seed: 0)
        try Checkpoint.load(loaded.tensors, into: plan)
        let test = PrefixSource(try #require(try Datasets.open("fashion-mnist").test), count: 128)
        let metrics = try TenCrop.evaluate(plan: plan, source: test, preprocessing: c.preprocessing.fitted(to: network.inputShape),
                                           shape: network.inputShape, classes: 10)
        #expect(abs(runs[1].testError - (1 - metrics.top1)) < 1e-9, "\(runs[1].testError) against \(1 - metrics.top1)")
        #expect(abs(runs[0].testError - (1 - (loaded.run.history.last?.validationTop1 ?? 0))) < 1e-9)
        let again = try #require(try ExperimentRunner(experiment: experiment, recipe: Self.recipe(), seeds: [0], directory: directory).run())
        #expect(again == runs)
        let report = ExperimentReport(experiment: experiment, runs: runs, command: "alexnet experiment ten-crop")
        try report.write(to: directory)
        #expect(report.plots[1].series.map(\.name) == ["centre-crop"], "no per-epoch curve for ten-crop")
    }

    /// An arm whose loss stops being finite is a result, not the end of the experiment: the run
    /// is recorded as diverged (no measure), the report says so, and running the experiment
    /// again reads that back instead of training into the same wall.
    @Test func aDivergedRunIsReportedAndKept() throws {
        let experiment = try #require(Experiment.named("dropout"))
        var recipe = Self.recipe()
        recipe.schedule.baseLearningRate = 1e6
        let directory = try TrainingFixture.directory()
        let runs = try #require(try ExperimentRunner(experiment: experiment, recipe: recipe, seeds: [0], directory: directory).run())
        #expect(runs.count == 2 && runs.allSatisfy { $0.divergedAtStep != nil && $0.value(of: .generalizationGap) == nil }, "\(runs)")
        let report = ExperimentReport(experiment: experiment, runs: runs, command: "alexnet experiment dropout --lr 1e6")
        #expect(report.markdown.contains("diverged at step \(runs[0].divergedAtStep!)"), "\(report.markdown)")
        let again = ExperimentRunner(experiment: experiment, recipe: recipe, seeds: [0], directory: directory)
        var started = 0
        again.runStarted = { _, _, _, _, _ in started += 1 }
        #expect(try again.run() == runs && started == 0)
    }

    /// Stopped in its second run, the experiment continues where it stopped and measures what
    /// an uninterrupted one does.
    @Test func anInterruptedExperimentContinues() throws {
        let experiment = try #require(Experiment.named("relu-vs-tanh"))
        let straight = ExperimentRunner(experiment: experiment, recipe: Self.recipe(epochs: 2), seeds: [3], directory: try TrainingFixture.directory())
        let expected = try #require(try straight.run())
        let directory = try TrainingFixture.directory()
        let stopped = ExperimentRunner(experiment: experiment, recipe: Self.recipe(epochs: 2), seeds: [3], directory: directory)
        var polls = 0
        stopped.shouldStop = { polls += 1; return polls == 15 }  // the second run's third step
        #expect(try stopped.run() == nil)
        let continued = ExperimentRunner(experiment: experiment, recipe: Self.recipe(epochs: 2), seeds: [3], directory: directory)
        var resumed: [String] = []
        continued.runStarted = { arm, _, _, _, isResumed in if isResumed { resumed.append(arm) } }
        let runs = try #require(try continued.run())
        #expect(resumed == ["tanh"])
        #expect(runs.map(\.testError) == expected.map(\.testError))
        #expect(runs.map(\.trainingCurve) == expected.map(\.trainingCurve))
        // Another recipe in the same folder is refused.
        let other = ExperimentRunner(experiment: experiment, recipe: Self.recipe(epochs: 1), seeds: [3], directory: directory)
        #expect(throws: (any Error).self) { try other.run() }
        // And so is another network under the same arm's name (a changed experiment).
        var changed = experiment
        changed.arms[0].network = Experiment.miniAlexNet()
        let another = ExperimentRunner(experiment: changed, recipe: Self.recipe(epochs: 2), seeds: [3], directory: directory)
        #expect(throws: (any Error).self) { try another.run() }
    }
}
