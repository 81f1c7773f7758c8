import AlexNetBackends
import AlexNetData
import AlexNetNetwork
import AlexNetTraining
import Testing

/// End to end on the real data: 50 Adam steps of the quick network on 6,400 Fashion-MNIST
/// training images must classify the first 1,000 test images far better than chance (10%).
/// (Measured: 69.0% at 46x46 on an AMD EPYC Zen 3, 71.5% at the earlier 64x64. The full quick
/// preset reaches about 90%; see BENCHMARKS.md.)
@Test func quickNetworkLearnsRealFashionMNIST() throws {
    var configuration = TrainingPresets.preset("quick")!
    configuration.optimizer = .adam
    configuration.schedule = Schedule(kind: .constant, baseLearningRate: 0.001)
    configuration.epochs = 1
    configuration.trainLimit = 6400
    configuration.validationLimit = 1000
    // The same assembly as `alexnet train` (no output folder: nothing is written).
    let session = try TrainingSession(configuration: configuration, setup: TrainingSetup())
    let trainer = session.trainer
    #expect(try trainer.train() == .completed)
    let top1 = try #require(trainer.run.history.last?.validationTop1)
    #expect(top1 > 0.65, "test accuracy \(top1) after 50 steps")
}

/// The `fashion` preset as `alexnet train --preset fashion` assembles it, for 40 steps on real
/// data: padded random crops, mirrors and label smoothing on, the cosine schedule to zero over
/// the run, and a network that learns (far above chance on the first 1,000 test images).
@Test func fashionPresetTrainsWithItsAugmentation() throws {
    var configuration = TrainingPresets.preset("fashion")!
    #expect(configuration.preprocessing.pad == 2 && configuration.preprocessing.randomCrop && configuration.preprocessing.flip)
    #expect(configuration.labelSmoothing == 0.1 && configuration.schedule.kind == .cosine && configuration.model == "fashion")
    configuration.epochs = 1
    configuration.trainLimit = 5120
    configuration.validationLimit = 1000
    let session = try TrainingSession(configuration: configuration, setup: TrainingSetup())
    #expect(session.trainer.plan.labelSmoothing == 0.1)
    #expect(try session.trainer.train() == .completed)
    let record = try #require(session.trainer.run.history.last)
    #expect(record.learningRate < 2e-4, "cosine falls to zero over the run: \(record.learningRate)")
    #expect(try #require(record.validationTop1) > 0.5, "test accuracy \(record.validationTop1 ?? 0) after 40 steps")
}
