// Usage: swift run ClassifyImage CHECKPOINT IMAGE
import AlexNet

let classifier = try Classifier(checkpoint: CommandLine.arguments[1])
for guess in try classifier.classify(imageAt: CommandLine.arguments[2], top: 3) {
    print("\(guess.name): \(guess.probability)")
}
