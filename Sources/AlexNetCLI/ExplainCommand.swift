import AlexNet
import ArgumentParser
import FoundationEssentials

/// `alexnet explain`: Grad-CAM heat maps of where the network looks.
struct ExplainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Show where the network looks for a class: Grad-CAM heat maps over images.",
        discussion: """
            Grad-CAM (Selvaraju et al. 2017) weighs each map of a convolutional layer's output by \
            the mean gradient of the class's logit with respect to it, and keeps the positive \
            part of the weighted sum: the regions that raise the class's score. The gradients \
            come from the backend's own backward pass through the layers after --layer (default: \
            the last convolution; a convolution is taken after its batch norm and ReLU) in \
            evaluation mode: dropout off, batch norm with its running statistics.

            Each image is one row of the PNG: the crop the network sees, and the same crop with \
            the heat map over it (blue: no effect, red: strongest).

            Examples:
              alexnet explain --checkpoint runs/quick/best.safetensors boot.png --out heat.png
              alexnet explain --checkpoint runs/quick/best.safetensors boot.png --class Sneaker --out heat.png
            """)

    @OptionGroup var model: TrainedModelOptions
    @OptionGroup var compute: ComputeOptions
    @Argument(help: ArgumentHelp("Images to explain (JPEG or PNG).", valueName: "image")) var images: [String]
    @Option(name: .customLong("class"), help: ArgumentHelp("The class to explain, by name or index (default: each image's most probable).", valueName: "class"))
    var className: String?
    @Option(help: ArgumentHelp("The convolutional layer whose maps are weighed (default: the last).", valueName: "name")) var layer: String?
    @Option(help: ArgumentHelp("The PNG file to write.", valueName: "file")) var out: String

    func validate() throws {
        if images.isEmpty { throw ValidationError("give at least one image") }
    }

    func run() throws {
        let trained = try model.load()
        var label: Int?
        if let className {
            guard let found = trained.classNames.firstIndex(of: className) ?? Int(className).flatMap({ trained.classNames.indices.contains($0) ? $0 : nil }) else {
                throw CLIError("--class \(className) is neither a class name nor an index of \(model.path)'s classes: \(trained.classNames.joined(separator: ", "))")
            }
            label = found
        }
        let explainer = try GradCAM(model: trained, layer: layer, backend: try compute.make())
        var rows: [(map: GradCAM.Map, className: String, title: String)] = []
        for path in images {
            let map = try explainer.map(of: try ImageCodec.read(path: path), label: label, source: path)
            let name = trained.classNames[map.label]
            rows.append((map, name, String(path.split(separator: "/").last ?? "")))
            print("\(path): \(name) " + String(format: "%.2f%%", map.probability * 100)
                + " (Grad-CAM on \(explainer.layer), \(map.width)x\(map.height) maps)")
        }
        try AtomicFile.write(bytes: GradCAM.Map.png(rows, layer: explainer.layer), to: out)
        print("wrote \(out)")
    }
}
