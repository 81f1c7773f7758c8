import AlexNet
import AlexNetData
import Foundation
import Testing

/// `features`, `neighbors` and `explain` on a small image folder of real Fashion-MNIST boots and
/// bags, with a network trained for one epoch.
@Suite(.serialized) struct ExplainCLITests {
    static let network = """
        name: tiny-features
        input: 1x28x28

        conv1    conv     out=8 kernel=3 pad=1
        relu1    relu
        pool1    maxpool  kernel=2 stride=2
        flatten  flatten
        fc1      linear   out=64
        relu2    relu
        fc2      linear   out=2
        """

    /// The folder, the network file and two checkpoints trained with different seeds.
    static func setUp() throws -> (out: String, data: String, checkpoint: String, other: String, image: String) {
        let out = try temporaryDirectory("explain")
        let data = "\(out)/boots-and-bags"
        let test = try FashionMNIST.test()
        for split in ["train", "val"] {
            for (name, label) in [("boot", 9), ("bag", 8)] {
                try FileManager.default.createDirectory(atPath: "\(data)/\(split)/\(name)", withIntermediateDirectories: true)
                var written = 0
                for index in (split == "train" ? 0..<400 : 400..<800) where test.label(at: index) == label && written < 8 {
                    try Data(ImageCodec.encodePNG(try test.image(at: index))).write(to: URL(fileURLWithPath: "\(data)/\(split)/\(name)/\(index).png"))
                    written += 1
                }
            }
        }
        try network.write(toFile: "\(out)/tiny.net", atomically: true, encoding: .utf8)
        for seed in ["1", "2"] {
            let trained = try alexnet(["train", "--data", data, "--model", "\(out)/tiny.net", "--batch", "4", "--epochs", "1",
                                       "--seed", seed, "--out", "\(out)/run\(seed)"])
            #expect(trained.status == 0, "\(trained.error)")
        }
        return (out, data, "\(out)/run1/best.safetensors", "\(out)/run2/best.safetensors", "\(data)/val/boot/" + (try firstFile("\(data)/val/boot")))
    }

    static func firstFile(_ folder: String) throws -> String {
        try FileManager.default.contentsOfDirectory(atPath: folder).sorted()[0]
    }

    @Test func featuresNeighborsAndExplain() throws {
        let (out, data, checkpoint, other, image) = try Self.setUp()
        let train = try alexnet(["features", "--checkpoint", checkpoint, "--split", "train", "--codes", "64", "--out", "\(out)/train.st"])
        #expect(train.status == 0 && train.output.contains("16 x 64 features of relu2, 64-bit codes"), "\(train.output) \(train.error)")
        let test = try alexnet(["features", "--checkpoint", checkpoint, "--split", "test", "--out", "\(out)/test.st"])
        #expect(test.status == 0, "\(test.error)")

        // A row of the index as the query: itself left out, k results, nearest first.
        let own = try alexnet(["neighbors", "--index", "\(out)/train.st", "--query-index", "0", "--k", "3", "--json"])
        #expect(own.status == 0, "\(own.error)")
        let results = try JSONSerialization.jsonObject(with: Data(own.output.utf8)) as! [[String: Any]]
        let neighbors = results[0]["neighbors"] as! [[String: Any]]
        #expect(neighbors.count == 3 && !neighbors.contains { $0["row"] as! Int == 0 })
        #expect((neighbors[0]["image"] as! String).hasPrefix("\(data)/train/"), "image folders name each row's file")

        // An image file as the query, with the figure; then binary codes re-ranked.
        let grid = try alexnet(["neighbors", "--index", "\(out)/train.st", "--checkpoint", checkpoint, image, "--k", "4", "--out", "\(out)/grid.png"])
        #expect(grid.status == 0 && grid.output.contains("searched 16 images for 1 query"), "\(grid.output) \(grid.error)")
        #expect(try ImageCodec.read(path: "\(out)/grid.png").width > 4 * 96)
        let codes = try alexnet(["neighbors", "--index", "\(out)/train.st", "--codes", "--rerank", "8", "--query-index", "3", "--k", "2"])
        #expect(codes.status == 0 && codes.output.contains("64-bit codes, top 8 re-ranked"), "\(codes.output) \(codes.error)")
        let evaluation = try alexnet(["neighbors", "--index", "\(out)/train.st", "--evaluate", "\(out)/test.st", "--depth", "5"])
        #expect(evaluation.status == 0 && evaluation.output.contains("P@10") && evaluation.output.contains("64-bit codes"),
                "\(evaluation.output) \(evaluation.error)")

        // Mistakes named: another model's weights, another layer's index, k past the index,
        // a layer the model lacks, codes the index does not have.
        let foreign = try alexnet(["neighbors", "--index", "\(out)/train.st", "--checkpoint", other, image])
        #expect(foreign.status != 0 && foreign.error.contains("made with other weights"), "\(foreign.error)")
        let conv = try alexnet(["features", "--checkpoint", checkpoint, "--layer", "conv1", "--limit", "4", "--out", "\(out)/conv.st"])
        #expect(conv.status == 0 && conv.output.contains("4 x 6272 features of relu1"), "\(conv.output) \(conv.error)")
        let mixed = try alexnet(["neighbors", "--index", "\(out)/train.st", "--evaluate", "\(out)/conv.st"])
        #expect(mixed.status != 0 && mixed.error.contains("same model and layer"), "\(mixed.error)")
        let tooMany = try alexnet(["neighbors", "--index", "\(out)/train.st", "--query-index", "0", "--k", "16"])
        #expect(tooMany.status != 0 && tooMany.error.contains("more than the 15 images"), "\(tooMany.error)")
        let noLayer = try alexnet(["features", "--checkpoint", checkpoint, "--layer", "fc7", "--out", "\(out)/x.st"])
        #expect(noLayer.status != 0 && noLayer.error.contains("has no layer 'fc7'; its layers are conv1, relu1"), "\(noLayer.error)")
        let noCodes = try alexnet(["neighbors", "--index", "\(out)/test.st", "--codes", "--query-index", "0"])
        #expect(noCodes.status != 0 && noCodes.error.contains("has no binary codes"), "\(noCodes.error)")
        let notIndex = try alexnet(["neighbors", "--index", checkpoint, "--query-index", "0"])
        #expect(notIndex.status != 0 && notIndex.error.contains("is not a feature index"), "\(notIndex.error)")

        // Grad-CAM: the most probable class, or the one asked for; unknown classes refused.
        let explain = try alexnet(["explain", "--checkpoint", checkpoint, image, "--out", "\(out)/heat.png"])
        #expect(explain.status == 0 && explain.output.contains("Grad-CAM on relu1, 28x28 maps"), "\(explain.output) \(explain.error)")
        #expect(try ImageCodec.read(path: "\(out)/heat.png").width == 2 * 224 + 36)
        let chosen = try alexnet(["explain", "--checkpoint", checkpoint, image, "--class", "bag", "--out", "\(out)/bag.png"])
        #expect(chosen.status == 0 && chosen.output.contains(": bag "), "\(chosen.output) \(chosen.error)")
        let unknown = try alexnet(["explain", "--checkpoint", checkpoint, image, "--class", "hat", "--out", "\(out)/hat.png"])
        #expect(unknown.status != 0 && unknown.error.contains("neither a class name nor an index"), "\(unknown.error)")

        // A corrupt image stops `features`, naming it, unless --skip-bad-images leaves it out:
        // then the index holds the other rows, each with its own file.
        let bags = try FileManager.default.contentsOfDirectory(atPath: "\(data)/val/bag").sorted()
        let corrupt = "\(data)/val/bag/\(bags[1])"
        try Data("not a png".utf8).write(to: URL(fileURLWithPath: corrupt))
        let stops = try alexnet(["features", "--checkpoint", checkpoint, "--split", "test", "--out", "\(out)/bad.st"])
        #expect(stops.status != 0 && stops.error.contains(bags[1]) && stops.error.contains("--skip-bad-images leaves"), "\(stops.error)")
        #expect(!FileManager.default.fileExists(atPath: "\(out)/bad.st"))
        let skips = try alexnet(["features", "--checkpoint", checkpoint, "--split", "test", "--skip-bad-images", "--out", "\(out)/skip.st"])
        #expect(skips.status == 0 && skips.output.contains("15 x 64 features") && skips.error.contains("skipped 1 unreadable image"),
                "\(skips.output) \(skips.error)")
        let (full, skipped) = (try FeatureIndex(path: "\(out)/test.st"), try FeatureIndex(path: "\(out)/skip.st"))
        let paths = try #require(skipped.paths)
        #expect(paths == (full.paths ?? []).filter { $0 != corrupt } && skipped.labels == zip(full.paths ?? [], full.labels).filter { $0.0 != corrupt }.map(\.1))
        let kept = try #require(full.paths?.firstIndex(of: paths[5]))
        #expect(Array(skipped.features[(5 * 64)..<(6 * 64)]) == Array(full.features[(kept * 64)..<((kept + 1) * 64)]), "rows stay with their files")
    }
}
