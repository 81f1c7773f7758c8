import AlexNetBackends
import AlexNetData

/// The optimizer of a run, as stored in checkpoints and chosen by `--optimizer`.
public struct OptimizerSettings: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        /// The paper's SGD with momentum and weight decay (plain SGD when both are 0).
        case sgd
        /// Adam with Keras's defaults.
        case adam
    }

    public var kind: Kind
    public var momentum: Float = 0
    public var weightDecay: Float = 0
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var epsilon: Float = 1e-7

    public init(kind: Kind, momentum: Float = 0, weightDecay: Float = 0) {
        self.kind = kind
        self.momentum = momentum
        self.weightDecay = weightDecay
    }

    public func make(learningRate: Float) -> any Optimizer {
        switch kind {
        case .sgd: return SGD(learningRate: learningRate, momentum: momentum, weightDecay: weightDecay)
        case .adam: return Adam(learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon)
        }
    }

    public var summary: String {
        switch kind {
        case .sgd where momentum == 0 && weightDecay == 0: return "plain SGD"
        case .sgd: return "SGD momentum \(momentum) weight decay \(weightDecay)"
        case .adam: return "Adam (beta1 \(beta1), beta2 \(beta2), epsilon \(epsilon))"
        }
    }
}

/// Everything that defines a training run: presets fill it, command-line options override
/// it, and checkpoints store it so that `--resume` continues with the same recipe.
public struct TrainingConfiguration: Codable, Sendable, Equatable {
    /// The preset it started from (`quick`, `d2l-fashion`, ...), for the record.
    public var preset: String
    /// A zoo name or a network file path.
    public var model: String
    /// A dataset name (`fashion-mnist`) or path.
    public var data: String
    public var epochs: Int
    public var batchSize: Int
    public var optimizer: OptimizerSettings
    public var schedule: Schedule
    public var seed: UInt64
    /// Preprocessing; the random parts (crop position, flip, lighting) apply in training only.
    public var preprocessing: Preprocessing
    /// Also write `last` every this many steps (0: at the end of each epoch only).
    public var checkpointEvery: Int = 0
    /// Use only the first N training / validation examples (quick experiments and tests).
    public var trainLimit: Int?
    public var validationLimit: Int?

    public init(preset: String, model: String, data: String, epochs: Int, batchSize: Int, optimizer: OptimizerSettings,
                schedule: Schedule, seed: UInt64 = 0, preprocessing: Preprocessing) {
        self.preset = preset
        self.model = model
        self.data = data
        self.epochs = epochs
        self.batchSize = batchSize
        self.optimizer = optimizer
        self.schedule = schedule
        self.seed = seed
        self.preprocessing = preprocessing
    }
}
