import AlexNetCore
import AlexNetNetwork
import Testing

@Suite struct ZooTests {
    /// SPEC.md section 1's parameter counts.
    @Test(arguments: [
        ("paper", 60_965_224), ("paper-1gpu", 62_378_344), ("torchvision", 61_100_840), ("d2l-fashion", 46_764_746),
    ])
    func parameterCounts(name: String, count: Int) throws {
        #expect(try Zoo.preset(name)!.resolved().parameterCount == count)
    }

    @Test func paperShapesAndCost() throws {
        let paper = try Zoo.preset("paper")!.resolved()
        // "about 724 million MACs per image" (convolutions and linear layers).
        #expect(paper.multiplyAccumulates == 724_406_816)
        let shapes = Dictionary(uniqueKeysWithValues: paper.layers.map { ($0.name, $0.outputShape.description) })
        #expect(shapes["conv1"] == "96x55x55" && shapes["pool1"] == "96x27x27")
        #expect(shapes["conv2"] == "256x27x27" && shapes["pool2"] == "256x13x13")
        #expect(shapes["conv5"] == "256x13x13" && shapes["pool5"] == "256x6x6")
        #expect(shapes["flatten"] == "9216" && shapes["fc8"] == "1000")
        #expect(paper.layers.first { $0.name == "conv2" }!.parameters[0].shape == [256, 48, 5, 5])
    }

    @Test func otherPresetsShapes() throws {
        let d2l = try Zoo.preset("d2l-fashion")!.resolved()
        let d2lShapes = d2l.layers.map(\.outputShape.description)
        #expect(d2lShapes[0] == "96x54x54" && d2lShapes[2] == "96x26x26" && d2lShapes[5] == "256x12x12")
        #expect(d2lShapes[12] == "256x5x5" && d2lShapes[13] == "6400" && d2l.outputShape.description == "10")
        let cifar = try Zoo.preset("cifar10")!.resolved()
        let cifarShapes = Dictionary(uniqueKeysWithValues: cifar.layers.map { ($0.name, $0.outputShape.description) })
        #expect(cifarShapes["conv1"] == "96x30x30" && cifarShapes["pool1"] == "96x14x14")
        #expect(cifarShapes["conv2"] == "256x12x12" && cifarShapes["pool2"] == "256x5x5")
        #expect(cifarShapes["pool5"] == "256x2x2" && cifarShapes["flatten"] == "1024")
        // fashion: AlexNet's order of layers at 28x28, batch norm after each convolution.
        let fashion = try Zoo.preset("fashion")!.resolved()
        let fashionShapes = Dictionary(uniqueKeysWithValues: fashion.layers.map { ($0.name, $0.outputShape.description) })
        #expect(fashionShapes["conv1"] == "32x28x28" && fashionShapes["pool1"] == "32x13x13" && fashionShapes["pool2"] == "64x6x6")
        #expect(fashionShapes["conv5"] == "64x6x6" && fashionShapes["pool5"] == "64x2x2" && fashionShapes["flatten"] == "256")
        #expect(fashion.layers.filter { $0.layer is Convolution }.count == 5 && fashion.layers.filter { $0.layer is Linear }.count == 3)
        #expect(fashion.layers.filter { $0.layer is BatchNorm }.count == 5 && fashion.outputShape.description == "10")
        let torchvision = try Zoo.preset("torchvision")!.resolved()
        #expect(torchvision.layout.slots.map(\.name) == [
            "features.0.weight", "features.0.bias", "features.3.weight", "features.3.bias",
            "features.6.weight", "features.6.bias", "features.8.weight", "features.8.bias",
            "features.10.weight", "features.10.bias", "classifier.1.weight", "classifier.1.bias",
            "classifier.4.weight", "classifier.4.bias", "classifier.6.weight", "classifier.6.bias",
        ])
    }

    @Test func classesAndInputAreOptions() throws {
        let network = try Zoo.network("paper", classes: 10, input: Shape(channels: 1, height: 227, width: 227),
                                      readFile: { _ in "" }).resolved()
        #expect(network.outputShape.description == "10")
        #expect(network.layers[0].parameters[0].shape == [96, 1, 11, 11])
        #expect(throws: ZooError.self) { try Zoo.network("paper", classes: 0, readFile: { _ in "" }) }
    }

    /// SPEC.md section 1: the ImageNet stem on 32x32 images cannot work; the error names the
    /// layer and the sizes.
    @Test func theImageNetStemOnCifarFailsNamingTheLayer() throws {
        let network = try Zoo.network("paper", input: Shape(channels: 3, height: 32, width: 32), readFile: { _ in "" })
        #expect(throws: NetworkError.self) { try network.resolved() }
        do {
            _ = try network.resolved()
        } catch let error as NetworkError {
            guard case let .shape(layer, index, kind, input, _) = error else {
                Issue.record("wrong error \(error)")
                return
            }
            #expect(layer == "pool2" && index == 7 && kind == "maxpool" && input.description == "256x2x2")
            #expect(error.description.contains("3x3 window does not fit a 2x2 input"))
        }
        let torchvisionStem = try Zoo.network("torchvision", input: Shape(channels: 3, height: 32, width: 32), readFile: { _ in "" })
        #expect(throws: NetworkError.self) { try torchvisionStem.resolved() }
    }

    @Test func duplicateAndEmptyNetworksAreRejected() {
        let duplicate = Network(name: "d", inputShape: Shape(features: 3),
                                layers: [NamedLayer("a", ReLU()), NamedLayer("a", ReLU())])
        #expect(throws: NetworkError.duplicateName("a")) { try duplicate.resolved() }
        #expect(throws: NetworkError.empty(network: "e")) { try Network(name: "e", inputShape: Shape(features: 3), layers: []).resolved() }
    }

    @Test func summaryTotals() throws {
        let summary = Summary(try Zoo.preset("paper")!.resolved())
        #expect(summary.parameters == 60_965_224 && summary.parameterBytes == 4 * 60_965_224)
        #expect(summary.layers.count == 23 && summary.layers[0].configuration == "11x11/4 p0")
        #expect(summary.layers[4].configuration == "5x5/1 p2 g2")
        // Inference peak: relu1's input and output, 96x55x55 each.
        #expect(summary.inferenceActivationBytesPerImage == 4 * 2 * 96 * 55 * 55)
        #expect(summary.trainingActivationBytesPerImage > 4 * (3 * 227 * 227 + 4 * 96 * 55 * 55))
        #expect(summary.table.contains("60,965,224") && summary.table.contains("724,406,816"))
        let cifar = Summary(try Zoo.preset("cifar10")!.resolved())
        #expect(cifar.stateScalars == 2 * (96 + 256))
    }
}
