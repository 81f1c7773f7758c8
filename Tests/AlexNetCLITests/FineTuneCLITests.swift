import AlexNetData
import AlexNetInterop
import Foundation
import Testing

/// `alexnet train --from`: torchvision-named weights exported from PyTorch
/// (Tests/Fixtures/pytorch/tiny-torchvision.safetensors, a narrow torchvision AlexNet) fine-tuned
/// on a small RGB image folder of 3 classes.
@Suite struct FineTuneCLITests {
    static let weights = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/pytorch/tiny-torchvision.safetensors").path

    /// DIR/{train,val}/{red,green,blue}/*.png: 40x40 RGB images, noisy, one colour dominant.
    static func folder() throws -> String {
        let root = try temporaryDirectory("finetune")
        for (part, count) in [("train", 8), ("val", 4)] {
            for (c, name) in ["red", "green", "blue"].enumerated() {
                let folder = "\(root)/\(part)/\(name)"
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                for i in 0..<count {
                    var image = Image(width: 40, height: 40, channels: 3)
                    for y in 0..<40 {
                        for x in 0..<40 {
                            for k in 0..<3 { image[x, y, k] = UInt8((k == c ? 150 : 40) + (x * 7 + y * 13 + i * 31 + k * 5) % 60) }
                        }
                    }
                    try Data(ImageCodec.encodePNG(image)).write(to: URL(fileURLWithPath: "\(folder)/\(i).png"))
                }
            }
        }
        // The fixture's network file (torchvision's layer names and module order).
        try FileManager.default.copyItem(atPath: URL(fileURLWithPath: weights).deletingPathExtension().appendingPathExtension("net").path,
                                         toPath: "\(root)/tiny-torchvision.txt")
        return root
    }

    /// Loads what fits, says so tensor by tensor, trains the head with the features frozen
    /// (their tensors in the checkpoint are the file's, bit for bit), and resumes with the
    /// freeze still in force.
    @Test func fineTunesWithFrozenFeatures() throws {
        let root = try Self.folder()
        let out = "\(root)/run"
        let result = try alexnet(["train", "--preset", "finetune", "--model", "\(root)/tiny-torchvision.txt", "--data", root,
                                  "--from", Self.weights, "--classes", "3", "--freeze", "features.*", "--head-lr", "0.01",
                                  "--epochs", "1", "--batch", "8", "--out", out])
        #expect(result.status == 0, "\(result.error)")
        for line in ["14 of 16 tensors loaded", "loaded features.0.weight [8, 3, 11, 11]",
                     "new    classifier.6.weight [3, 64] (the file's is [10, 64])",
                     "frozen (no update, no weight gradient): features.0, features.3, features.6, features.8, features.10",
                     "new head: classifier.6 (learning rate 0.01)", "normalisation from the weights: mean [0.485, 0.456, 0.406]",
                     "Test accuracy:"] {
            #expect(result.output.contains(line), "missing '\(line)' in \(result.output)")
        }
        let resumed = try alexnet(["train", "--out", out, "--resume", "--epochs", "2"])
        #expect(resumed.status == 0, "\(resumed.error)")
        let (trained, original) = (try SafeTensors(path: "\(out)/last.safetensors"), try SafeTensors(path: Self.weights))
        for name in ["features.0.weight", "features.10.bias"] {
            #expect(try trained.floats(name) == original.floats(name), "\(name) moved")
        }
        #expect(try trained.floats("classifier.1.weight") != original.floats("classifier.1.weight"), "the classifier trains")
    }

    /// Opt-in: the full-size torchvision weights named by ALEXNET_TORCHVISION_WEIGHTS (the real
    /// ImageNet file converted as the README shows, or the seeded stand-in of
    /// `scripts/make_finetune_fixture.py --full`) fine-tune `--model torchvision` for a step.
    @Test func fullSizeTorchvisionWeightsFineTune() throws {
        guard let weights = ProcessInfo.processInfo.environment["ALEXNET_TORCHVISION_WEIGHTS"] else { return }
        let root = try Self.folder()
        let result = try alexnet(["train", "--preset", "finetune", "--from", weights, "--data", root, "--classes", "3",
                                  "--freeze", "features.*", "--head-lr", "0.01", "--epochs", "1", "--batch", "24",
                                  "--out", "\(root)/run"])
        #expect(result.status == 0, "\(result.error)")
        #expect(result.output.contains("14 of 16 tensors loaded")
            && result.output.contains("new    classifier.6.weight [3, 4096] (the file's is [1000, 4096])"), "\(result.output)")
        let (trained, original) = (try SafeTensors(path: "\(root)/run/last.safetensors"), try SafeTensors(path: weights))
        #expect(try trained.floats("features.10.weight") == original.floats("features.10.weight"))
    }

    /// Mistakes get errors that say what to do.
    @Test func refusesWhatCannotWork() throws {
        let root = try Self.folder()
        let model = "\(root)/tiny-torchvision.txt"
        let common = ["train", "--preset", "finetune", "--data", root, "--epochs", "1", "--batch", "8"]
        let wrongClasses = try alexnet(common + ["--model", model, "--from", Self.weights, "--classes", "5", "--out", "\(root)/a"])
        #expect(wrongClasses.status != 0 && wrongClasses.error.contains("--classes 5, but \(root) has 3 classes"), "\(wrongClasses.error)")
        let noMatch = try alexnet(common + ["--model", model, "--from", Self.weights, "--freeze", "conv*", "--out", "\(root)/b"])
        #expect(noMatch.status != 0 && noMatch.error.contains("--freeze 'conv*' matches no layer"), "\(noMatch.error)")
        let foreign = try alexnet(common + ["--model", "quick", "--from", Self.weights, "--out", "\(root)/c"])
        #expect(foreign.status != 0 && foreign.error.contains("no tensor of \(Self.weights) fits"), "\(foreign.error)")
        let withoutFrom = try alexnet(common + ["--model", model, "--freeze", "features.*", "--out", "\(root)/d"])
        #expect(withoutFrom.status != 0 && withoutFrom.error.contains("--from"), "\(withoutFrom.error)")
        let changed = try alexnet(["train", "--out", "\(root)/e", "--resume", "--head-lr", "0.1"])
        #expect(changed.status != 0)
    }
}
