import AlexNetCore
import AlexNetNetwork
import Testing

@Suite struct NetworkFileTests {
    @Test(arguments: Zoo.names)
    func presetsRoundTrip(name: String) throws {
        let network = Zoo.preset(name)!
        let text = NetworkFile.format(network)
        let parsed = try NetworkFile.parse(text, source: "\(name).net")
        #expect(parsed.isEquivalent(to: network))
        #expect(parsed.name == network.name && parsed.description == network.description)
        #expect(NetworkFile.format(parsed) == text)
    }

    @Test func everyLayerKindRoundTripsWithNonDefaultValues() throws {
        let layers: [any Layer] = [
            Convolution(outputChannels: 8, kernelSize: 3, stride: 2, padding: 1, groups: 2, hasBias: false),
            BatchNorm(epsilon: 0.001, momentum: 0.01), Tanh(), Sigmoid(),
            LocalResponseNorm(size: 3, alpha: 0.001, beta: 0.5, k: 1, convention: .averaged),
            AveragePool(kernelSize: 2, stride: 1, padding: 1, includePadding: false),
            MaxPool(kernelSize: 2, stride: 2, padding: 1), AdaptiveAveragePool(outputSize: 2),
            Flatten(), Dropout(probability: 0.25), Linear(outputFeatures: 4, hasBias: false), ReLU(),
        ]
        #expect(Set(layers.map { type(of: $0).kind }) == Set(LayerKinds.all.map { $0.kind }))
        let network = Network(name: "all", description: "every kind", inputShape: Shape(channels: 2, height: 9, width: 9),
                              layers: layers.enumerated().map { NamedLayer("l\($0.offset)", $0.element) },
                              initialization: .xavier)
        let parsed = try NetworkFile.parse(NetworkFile.format(network))
        #expect(parsed.isEquivalent(to: network))
        _ = try parsed.resolved()
    }

    @Test func handWrittenFileWithComments() throws {
        let text = """
            # a small net
            name: tiny
            input: 1x8x8   # grayscale
            init: paper

            c1 conv out=4 kernel=3 pad=1
            r1 relu
            p1 maxpool              # defaults: kernel=3 stride=2
            f  flatten
            fc linear out=10
            """
        let network = try NetworkFile.parse(text)
        #expect(network.name == "tiny" && network.initialization == .paper && network.layers.count == 5)
        #expect(try network.resolved().outputShape == Shape(features: 10))
        #expect(network.layers[2].layer.isEqual(to: MaxPool(kernelSize: 3, stride: 2)))
    }

    @Test(arguments: [
        ("input: 1x8x8\nc conv out=4", "net:2: layer 'c': missing attribute 'kernel'"),
        ("input: 1x8x8\nc conv out=4 kernel=3 strid=2", "net:2: layer 'c': unknown attribute 'strid' for conv"),
        ("input: 1x8x8\nc convolution out=4", "net:2: unknown layer kind 'convolution'"),
        ("input: 1x8x8\nc conv out=four kernel=3", "net:2: layer 'c': 'out=four' is not an integer"),
        ("input: 1x8x8\nc conv out=4 kernel=3 out=5", "net:2: attribute 'out' is given twice"),
        ("input: 1x8x8\nc conv out", "net:2: 'out' is not a key=value attribute"),
        ("input: 1x8x8\nc lrn convention=caffe", "net:2: layer 'c': 'convention=caffe' must be one of paper, averaged"),
        ("input: 8y8", "net:1: input '8y8' is not a shape"),
        ("input: 1x8x8\ninit: random", "net:2: init 'random' must be one of paper, xavier, pytorch"),
        ("inputs: 1x8x8", "net:1: unknown setting 'inputs:'"),
        ("c relu", "net: no 'input:' line"),
        ("input: 1x8x8\nlonely", "net:2: a layer line needs a name and a kind"),
    ])
    func errorsNameTheLineAndTheProblem(text: String, message: String) {
        do {
            _ = try NetworkFile.parse(text, source: "net")
            Issue.record("parsed: \(text)")
        } catch {
            #expect("\(error)".hasPrefix(message), "\(error)")
        }
    }

    @Test func imageNetStemOnCifarFromAFile() throws {
        let text = """
            input: 3x32x32
            conv1 conv out=96 kernel=11 stride=4
            pool1 maxpool
            conv2 conv out=256 kernel=5 pad=2
            pool2 maxpool
            """
        #expect(throws: NetworkError.self) { try NetworkFile.parse(text).resolved() }
    }
}
