import AlexNetInterop
import Foundation

/// The run's history on disk, rewritten after every epoch: `history.csv` (for spreadsheets),
/// `history.jsonl` (one JSON object per epoch), and `curves.svg` with `curves.png` (loss and
/// accuracy, training against validation, like the Keras tutorial's plots).
public enum History {
    public static let csvHeader = "epoch,step,lr,train_loss,train_acc,val_loss,val_top1,val_top5,images_per_s,wall_s"

    public static func csv(_ records: [EpochRecord]) -> String {
        func number(_ value: Double?) -> String { value.map { String(format: "%.6f", $0) } ?? "" }
        var lines = [csvHeader]
        for r in records {
            lines.append([
                String(r.epoch), String(r.step), String(r.learningRate), number(r.trainLoss), number(r.trainAccuracy),
                number(r.validationLoss), number(r.validationTop1), number(r.validationTop5),
                String(format: "%.1f", r.imagesPerSecond), String(format: "%.1f", r.wallSeconds),
            ].joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    public static func jsonLines(_ records: [EpochRecord]) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try records.map { String(decoding: try encoder.encode($0), as: UTF8.self) + "\n" }.joined()
    }

    public static func write(_ records: [EpochRecord], to directory: String) throws {
        try AtomicFile.write(csv(records), to: "\(directory)/history.csv")
        try AtomicFile.write(try jsonLines(records), to: "\(directory)/history.jsonl")
        let plots = curves(records)
        try AtomicFile.write(Plot.svg(plots), to: "\(directory)/curves.svg")
        try AtomicFile.write(bytes: Plot.png(plots), to: "\(directory)/curves.png")
    }

    /// The loss and accuracy plots of `curves.svg` and `curves.png`.
    public static func curves(_ records: [EpochRecord]) -> [Plot] {
        let epochs = records.map { Double($0.epoch) }
        let loss = Plot(title: "Loss", xLabel: "epoch", series: [
            .init(name: "training", color: "#1f77b4", x: epochs, y: records.map(\.trainLoss)),
            .init(name: "validation", color: "#ff7f0e", x: epochs, y: records.compactMap(\.validationLoss)),
        ])
        // Percent, as the command line prints it.
        let accuracy = Plot(title: "Accuracy (top-1 %)", xLabel: "epoch", series: [
            .init(name: "training", color: "#1f77b4", x: epochs, y: records.map { 100 * $0.trainAccuracy }),
            .init(name: "validation", color: "#ff7f0e", x: epochs, y: records.compactMap(\.validationTop1).map { 100 * $0 }),
        ])
        return [loss, accuracy]
    }
}
