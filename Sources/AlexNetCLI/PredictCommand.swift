import AlexNet
import ArgumentParser
import FoundationEssentials

#if canImport(Glibc)
import Glibc
#endif

/// `alexnet predict`: the top classes of each image, preprocessed as the checkpoint's run did.
struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Class names and probabilities for images (JPEG or PNG) or folders of them.",
        discussion: """
            Any image fits the network: it is converted to the network's channels (colour to \
            gray or gray to colour), its shorter side resized and its centre cropped to the \
            network's input, then normalised exactly as the checkpoint's training run did (the \
            preprocessing is stored in the checkpoint). Weights from `alexnet export` carry theirs \
            too; other --weights for an RGB network get torchvision's ImageNet preprocessing \
            (resize 256, centre crop 224, ImageNet mean and std).

            A folder is classified image by image (JPEG and PNG files, sorted by name). An image \
            that cannot be read is reported and skipped; the command then exits with status 1.
            """)

    @OptionGroup var model: TrainedModelOptions
    @OptionGroup var compute: ComputeOptions
    @Argument(help: ArgumentHelp("Images, or folders of images, to classify.", valueName: "image|folder")) var images: [String]
    @Option(parsing: .unconditional, help: "How many classes to show per image.") var top = 5
    @Flag(help: "Print the predictions as JSON.") var json = false
    @Option(help: ArgumentHelp("Also write the predictions to this CSV file (image, rank, label, name, probability).", valueName: "file"))
    var csv: String?
    @Option(help: ArgumentHelp("Also draw each image with its best classes as bars into this PNG (the paper's Figure 4, left).", valueName: "file"))
    var out: String?

    struct Prediction: Encodable {
        var image: String
        var classes: [Classifier.Guess]
    }

    func validate() throws {
        if images.isEmpty { throw ValidationError("give at least one image or folder") }
        if top <= 0 { throw ValidationError("--top must be positive, got \(top)") }
    }

    func run() throws {
        let classifier = try Classifier(model: try model.loadForInference(compute), backend: compute.backend, options: compute.inferenceOptions())
        var predictions: [Prediction] = []
        var failures: [String] = []
        let (files, emptyFolders) = Self.expand(images)
        for folder in emptyFolders {
            failures.append(folder)
            printError("skipped: \(folder) holds no JPEG or PNG files")
        }
        for path in files {
            do {
                predictions.append(Prediction(image: path, classes: try classifier.classify(imageAt: path, top: top)))
            } catch {
                failures.append("\(error)")
                printError("skipped: \(error)")
            }
        }
        if let csv {
            var lines = ["image,rank,label,name,probability"]
            for prediction in predictions {
                for (rank, guess) in prediction.classes.enumerated() {
                    lines.append([Self.csvField(prediction.image), String(rank + 1), String(guess.label), Self.csvField(guess.name),
                                  String(format: "%.6f", guess.probability)].joined(separator: ","))
                }
            }
            try AtomicFile.write(lines.joined(separator: "\n") + "\n", to: csv)
        }
        if let out {
            let panels = try predictions.map { prediction in
                PredictionFigure.Panel(image: try ImageCodec.read(path: prediction.image),
                                       title: String(prediction.image.split(separator: "/").last ?? ""), guesses: prediction.classes)
            }
            try AtomicFile.write(bytes: PredictionFigure.png(panels), to: out)
        }
        if json {
            print(try AlexNetCLI.json(predictions))
        } else {
            for prediction in predictions {
                print(prediction.image)
                for guess in prediction.classes {
                    print(String(format: "  %6.2f%%  ", guess.probability * 100) + "\(guess.name) (\(guess.label))")
                }
            }
        }
        if !failures.isEmpty {
            printError("\(failures.count) of \(failures.count + predictions.count) images (or folders) could not be classified")
            throw ExitCode(1)
        }
    }

    /// Files as given, folders as their JPEG and PNG files sorted by name; and the folders that
    /// hold none.
    static func expand(_ paths: [String]) -> (files: [String], emptyFolders: [String]) {
        var files: [String] = [], empty: [String] = []
        for path in paths {
            var info = stat()
            guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
                files.append(path)
                continue
            }
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
            let images = names.filter(ImageFolder.isImageName)
            if images.isEmpty { empty.append(path) }
            files += images.map { path.hasSuffix("/") ? path + $0 : "\(path)/\($0)" }
        }
        return (files, empty)
    }

    static func csvField(_ text: String) -> String {
        text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + text.replacing("\"", with: "\"\"") + "\"" : text
    }
}

/// A line on standard error.
func printError(_ line: String) {
    fflush(nil)
    let bytes = Array((line + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
}
