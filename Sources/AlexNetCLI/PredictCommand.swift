import AlexNetBackends
import AlexNetCore
import AlexNetData
import AlexNetTraining
import ArgumentParser
import FoundationEssentials

/// `alexnet predict`: the top classes of each image, preprocessed as the checkpoint's run did.
struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Class names and probabilities for images (JPEG or PNG).",
        discussion: """
            Each image is converted to the network's channels, resized and centre-cropped, and \
            normalised exactly as the checkpoint's training run did (the preprocessing is stored \
            in the checkpoint). With --weights, images get torchvision's ImageNet preprocessing             (resize 256, centre crop 224, ImageNet mean and std).
            """)

    @OptionGroup var model: TrainedModelOptions
    @Argument(help: ArgumentHelp("Images to classify.", valueName: "image")) var images: [String]
    @Option(help: "How many classes to show per image.") var top = 5
    @Option(help: "Threads for the cpu backend (default: every core).") var threads: Int?
    @Flag(help: "Print the predictions as JSON.") var json = false

    struct Prediction: Encodable {
        var image: String
        var classes: [Guess]
    }

    struct Guess: Encodable {
        var label: Int
        var name: String
        var probability: Double
    }

    func validate() throws {
        if images.isEmpty { throw ValidationError("give at least one image") }
        if top <= 0 { throw ValidationError("--top must be positive") }
    }

    func run() throws {
        let loaded = try model.load()
        let network = try loaded.network.resolved()
        let plan = try CPUBackend(threads: threads).makeInferencePlan(for: network, batchSize: 1, seed: 0)
        try loaded.fill(plan)
        let preprocessing = loaded.preprocessing
        let names = loaded.classNames
        var predictions: [Prediction] = []
        for path in images {
            let image = preprocessing.geometry(try ImageCodec.read(path: path), training: false, random: Philox(seed: 0), index: 0)
            let shape = Shape(channels: image.channels, height: image.height, width: image.width)
            guard shape == network.inputShape else {
                throw CLIError("\(path): preprocesses to \(shape), but the network takes \(network.inputShape)")
            }
            var input = Tensor(zeros: [1] + shape.dimensions)
            input.scalars.withUnsafeMutableBufferPointer {
                preprocessing.normalize(image, training: false, random: Philox(seed: 0), index: 0, into: $0.baseAddress!)
            }
            var scores = plan.infer(input).scalars
            Metrics.softmax(&scores, rows: 1, classes: names.count)
            let ranked = scores.indices.sorted { scores[$0] > scores[$1] }.prefix(top)
            predictions.append(Prediction(image: path, classes: ranked.map {
                Guess(label: $0, name: names[$0], probability: Double(scores[$0]))
            }))
        }
        if json {
            print(try AlexNetCLI.json(predictions))
            return
        }
        for prediction in predictions {
            print(prediction.image)
            for guess in prediction.classes {
                print(String(format: "  %6.2f%%  ", guess.probability * 100) + "\(guess.name) (\(guess.label))")
            }
        }
    }
}
