import AlexNetData
import AlexNetInterop
import ArgumentParser
import FoundationEssentials

/// `alexnet data`: look at a dataset before training on it.
struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Inspect datasets: counts, classes, sample images, pixel statistics.",
        subcommands: [Info.self, Stats.self])

    struct Info: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Counts, classes, image sizes, and a contact sheet of the first training images.")

        @Option(help: ArgumentHelp("fashion-mnist, cifar10, or a directory (IDX, CIFAR-10 batches, image folder).", valueName: "name|dir"))
        var data = "fashion-mnist"
        @Option(help: ArgumentHelp("Write the first 32 training images as one PNG here.", valueName: "file"))
        var samples: String?

        func run() throws {
            let splits = try Datasets.open(data)
            print("\(data):")
            for (split, source) in [("training", splits.training), ("test", splits.test)] {
                guard let source else { print("  \(split): none"); continue }
                var perClass = [Int](repeating: 0, count: source.classNames.count)
                for index in 0..<source.count { perClass[source.label(at: index)] += 1 }
                let first = try source.image(at: 0)
                print("  \(split): \(source.count) images from \(source.name), first is \(first.width)x\(first.height)x\(first.channels)")
                print("    per class: " + zip(source.classNames, perClass).map { "\($0) \($1)" }.joined(separator: ", "))
            }
            if let samples {
                try AtomicFile.write(bytes: ImageCodec.encodePNG(try ContactSheet.make(splits.training)), to: samples)
                print("  wrote the first \(min(32, splits.training.count)) training images to \(samples)")
            }
        }
    }

    struct Stats: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Per-channel mean and std, and the RGB covariance's eigenvectors for PCA lighting.",
            discussion: """
                Computed over the whole training split (pixels scaled to [0, 1]) and written as \
                JSON, by default to <dir>/alexnet-stats.json for a directory dataset; `alexnet \
                train --stats FILE` uses it for the paper's PCA lighting.
                """)

        @Option(help: ArgumentHelp("Dataset name or directory.", valueName: "name|dir")) var data = "fashion-mnist"
        @Option(help: ArgumentHelp("Where to write the JSON (default: beside a directory dataset, else stdout only).", valueName: "file"))
        var out: String?

        func run() throws {
            let training = try Datasets.open(data).training
            let channels = try training.image(at: 0).channels
            let display = ProgressDisplay()
            let statistics = try DatasetStatistics.compute(training, channels: channels) { done, total in
                display.simpleProgress("stats", done: done, total: total)
            }
            display.finishLine()
            let text = try json(statistics)
            print(text)
            let isDirectory = data.contains("/") || data.hasPrefix(".")
            if let path = out ?? (isDirectory ? "\(data)/alexnet-stats.json" : nil) {
                try AtomicFile.write(text + "\n", to: path)
                print("wrote \(path)")
            }
        }
    }
}
