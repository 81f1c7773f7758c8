import AlexNetData

/// Training recipes by name: each carries its whole recipe (SPEC.md sections 1-3).
public enum TrainingPresets {
    public static let names = ["quick", "fashion", "d2l-fashion", "cifar10", "paper", "paper-bn", "finetune"]

    /// Fashion-MNIST's mean and standard deviation of pixel values in [0, 1] over the 60,000
    /// training images (computed by `alexnet data stats`).
    public static let fashionMNISTMean: Float = 0.2860
    public static let fashionMNISTStd: Float = 0.3530

    public static func preset(_ name: String) -> TrainingConfiguration? {
        switch name {
        case "quick":
            // d2l's recipe changed to finish in minutes on two cores: the `quick` network (46x46
            // input, half width), momentum 0.9 with weight decay 5e-4 (the paper's update), the
            // rate warmed up over 200 steps to 0.02 and annealed to zero on a cosine over 3 epochs,
            // inputs standardised with the training set's mean/std. Measured on 2 cores of an AMD
            // EPYC (Zen 3, AVX2; BENCHMARKS.md): 89.77% in 8 min 44 s, where 64x64 input, a constant
            // 0.01 and 4 epochs took 14 min 50 s for 89.32%.
            return TrainingConfiguration(
                preset: name, model: "quick", data: "fashion-mnist", epochs: 3, batchSize: 128,
                optimizer: .paper,
                schedule: Schedule(kind: .cosine, baseLearningRate: 0.02, warmupSteps: 200),
                preprocessing: Preprocessing(channels: 1, resize: 46, mean: [fashionMNISTMean], std: [fashionMNISTStd]))
        case "fashion":
            // The best AlexNet recipe for Fashion-MNIST here (EXPERIMENTS.md, with the ablation
            // of each ingredient): the `fashion` network (batch norm, 28x28), random crops with 2
            // pixels of padding and mirrors, label smoothing 0.1, SGD momentum 0.9 weight decay
            // 5e-4 at lr 0.05 on a cosine schedule.
            var c = TrainingConfiguration(
                preset: name, model: "fashion", data: "fashion-mnist", epochs: 24, batchSize: 128,
                optimizer: .paper,
                schedule: Schedule(kind: .cosine, baseLearningRate: 0.05),
                preprocessing: Preprocessing(channels: 1, randomCrop: true, pad: 2, flip: true,
                                             mean: [fashionMNISTMean], std: [fashionMNISTStd]))
            c.labelSmoothing = 0.1
            return c
        case "d2l-fashion":
            // Dive into Deep Learning 8.1: 224x224 upscaling, ToTensor scaling only, plain SGD.
            return TrainingConfiguration(
                preset: name, model: "d2l-fashion", data: "fashion-mnist", epochs: 10, batchSize: 128,
                optimizer: .sgd(),
                schedule: Schedule(kind: .constant, baseLearningRate: 0.01),
                preprocessing: Preprocessing(channels: 1, resize: 224))
        case "cifar10":
            // The Keras AlexNet8 tutorial: Adam, batch 32, 5 epochs, pixels scaled to [0, 1].
            return TrainingConfiguration(
                preset: name, model: "cifar10", data: "cifar10", epochs: 5, batchSize: 32,
                optimizer: .adam,
                schedule: Schedule(kind: .constant, baseLearningRate: 0.001),
                preprocessing: Preprocessing(channels: 3))
        case "paper":
            // Section 5 of the paper: 256 resize, random 227 crops and mirrors, per-channel mean
            // subtraction, SGD momentum 0.9 weight decay 5e-4, lr 0.01 divided by 10 on plateaus
            // (3 times at most), about 90 epochs. PCA lighting is added when the data's
            // eigenvectors are known (`alexnet data stats`).
            return TrainingConfiguration(
                preset: name, model: "paper", data: "", epochs: 90, batchSize: 128,
                optimizer: .paper,
                schedule: Schedule(kind: .plateau, baseLearningRate: 0.01, patience: 1, maxReductions: 3),
                preprocessing: Preprocessing(channels: 3, resize: 256, crop: 227, randomCrop: true, flip: true,
                                             scale: 1, mean: [123.68, 116.78, 103.94]))
        case "paper-bn":
            // Large-batch training after You, Gitman and Ginsburg (2017): AlexNet-BN, LARS (trust
            // 0.001, momentum 0.9, weight decay 5e-4) and polynomial decay (power 2), with the
            // paper preset's data pipeline. Batch 512 at lr 2 is a starting point for one
            // machine or a few; larger global batches under mpirun take a larger rate and a
            // warm-up (--warmup), as in their tables.
            guard var c = preset("paper") else { return nil }
            c.preset = name
            c.model = "paper-bn"
            c.batchSize = 512
            c.optimizer = .lars()
            c.schedule = Schedule(kind: .poly, baseLearningRate: 2)
            return c
        case "finetune":
            // PyTorch's transfer-learning tutorial (torchvision AlexNet from ImageNet weights,
            // given with --from): SGD lr 0.001 momentum 0.9, x0.1 every 7 epochs; ImageNet's
            // normalisation, random 224 crops of 256-resized images and mirrors in training.
            var preprocessing = Preprocessing.imageNet(crop: 224)
            preprocessing.randomCrop = true
            preprocessing.flip = true
            return TrainingConfiguration(
                preset: name, model: "torchvision", data: "", epochs: 5, batchSize: 32,
                optimizer: .sgd(momentum: 0.9),
                schedule: Schedule(kind: .step, baseLearningRate: 0.001, stepEpochs: 7),
                preprocessing: preprocessing)
        default:
            return nil
        }
    }
}
