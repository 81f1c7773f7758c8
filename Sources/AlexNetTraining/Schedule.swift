/// The learning rate over a run, as a recipe states it. The plateau rule's memory is the run's
/// (`ScheduleState`, in `RunState`).
///
/// - `constant`: the base rate throughout (d2l, Keras).
/// - `step`: multiplied by `factor` every `stepEpochs` epochs.
/// - `plateau`: the paper's rule, "divide by 10 when the validation error stops improving":
///   after `patience` epochs without a lower validation error the rate is multiplied by
///   `factor`, at most `maxReductions` times (three in the paper).
///
/// - `poly`: polynomial decay to zero over the run, base x (1 - step / total)^power, power 2
///   (You, Gitman and Ginsburg's schedule for LARS); the run's length in steps is in its
///   `ScheduleState`.
///
/// - `cosine`: half a cosine from base to zero over the steps after the warm-up,
///   base x (1 + cos(pi x p)) / 2 with p = (step - warmup) / (total - warmup): PyTorch's
///   `CosineAnnealingLR` with `eta_min` 0 and `T_max` the run's steps, shifted past the warm-up
///   as Hugging Face's `get_cosine_schedule_with_warmup` does.
///
/// - `onecycle`: Smith and Topin's one-cycle policy as PyTorch's `OneCycleLR` computes it with
///   its defaults (`pct_start` 0.3, `div_factor` 25, `final_div_factor` 1e4, cosine annealing,
///   two phases): the base rate is the peak; the rate rises from base/25 to base over the first
///   30% of the run's steps and falls from there to base/25/1e4, each phase half a cosine.
///   With T the run's steps and p = 0.3 T - 1, step s < p (or s = p) is at
///   cosine(base/25, base, s / p), later ones at cosine(base, base/250000, (s - p) / (T - 1 - p)),
///   where cosine(a, b, f) = b + (a - b) (1 + cos(pi f)) / 2. Note: PyTorch also cycles the
///   momentum between 0.85 and 0.95 by default; ours stays the optimizer's (`cycle_momentum=False`).
///   It has its own warm-up, so `warmupSteps` must be 0.
///
/// An optional linear warm-up ramps the rate from base/`warmupSteps` to base over the first
/// `warmupSteps` steps.
public struct Schedule: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        case constant, step, plateau, poly, cosine, onecycle
    }

    public var kind: Kind
    public var baseLearningRate: Float
    public var factor: Float = 0.1
    public var stepEpochs: Int = 30
    public var patience: Int = 1
    public var maxReductions: Int = 3
    public var warmupSteps: Int = 0
    /// The poly schedule's exponent (nil: 2).
    public var power: Float?

    public init(kind: Kind, baseLearningRate: Float, factor: Float = 0.1, stepEpochs: Int = 30,
                patience: Int = 1, maxReductions: Int = 3, warmupSteps: Int = 0) {
        self.kind = kind
        self.baseLearningRate = baseLearningRate
        self.factor = factor
        self.stepEpochs = stepEpochs
        self.patience = patience
        self.maxReductions = maxReductions
        self.warmupSteps = warmupSteps
    }

    /// The rate for global step `step` (from 0) within epoch `epoch` (from 0), after `state`'s
    /// plateau reductions.
    public func learningRate(epoch: Int, step: Int, state: ScheduleState = ScheduleState()) -> Float {
        var rate = baseLearningRate
        switch kind {
        case .constant: break
        case .step: rate *= pow(factor, Float(epoch / max(stepEpochs, 1)))
        case .plateau: rate *= pow(factor, Float(state.reductions))
        case .poly:
            if let total = state.totalSteps, total > 0 { rate *= pow(max(0, 1 - Float(step) / Float(total)), power ?? 2) }
        case .cosine:
            if let total = state.totalSteps, total > warmupSteps {
                let progress = min(1, max(0, Float(step - warmupSteps) / Float(total - warmupSteps)))
                rate *= (1 + cos(Float.pi * progress)) / 2
            }
        case .onecycle:
            if let total = state.totalSteps, total > 1 { rate = Self.oneCycle(base: rate, step: step, total: total) }
        }
        if step < warmupSteps { rate *= Float(step + 1) / Float(warmupSteps) }
        return rate
    }
}

extension Schedule {
    /// PyTorch's `OneCycleLR` (two phases, cosine annealing, its default divisors) at `step` of `total`.
    static func oneCycle(base: Float, step: Int, total: Int) -> Float {
        let (initial, peak) = (Double(base) / 25, Double(base))
        let minimum = initial / 1e4
        let warmEnd = 0.3 * Double(total) - 1
        func cosine(_ from: Double, _ to: Double, _ fraction: Double) -> Double {
            to + (from - to) * (1 + cos(Double.pi * min(max(fraction, 0), 1))) / 2
        }
        let s = Double(step)
        if s <= warmEnd { return Float(cosine(initial, peak, warmEnd > 0 ? s / warmEnd : 1)) }
        return Float(cosine(peak, minimum, (s - warmEnd) / (Double(total) - 1 - warmEnd)))
    }
}

/// Where a run stands in its schedule: the plateau rule's memory. It is part of the run's state
/// (a checkpoint carries it, so a resumed run divides at the same epochs), not of the recipe.
public struct ScheduleState: Codable, Sendable, Equatable {
    public private(set) var reductions = 0
    public private(set) var bestError: Double?
    public private(set) var epochsWithoutImprovement = 0
    /// The run's length in optimizer steps (epochs x steps per epoch), for the poly and cosine schedules;
    /// set when a run starts or resumes (its epochs may have been extended).
    public var totalSteps: Int?

    public init() {}

    /// Records an epoch's validation error (1 - top-1); returns true when `schedule`'s plateau
    /// rule just lowered the rate.
    @discardableResult
    public mutating func epochEnded(validationError: Double?, schedule: Schedule) -> Bool {
        guard schedule.kind == .plateau, let error = validationError else { return false }
        if let best = bestError, error >= best {
            epochsWithoutImprovement += 1
        } else {
            bestError = error
            epochsWithoutImprovement = 0
            return false
        }
        guard epochsWithoutImprovement >= schedule.patience, reductions < schedule.maxReductions else { return false }
        reductions += 1
        epochsWithoutImprovement = 0
        return true
    }
}

#if canImport(Glibc)
import Glibc
#endif
