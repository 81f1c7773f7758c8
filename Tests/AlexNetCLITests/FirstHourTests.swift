@testable import AlexNetCLI
import AlexNetData
import AlexNetInterop
import AlexNetTraining
import Foundation
import Testing

/// What a new user met in their first hour (issue "A new user's first hour"), each through the
/// real executable.
@Suite(.serialized) struct FirstHourTests {
    /// A short run's arguments: 128 training and 100 validation images, one epoch.
    static func shortRun(_ out: String, _ extra: [String] = []) -> [String] {
        ["train", "--limit", "128", "--val-limit", "100", "--epochs", "1", "--out", out] + extra
    }

    // 1. No silent overwrites; the output folder is checked before the first step.
    @Test func aSecondRunNeverReplacesTheFirst() throws {
        let out = try temporaryDirectory("overwrite")
        let first = try alexnet(Self.shortRun(out))
        #expect(first.status == 0, "\(first.error)")
        let best = try Data(contentsOf: URL(fileURLWithPath: "\(out)/best.safetensors"))
        let second = try alexnet(Self.shortRun(out, ["--lr", "0.5"]))
        #expect(second.status != 0 && second.error.contains("already holds a run") && second.error.contains("--overwrite"),
                "\(second.error)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: "\(out)/best.safetensors")) == best, "the first run's model is intact")
        let replaced = try alexnet(Self.shortRun(out, ["--overwrite", "--seed", "3"]))
        #expect(replaced.status == 0, "\(replaced.error)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: "\(out)/best.safetensors")) != best)
    }

    @Test func anUnwritableOutputFolderStopsBeforeTrainingAndNothingIsLeftBehind() throws {
        let base = try temporaryDirectory("unwritable")
        let file = "\(base)/a-file"
        try Data("x".utf8).write(to: URL(fileURLWithPath: file))
        let blocked = try alexnet(Self.shortRun("\(file)/run"))
        #expect(blocked.status != 0 && blocked.error.contains("\(file)"), "\(blocked.error)")
        #expect(!blocked.output.contains("Training"), "refused before the header")
        // A failure after the folder was made (a bad --data) leaves no empty folder.
        let bad = try alexnet(["train", "--data", "/nonexistent/data", "--out", "\(base)/new/run"])
        #expect(bad.status != 0)
        #expect(!FileManager.default.fileExists(atPath: "\(base)/new"), "empty folders removed")
    }

    // 2. Crashes become messages.
    @Test func impossibleSizesAreRefusedWithNumbers() throws {
        let zero = try alexnet(["evaluate", "--checkpoint", "x.safetensors", "--batch", "0"])
        #expect(zero.status != 0 && zero.error.contains("--batch must be positive"), "\(zero.error)")
        let negative = try alexnet(["bench", "--model", "quick", "--batch", "-3"])
        #expect(negative.status != 0 && negative.error.contains("--batch must be positive"), "\(negative.error)")
        let threads = try alexnet(["bench", "--model", "quick", "--threads", "3000000000"])
        #expect(threads.status != 0 && threads.error.contains("--threads must be between"), "\(threads.error)")
        let loader = try alexnet(["data", "bench", "--batches=-1"])
        #expect(loader.status != 0 && loader.error.contains("--batches must be between"), "\(loader.error)")
        let classes = try alexnet(["bench", "--model", "quick", "--classes", "10000000000000000"])
        #expect(classes.status == 1 && classes.error.contains("too large"), "\(classes.error)")
        let input = try alexnet(["bench", "--model", "quick", "--input", "1x1000000000x1000000000"])
        #expect(input.status == 1 && input.error.contains("too large"), "\(input.error)")
        // (A batch no machine holds, so the test means the same wherever it runs.)
        let huge = try alexnet(["bench", "--model", "quick", "--batch", "100000000", "--steps", "1"])
        #expect(huge.status == 1 && huge.error.contains("GiB") && huge.error.contains("available") && huge.error.contains("try a batch of"),
                "\(huge.error)")
        let directory = try temporaryDirectory("wide")
        try """
            name: wide
            input: 1x28x28
            flatten flatten
            fc1 linear out=100000000
            fc2 linear out=10
            """.write(toFile: "\(directory)/wide.net", atomically: true, encoding: .utf8)
        let wide = try alexnet(["bench", "--model", "\(directory)/wide.net", "--mode", "infer", "--batch", "1", "--steps", "1"])
        #expect(wide.status == 1 && wide.error.contains("parameters alone do not fit"), "\(wide.error)")
    }

    // 3, 4, 6. Any photo in predict, another network in train, exports that load back.
    @Test func photosFoldersAndRoundTrips() throws {
        let out = try temporaryDirectory("photos")
        // The README's tiny network takes 1x28x28: the quick preset's preprocessing follows it.
        try """
            name: tiny
            input: 1x28x28
            conv1  conv     out=8 kernel=3 pad=1
            relu1  relu
            pool1  maxpool  kernel=2 stride=2
            flat   flatten
            fc     linear   out=10
            """.write(toFile: "\(out)/tiny.net", atomically: true, encoding: .utf8)
        let trained = try alexnet(Self.shortRun("\(out)/run", ["--model", "\(out)/tiny.net"]))
        #expect(trained.status == 0, "\(trained.error)")
        #expect(trained.output.contains("epoch 1/1: train loss"), "epoch summaries go to stdout: \(trained.output)")
        #expect(trained.output.contains("1 epoch,"), "\(trained.output)")
        let checkpoint = "\(out)/run/best.safetensors"

        // A 640x480 colour JPEG, a gray PNG, and a broken file, alone and as a folder.
        var photo = Image(width: 640, height: 480, channels: 3)
        for y in 0..<480 { for x in 0..<640 { for c in 0..<3 { photo[x, y, c] = UInt8((x / 3 + y / 5 + 40 * c) % 256) } } }
        let photos = "\(out)/photos"
        try FileManager.default.createDirectory(atPath: photos, withIntermediateDirectories: true)
        try Data(ImageCodec.encodeJPEG(photo)).write(to: URL(fileURLWithPath: "\(photos)/a.jpg"))
        try Data(ImageCodec.encodePNG(try FashionMNIST.test().image(at: 0))).write(to: URL(fileURLWithPath: "\(photos)/b.png"))
        try Data([0xFF, 0xD8, 0xFF, 0x00]).write(to: URL(fileURLWithPath: "\(photos)/c.jpg"))
        let one = try alexnet(["predict", "--checkpoint", checkpoint, "\(photos)/a.jpg"])
        #expect(one.status == 0 && one.output.contains("%"), "\(one.error)")
        let folder = try alexnet(["predict", "--checkpoint", checkpoint, "--top", "2", photos, "--csv", "\(out)/p.csv"])
        #expect(folder.status == 1, "one bad image: exit 1 at the end")
        #expect(folder.output.contains("a.jpg") && folder.output.contains("b.png"), "the others are still classified: \(folder.output)")
        #expect(folder.error.contains("c.jpg") && folder.error.contains("1 of 3 images"), "\(folder.error)")
        try FileManager.default.createDirectory(atPath: "\(out)/empty", withIntermediateDirectories: true)
        let withEmpty = try alexnet(["predict", "--checkpoint", checkpoint, "\(out)/empty", "\(photos)/a.jpg"])
        #expect(withEmpty.status == 1 && withEmpty.output.contains("a.jpg") && withEmpty.error.contains("holds no JPEG or PNG"),
                "\(withEmpty.output) \(withEmpty.error)")
        let figure = try alexnet(["predict", "--checkpoint", checkpoint, "\(photos)/a.jpg", "\(photos)/b.png", "--out", "\(out)/top5.png"])
        #expect(figure.status == 0, "\(figure.error)")
        let picture = try ImageCodec.read(path: "\(out)/top5.png")
        #expect(picture.width == 2 * 200 && picture.height > 128, "two panels side by side")
        let csv = try String(contentsOfFile: "\(out)/p.csv", encoding: .utf8).split(separator: "\n")
        #expect(csv.first == "image,rank,label,name,probability" && csv.count == 1 + 2 * 2, "\(csv)")

        // A weights-only export of the gray network loads back alone, with its preprocessing.
        let export = try alexnet(["export", "--checkpoint", checkpoint, "--out", "\(out)/w.safetensors"])
        #expect(export.status == 0, "\(export.error)")
        let back = try alexnet(["predict", "--weights", "\(out)/w.safetensors", "--json", "\(photos)/a.jpg"])
        let direct = try alexnet(["predict", "--checkpoint", checkpoint, "--json", "\(photos)/a.jpg"])
        #expect(back.status == 0 && back.output == direct.output, "\(back.error)")
        #expect(back.output.contains("\(photos)/a.jpg"), "JSON keeps slashes as they are")

        // int8 (issue 15): quantize on 64 training images; the s8 file evaluates and predicts
        // like the float checkpoint, is not quantized twice, and int8 is refused for training.
        let quantized = try alexnet(["quantize", "--checkpoint", checkpoint, "--calibration", "64", "--method", "minmax",
                                     "--out", "\(out)/q.safetensors"])
        #expect(quantized.status == 0 && quantized.output.contains("relu1  u8") && quantized.output.contains("wrote"),
                "\(quantized.output) \(quantized.error)")
        func top1(_ arguments: [String]) throws -> Double {
            let result = try alexnet(["evaluate", "--limit", "200", "--json"] + arguments)
            let object = try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any]
            return try #require(object?["top1"] as? Double, "\(result.output) \(result.error)")
        }
        let floatTop1 = try top1(["--checkpoint", checkpoint]), int8Top1 = try top1(["--weights", "\(out)/q.safetensors"])
        #expect(abs(floatTop1 - int8Top1) <= 0.02, "float \(floatTop1), int8 \(int8Top1)")
        let int8Predict = try alexnet(["predict", "--weights", "\(out)/q.safetensors", "\(photos)/b.png"])
        #expect(int8Predict.status == 0 && int8Predict.output.contains("%"), "\(int8Predict.error)")
        let onTheFly = try alexnet(["predict", "--checkpoint", checkpoint, "--precision", "int8", "\(photos)/b.png"])
        #expect(onTheFly.status == 0 && onTheFly.output.contains("%") && onTheFly.error.contains("calibrating on 512 training images"),
                "\(onTheFly.error)")
        let qdq = try alexnet(["export", "--weights", "\(out)/q.safetensors", "--out", "\(out)/q.onnx"])
        #expect(qdq.status == 0 && qdq.output.contains("QDQ int8"), "\(qdq.output) \(qdq.error)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: "\(out)/q.onnx")).range(of: Data("QuantizeLinear".utf8)) != nil)
        let twice = try alexnet(["quantize", "--weights", "\(out)/q.safetensors", "--out", "\(out)/qq.safetensors"])
        #expect(twice.status != 0 && twice.error.contains("already quantized"), "\(twice.error)")
        let int8Training = try alexnet(Self.shortRun("\(out)/int8-run", ["--model", "\(out)/tiny.net", "--precision", "int8"]))
        #expect(int8Training.status != 0 && int8Training.error.contains("not int8"), "\(int8Training.error)")

        // The first layer's kernels as a picture (issue "Explain", item 1).
        let filters = try alexnet(["filters", "--checkpoint", checkpoint, "--out", "\(out)/filters.png"])
        #expect(filters.status == 0 && filters.output.contains("8 kernels of 1x3x3") && filters.output.contains("gray"), "\(filters.error)")
        #expect(try ImageCodec.read(path: "\(out)/filters.png").width > 100)
        let notConv = try alexnet(["filters", "--checkpoint", checkpoint, "--layer", "fc", "--out", "\(out)/f.png"])
        #expect(notConv.status != 0 && notConv.error.contains("its convolutions are conv1"), "\(notConv.error)")

        // The text confusion matrix labels each row with its index and name; the curves show
        // accuracy in percent.
        let evaluation = try alexnet(["evaluate", "--checkpoint", checkpoint, "--limit", "100"])
        #expect(evaluation.status == 0 && evaluation.output.contains("  0 T-shirt/top") && evaluation.output.contains("top-5"),
                "\(evaluation.output)")
        #expect(try String(contentsOfFile: "\(out)/run/curves.svg", encoding: .utf8).contains("Accuracy (top-1 %)"))

        // A two-class image folder: no top-5 anywhere.
        let twoClasses = "\(out)/two"
        let test = try FashionMNIST.test()
        for split in ["train", "val"] {
            for (name, label) in [("boot", 9), ("bag", 8)] {
                try FileManager.default.createDirectory(atPath: "\(twoClasses)/\(split)/\(name)", withIntermediateDirectories: true)
                var written = 0
                for index in 0..<200 where test.label(at: index) == label && written < 4 {
                    try Data(ImageCodec.encodePNG(try test.image(at: index))).write(
                        to: URL(fileURLWithPath: "\(twoClasses)/\(split)/\(name)/\(index).png"))
                    written += 1
                }
            }
        }
        let two = try alexnet(["train", "--data", twoClasses, "--model", "\(out)/tiny.net", "--batch", "4", "--epochs", "1",
                               "--out", "\(out)/two-run"])
        #expect(two.status == 0 && two.output.contains("Test accuracy") && !two.output.contains("top-5"), "\(two.output) \(two.error)")
        let twoEvaluation = try alexnet(["evaluate", "--checkpoint", "\(out)/two-run/last.safetensors"])
        #expect(twoEvaluation.status == 0 && !twoEvaluation.output.contains("top-5"), "\(twoEvaluation.output) \(twoEvaluation.error)")

        // Class names of the wrong count are named as such.
        try "one\ntwo\nthree\n".write(toFile: "\(out)/names.txt", atomically: true, encoding: .utf8)
        let names = try alexnet(["predict", "--weights", "\(out)/w.safetensors", "--class-names", "\(out)/names.txt", "\(photos)/a.jpg"])
        #expect(names.status != 0 && names.error.contains("3 class names") && names.error.contains("10 outputs"), "\(names.error)")
    }

    // 5. --resume keeps the run's recipe and says what contradicts it.
    @Test func resumeRefusesContradictions() throws {
        let out = try temporaryDirectory("resume")
        let first = try alexnet(Self.shortRun(out))
        #expect(first.status == 0, "\(first.error)")
        let lr = try alexnet(["train", "--resume", "--out", out, "--lr", "0.5", "--epochs", "2"])
        #expect(lr.status != 0 && lr.error.contains("--lr 0.5 (the run's is 0.02)"), "\(lr.error)")
        let model = try alexnet(["train", "--resume", "--out", out, "--model", "cifar10", "--epochs", "2"])
        #expect(model.status != 0 && model.error.contains("--model cifar10 (the run's is quick)"), "\(model.error)")
        let adam = try alexnet(["train", "--optimizer", "adam", "--momentum", "0.5", "--out", try temporaryDirectory("adam")])
        #expect(adam.status != 0 && adam.error.contains("--momentum"), "\(adam.error)")
        let more = try alexnet(["train", "--resume", "--out", out, "--epochs", "2", "--limit", "128", "--val-limit", "100",
                                "--input", "1,46,46"])
        #expect(more.status == 0 && more.output.contains("the run had 1 epoch; training to 2"), "\(more.output) \(more.error)")
        let config = try temporaryDirectory("adam-config")
        let recipe = try alexnet(["train", "--preset", "cifar10", "--print-config"])
        try recipe.output.write(toFile: "\(config)/adam.json", atomically: true, encoding: .utf8)
        let adamConfig = try alexnet(["train", "--config", "\(config)/adam.json", "--momentum", "0.5", "--out", config])
        #expect(adamConfig.status != 0 && adamConfig.error.contains("--momentum"), "\(adamConfig.error)")
        let crop = try alexnet(["train", "--resize", "32", "--crop", "28", "--out", try temporaryDirectory("crop")])
        #expect(crop.status != 0 && crop.error.contains("a crop of 28 cannot feed quick"), "\(crop.error)")
    }

    // 7. Messages that say what to do.
    @Test func messagesNameTheProblemAndTheWayOut() throws {
        let typo = try alexnet(["trian"])
        #expect(typo.status != 0 && typo.error.contains("Did you mean 'train'?"), "\(typo.error)")
        let negative = try alexnet(["train", "--lr", "-1"])
        #expect(negative.error.contains("--lr must be positive, got -1"), "\(negative.error)")
        let paper = try alexnet(["train", "--preset", "paper", "--out", try temporaryDirectory("paper")])
        #expect(paper.status != 0 && paper.error.contains("give --data") && !paper.output.contains("--data ` "),
                "\(paper.output) \(paper.error)")
        let recipe = try alexnet(["train", "--preset", "paper", "--data", "/some/images", "--print-config"])
        #expect(recipe.status == 0 && recipe.output.hasPrefix("{"), "the recipe alone on stdout: \(recipe.output)")
        let file = try temporaryDirectory("file") + "/data.bin"
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: file))
        let data = try alexnet(["train", "--data", file, "--out", try temporaryDirectory("d")])
        #expect(data.status != 0 && data.error.contains("is a file, not a dataset") && data.error.contains("image folder"), "\(data.error)")
        let onnx = try alexnet(["evaluate", "--checkpoint", "model.onnx"])
        #expect(onnx.status != 0 && onnx.error.contains("is an ONNX model"), "\(onnx.error)")
    }

    // 8. The terminal.
    @Test func progressLinesFitTheTerminal() {
        for columns in [40, 60, 80, 200] {
            let line = ProgressDisplay.line(prefix: "epoch 1/4", fraction: 0.5,
                                            suffix: "234/468 627 img/s loss 1.0435 acc 61.03% lr 0.01 ETA 0:37", columns: columns)
            #expect(line.count < columns, "\(columns): \(line)")
        }
        #expect(ProgressDisplay.line(prefix: "epoch 1/4", fraction: 0.5, suffix: "1/2", columns: 80).contains("[############------------]"))
        #expect(Plot.roundTicks(0.26...0.91) == [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])
        #expect(Plot.roundTicks(14.2...89.7) == [20, 40, 60, 80])
    }

    // 9. Help that tells the truth.
    @Test func helpSaysWhatExists() throws {
        let top = try alexnet(["--help"])
        #expect(top.output.contains("quick") && top.output.contains("serve") && top.output.contains("explain")
                && top.output.contains("neighbors") && top.output.contains("features") && top.output.contains("experiment"), "\(top.output)")
        let serve = try alexnet(["serve", "--help"])
        #expect(serve.output.contains("/predictions/NAME") && serve.output.contains("/v2/models/NAME/infer") && serve.output.contains("--max-batch"),
                "\(serve.output)")
        let train = try alexnet(["train", "--help"])
        #expect(train.output.contains("sgd|adam") && train.output.contains("constant|step|plateau")
                && train.output.contains("--print-config") && train.output.contains("cpu (oneDNN")
                && train.output.contains("onecycle") && train.output.contains("--from") && train.output.contains("--patience <n>"), "\(train.output)")
        let bench = try alexnet(["bench", "--help"])
        #expect(!bench.output.contains("compare.sh"))
        let predict = try alexnet(["predict", "--help"])
        #expect(!predict.output.contains("   (resize") && !predict.output.contains("  (resize"), "\(predict.output)")
        let out = try temporaryDirectory("config")
        let printed = try alexnet(["train", "--preset", "cifar10", "--epochs", "7", "--print-config"])
        #expect(printed.status == 0 && printed.output.contains("\"epochs\" : 7"), "\(printed.output)")
        try printed.output.write(toFile: "\(out)/recipe.json", atomically: true, encoding: .utf8)
        let again = try alexnet(["train", "--config", "\(out)/recipe.json", "--batch", "64", "--print-config"])
        #expect(again.output.contains("\"epochs\" : 7") && again.output.contains("\"batchSize\" : 64")
                && again.output.contains("\"model\" : \"cifar10\""), "\(again.output)")
        // The augmentation and loss options go into the recipe; a bad value is refused.
        let augmented = try alexnet(["train", "--pad", "3", "--flip", "--label-smoothing", "0.2", "--print-config"])
        #expect(augmented.output.contains("\"pad\" : 3") && augmented.output.contains("\"randomCrop\" : true")
                && augmented.output.contains("\"flip\" : true") && augmented.output.contains("\"labelSmoothing\" : 0.2"), "\(augmented.output)")
        let plain = try alexnet(["train", "--preset", "fashion", "--no-flip", "--print-config"])
        #expect(plain.output.contains("\"flip\" : false") && plain.output.contains("\"model\" : \"fashion\""), "\(plain.output)")
        let smoothing = try alexnet(["train", "--label-smoothing", "1"])
        #expect(smoothing.status != 0 && smoothing.error.contains("--label-smoothing must be at least 0 and below 1, got 1.0"), "\(smoothing.error)")
    }
}
