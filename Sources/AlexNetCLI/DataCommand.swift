import AlexNetData
import AlexNetInterop
import ArgumentParser
import FoundationEssentials

/// `alexnet data`: look at a dataset before training on it.
struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Get and inspect datasets: download, counts, classes, sample images, pixel statistics.",
        subcommands: [Download.self, Info.self, Stats.self, Bench.self])

    struct Download: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Download CIFAR-10, Fashion-MNIST or MNIST from their official addresses.",
            discussion: """
                Each file is checked against its published SHA-256 before it is put in place, \
                so what is in the folder is always whole. An interrupted download (Ctrl-C, a \
                dropped connection) keeps what it got in NAME.partial and the next run resumes \
                from there; files already present and verified are skipped. cifar10 goes to \
                data/cifar-10-binary.tar.gz, read as is by `--data cifar10`; fashion-mnist and \
                mnist go to data/fashion-mnist and data/mnist (`--data data/mnist`). Debian's \
                dataset-fashion-mnist package, which --data fashion-mnist uses, needs no download.
                """)

        @Argument(help: ArgumentHelp("cifar10, fashion-mnist or mnist.", valueName: "dataset")) var dataset: String
        @Option(help: ArgumentHelp("The folder to put it in (default: data/ for cifar10, data/NAME otherwise).", valueName: "dir"))
        var dir: String?
        @Option(name: .customLong("base-url"), help: ArgumentHelp("Fetch the files from this address instead (a mirror holding the same file names).", valueName: "url"))
        var baseURL: String?

        func validate() throws {
            guard DatasetDownloads.catalog[dataset] != nil else {
                throw ValidationError("unknown dataset '\(dataset)': use \(DatasetDownloads.catalog.keys.sorted().joined(separator: ", "))")
            }
        }

        func run() throws {
            let entry = DatasetDownloads.catalog[dataset]!
            let directory = dir ?? entry.directory
            nonisolated(unsafe) let display = ProgressDisplay()
            let downloader = Downloader { name, done, total in display.byteProgress(name, done: done, total: total) }
            for file in entry.files {
                switch try downloader.fetch(file, into: directory, baseURL: baseURL) {
                case .present:
                    display.note("\(directory)/\(file.name): already there, SHA-256 verified")
                case .downloaded(let resumedAt):
                    display.finishLine()
                    display.note("\(directory)/\(file.name): downloaded\(resumedAt > 0 ? " (resumed at byte \(resumedAt))" : ""), SHA-256 verified")
                }
            }
            let argument = dir == nil ? entry.dataArgument : (dataset == "cifar10" ? "\(directory)/cifar-10-binary.tar.gz" : directory)
            print("\(dataset) is ready: --data \(argument)")
        }
    }

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
        @Flag(name: .customLong("skip-bad-images"), help: "Leave out images that cannot be read or decoded (counted) instead of stopping.")
        var skipBadImages = false

        func run() throws {
            let training = try Datasets.open(data).training
            let channels = try training.image(at: 0).channels
            let display = ProgressDisplay()
            var skipped: [String] = []
            let statistics = try DatasetStatistics.compute(training, channels: channels,
                                                           skipping: skipBadImages ? { skipped.append("\($1)") } : nil) { done, total in
                display.simpleProgress("stats", done: done, total: total)
            }
            display.finishLine()
            if !skipped.isEmpty {
                display.note("skipped \(skipped.count) unreadable image\(skipped.count == 1 ? "" : "s"); the first: \(skipped[0])")
            }
            let text = try json(statistics)
            print(text)
            let isDirectory = data.contains("/") || data.hasPrefix(".")
            if let path = out ?? (isDirectory ? "\(data)/alexnet-stats.json" : nil) {
                try AtomicFile.write(text + "\n", to: path)
                print("wrote \(path)")
            }
        }
    }

    struct Bench: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Images/s of the loader alone: decode, resize, crop, flip, normalise into batches.",
            discussion: """
                Runs the training loader (shuffled, augmented) over --batches batches and reports \
                images per second after the first batch. bench/peers/data_bench.py runs the same \
                pipelines in torchvision for comparison.
                """)

        @Option(help: ArgumentHelp("Dataset name or directory.", valueName: "name|dir")) var data = "fashion-mnist"
        @Option(parsing: .unconditional, help: "Resize the shorter side to this.") var resize: Int?
        @Option(parsing: .unconditional, help: "Random crop of this size.") var crop: Int?
        @Flag(help: "Random horizontal flips.") var flip = false
        @Option(parsing: .unconditional, help: "Examples per batch.") var batch = 128
        @Option(parsing: .unconditional, help: "Loader threads.") var workers = 2
        @Option(parsing: .unconditional, help: "Batches to time.") var batches = 20
        @Flag(help: "Print the result as JSON.") var json = false

        func validate() throws {
            for (name, value, range) in [("--batch", batch, 1...1_000_000), ("--workers", workers, 1...256), ("--batches", batches, 1...1_000_000),
                                         ("--resize", resize ?? 1, 1...65536), ("--crop", crop ?? 1, 1...65536)] where !range.contains(value) {
                throw ValidationError("\(name) must be between \(range.lowerBound) and \(range.upperBound), got \(value)")
            }
        }

        struct Result: Encodable {
            var data: String
            var images: Int
            var seconds: Double
            var imagesPerSecond: Double
            var workers: Int
            var shape: String
        }

        func run() throws {
            let source = try Datasets.open(data).training
            let first = try source.image(at: 0)
            let preprocessing = Preprocessing(channels: first.channels, resize: resize, crop: crop, randomCrop: crop != nil, flip: flip)
            let shape = preprocessing.outputShape(width: first.width, height: first.height)
            let loader = try DataLoader(source: source, preprocessing: preprocessing, shape: shape, batchSize: batch, training: true,
                                        seed: 1, workers: workers, prefetch: 2 * workers)
            let stream = loader.batches(epoch: 0)
            _ = try stream.nextBatch()
            let start = ProgressDisplay.seconds()
            var images = 0
            for _ in 0..<min(batches, loader.batchesPerEpoch - 1) {
                guard var next = try stream.nextBatch() else { break }
                images += next.count
                loader.recycle(&next)  // as the trainer does
            }
            let seconds = ProgressDisplay.seconds() - start
            stream.stop()
            let result = Result(data: data, images: images, seconds: seconds, imagesPerSecond: Double(images) / seconds,
                                workers: workers, shape: "\(shape)")
            if json {
                print(try AlexNetCLI.json(result))
            } else {
                print(String(format: "%@: %d images of %@ in %.2f s: %.0f images/s with %d workers",
                             data, images, "\(shape)", seconds, result.imagesPerSecond, workers))
            }
        }
    }
}
