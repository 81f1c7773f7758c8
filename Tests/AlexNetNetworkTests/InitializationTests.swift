import AlexNetCore
import AlexNetNetwork
import Testing

@Suite struct InitializationTests {
    private func initialize(_ network: Network, _ scheme: Initialization, seed: UInt64) throws
        -> (ResolvedNetwork, [String: [Float]])
    {
        let resolved = try network.resolved()
        let parameters = FloatBuffer(count: resolved.layout.trainableCount, repeating: .nan)
        let state = FloatBuffer(count: resolved.layout.stateCount, repeating: .nan)
        scheme.initialize(resolved, parameters: parameters.pointer, state: state.pointer, seed: seed)
        var tensors: [String: [Float]] = [:]
        for slot in resolved.layout.slots {
            tensors[slot.name] = Array((slot.isTrainable ? parameters : state).view(offset: slot.offset, count: slot.count))
        }
        return (resolved, tensors)
    }

    @Test func papersScheme() throws {
        let (_, tensors) = try initialize(Zoo.paper(classes: 10), .paper, seed: 1)
        for layer in ["conv2", "conv4", "conv5", "fc6", "fc7"] { #expect(tensors["\(layer).bias"]!.allSatisfy { $0 == 1 }, "\(layer)") }
        for layer in ["conv1", "conv3", "fc8"] { #expect(tensors["\(layer).bias"]!.allSatisfy { $0 == 0 }, "\(layer)") }
        let weights = tensors["conv3.weight"]!.map(Double.init)
        let mean = weights.reduce(0, +) / Double(weights.count)
        let std = (weights.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(weights.count)).squareRoot()
        #expect(abs(mean) < 1e-4 && abs(std - 0.01) < 2e-4)
    }

    @Test func xavierAndPytorchBounds() throws {
        let (_, xavier) = try initialize(Zoo.d2lFashion(), .xavier, seed: 2)
        let fc6 = xavier["net.14.weight"]!
        let bound = (6 / Float(6400 + 4096)).squareRoot()
        #expect(fc6.allSatisfy { abs($0) <= bound } && fc6.contains { abs($0) > 0.95 * bound })
        #expect(xavier["net.14.bias"]!.allSatisfy { $0 == 0 })
        let conv1Bound = (6 / Float(1 * 121 + 96 * 121)).squareRoot()
        #expect(xavier["net.0.weight"]!.allSatisfy { abs($0) <= conv1Bound })

        let (_, pytorch) = try initialize(Zoo.torchvision(classes: 10), .pytorch, seed: 3)
        let conv2Bound = 1 / Float(64 * 25).squareRoot()
        #expect(pytorch["features.3.weight"]!.allSatisfy { abs($0) <= conv2Bound })
        #expect(pytorch["features.3.bias"]!.allSatisfy { abs($0) <= conv2Bound } && pytorch["features.3.bias"]!.contains { $0 != 0 })
    }

    @Test func batchNormStartsAtIdentity() throws {
        let (_, tensors) = try initialize(Zoo.cifar10(), .xavier, seed: 4)
        #expect(tensors["bn1.weight"]!.allSatisfy { $0 == 1 } && tensors["bn1.bias"]!.allSatisfy { $0 == 0 })
        #expect(tensors["bn1.running_mean"]!.allSatisfy { $0 == 0 } && tensors["bn1.running_var"]!.allSatisfy { $0 == 1 })
    }

    @Test func sameSeedSameWeightsOtherSeedOtherWeights() throws {
        let network = Zoo.cifar10()
        let (_, a) = try initialize(network, .xavier, seed: 5)
        let (_, b) = try initialize(network, .xavier, seed: 5)
        let (_, c) = try initialize(network, .xavier, seed: 6)
        #expect(a == b)
        #expect(a["conv1.weight"] != c["conv1.weight"])
        #expect(a.values.allSatisfy { $0.allSatisfy(\.isFinite) })
    }

    @Test func layoutIsAlignedAndDisjoint() throws {
        let layout = try Zoo.cifar10().resolved().layout
        var ends = (trainable: 0, state: 0)
        for slot in layout.slots {
            #expect(slot.offset % ParameterLayout.alignment == 0)
            if slot.isTrainable {
                #expect(slot.offset >= ends.trainable)
                ends.trainable = slot.offset + slot.count
            } else {
                #expect(slot.offset >= ends.state)
                ends.state = slot.offset + slot.count
            }
        }
        #expect(ends.trainable == layout.trainableCount && ends.state == layout.stateCount)
    }
}
