import AlexNetBackends
import AlexNetData
import AlexNetNetwork
import AlexNetTraining
import Testing

/// End to end on the real data: 50 Adam steps of the quick network on 6,400 Fashion-MNIST
/// training images must classify the first 1,000 test images far better than chance (10%).
/// (Measured: 71.5%. The full quick preset reaches about 90%; see BENCHMARKS.md.)
@Test func quickNetworkLearnsRealFashionMNIST() throws {
    var configuration = TrainingPresets.preset("quick")!
    configuration.optimizer = OptimizerSettings(kind: .adam)
    configuration.schedule = Schedule(kind: .constant, baseLearningRate: 0.001)
    configuration.epochs = 1
    let splits = try Datasets.open("fashion-mnist")
    let network = try Zoo.quick().resolved()
    let plan = try CPUBackend().makePlan(for: network, batchSize: 128, seed: 0)
    let training = try DataLoader(source: PrefixSource(splits.training, count: 6400),
                                  preprocessing: configuration.preprocessing, shape: network.inputShape,
                                  batchSize: 128, training: true)
    let test = try DataLoader(source: PrefixSource(splits.test!, count: 1000),
                              preprocessing: configuration.preprocessing, shape: network.inputShape,
                              batchSize: 128, training: false)
    let trainer = Trainer(plan: plan, training: training, validation: test,
                          run: RunState(configuration: configuration, classNames: FashionMNIST.classNames), outputDirectory: nil)
    #expect(try trainer.train() == .completed)
    let top1 = try #require(trainer.run.history.last?.validationTop1)
    #expect(top1 > 0.65, "test accuracy \(top1) after 50 steps")
}
