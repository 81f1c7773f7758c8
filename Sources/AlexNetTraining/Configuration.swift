import AlexNetBackends
import AlexNetCore
import AlexNetData

/// Everything that defines a training run: presets fill it, command-line options override
/// it, and checkpoints store it so that `--resume` continues with the same recipe.
public struct TrainingConfiguration: Codable, Sendable, Equatable {
    /// The preset it started from (`quick`, `d2l-fashion`, ...), for the record.
    public var preset: String
    /// A zoo name or a network file path.
    public var model: String
    /// The network's input shape when it differs from the model's own (`--input`).
    public var inputShape: Shape?
    /// A dataset name (`fashion-mnist`) or path.
    public var data: String
    public var epochs: Int
    public var batchSize: Int
    public var optimizer: Optimizer
    /// The learning rate over the run (its plateau memory is in `RunState.scheduleState`).
    public var schedule: Schedule
    public var seed: UInt64
    /// Preprocessing; the random parts (crop position, flip, lighting) apply in training only.
    public var preprocessing: Preprocessing
    /// Also write `last` every this many steps (0: at the end of each epoch only).
    public var checkpointEvery: Int = 0
    /// Use only the first N training / validation examples (quick experiments and tests).
    public var trainLimit: Int?
    public var validationLimit: Int?
    /// Early stopping (Keras's `EarlyStopping(monitor="val_accuracy", patience=)`): end the run
    /// once this many epochs in a row have not raised the best validation top-1 (nil: never).
    /// Distinct from the plateau schedule's patience, which lowers the rate instead.
    public var earlyStoppingPatience: Int?
    /// Label smoothing of the training loss (`--label-smoothing`, PyTorch's
    /// `CrossEntropyLoss(label_smoothing=)`): the target puts 1 - eps on the label and eps / K
    /// on every class (nil or 0: plain cross-entropy). Validation loss stays plain.
    public var labelSmoothing: Float?
    /// Start from trained weights instead of a fresh initialisation (`--from`), with frozen
    /// layers and the new head's rate.
    public var fineTuning: FineTuning?

    public init(preset: String, model: String, data: String, epochs: Int, batchSize: Int, optimizer: Optimizer,
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
