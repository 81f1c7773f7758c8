import AlexNet
import ArgumentParser
import FoundationEssentials

/// `alexnet filters`: a convolution's kernels as a picture (the paper's Figure 3).
struct FiltersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "filters",
        abstract: "Draw a convolution's kernels as a grid of tiles (the paper's Figure 3).",
        discussion: """
            Each kernel is one tile, scaled to its own range (its smallest weight black, its \
            largest white) and enlarged so that small kernels are visible. Kernels over three \
            input channels are drawn in colour (red, green, blue); over one, in gray; over more \
            (--layer conv2 and deeper), as the mean over their input channels, in gray. Where the \
            next convolution groups its input (the paper network's two towers), each group is \
            drawn as its own block, as in the paper's figure.

            Examples:
              alexnet filters --checkpoint runs/quick/best.safetensors --out conv1.png
              alexnet filters --weights alexnet.safetensors --model torchvision --out conv1.png
            """)

    @OptionGroup var model: TrainedModelOptions
    @Option(help: ArgumentHelp("The convolution to draw (default: the first).", valueName: "name")) var layer: String?
    @Option(help: ArgumentHelp("The PNG file to write.", valueName: "file")) var out: String

    func run() throws {
        let (network, plan) = try model.load().onHost()
        let grid = try FilterGrid(network: network, plan: plan, layer: layer)
        try AtomicFile.write(bytes: grid.png(), to: out)
        print("wrote \(grid.layer)'s \(grid.outputs) kernels of \(grid.inputs)x\(grid.size)x\(grid.size) to \(out): "
            + grid.rendering.rawValue + (grid.blocks > 1 ? ", \(grid.blocks) towers as the next convolution groups them" : ""))
    }
}
