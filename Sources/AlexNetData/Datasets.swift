#if canImport(Glibc)
import Glibc
#endif

/// Datasets by name or path, as `--data` takes them: the training split and, when the dataset
/// has one, the test split (used for validation, as d2l and Keras do).
public enum Datasets {
    public static let names = ["fashion-mnist", "cifar10"]

    public struct Splits: Sendable {
        public var training: any ImageSource
        public var test: (any ImageSource)?

        /// The split called `name`: `train`, or `test` (nil where there is none).
        public func named(_ name: String) -> (any ImageSource)? { name == "train" ? training : test }
    }

    /// `fashion-mnist` (Debian's `dataset-fashion-mnist`); `cifar10` (in `data/cifar-10-batches-bin`,
    /// or `data/cifar-10-binary.tar.gz`), a directory of CIFAR-10 batch files or the official
    /// `cifar-10-binary.tar.gz` itself; a directory holding IDX files
    /// `train-images-idx3-ubyte[.gz]` ... `t10k-labels-idx1-ubyte[.gz]`; or an image folder,
    /// `root/train/CLASS/*.jpg` with `root/val/CLASS` (or `test`), or just `root/CLASS/*.jpg`.
    public static func open(_ nameOrPath: String) throws(DataError) -> Splits {
        if nameOrPath == "fashion-mnist" {
            return Splits(training: try FashionMNIST.training(), test: try FashionMNIST.test())
        }
        if nameOrPath == "cifar10" {
            if access("\(CIFAR10.defaultDirectory)/data_batch_1.bin", F_OK) == 0 {
                return Splits(training: try CIFAR10.training(), test: try CIFAR10.test())
            }
            guard access(CIFAR10.defaultArchive, F_OK) == 0 else {
                throw DataError(CIFAR10.defaultDirectory, "does not hold CIFAR-10, nor is there \(CIFAR10.defaultArchive): run `alexnet data download cifar10`, or pass --data DIR|FILE.tar.gz")
            }
            let (training, test) = try CIFAR10.archive(CIFAR10.defaultArchive)
            return Splits(training: training, test: test)
        }
        if nameOrPath.hasSuffix(".tar.gz") || nameOrPath.hasSuffix(".tgz") || nameOrPath.hasSuffix(".tar") {
            let (training, test) = try CIFAR10.archive(nameOrPath)
            return Splits(training: training, test: test)
        }
        var status = stat()
        guard stat(nameOrPath, &status) == 0 else {
            throw DataError(nameOrPath.isEmpty ? "--data" : nameOrPath, nameOrPath.isEmpty
                ? "is empty: give a dataset name (\(names.joined(separator: ", "))) or a path"
                : "is neither a dataset name (\(names.joined(separator: ", "))) nor an existing path")
        }
        guard status.st_mode & S_IFMT == S_IFDIR else {
            throw DataError(nameOrPath, "is a file, not a dataset: --data takes \(names.joined(separator: " or ")), CIFAR-10's "
                + "cifar-10-binary.tar.gz, or a directory (of IDX files, of CIFAR-10 batches, or an image folder DIR/train/CLASS/*.jpg)")
        }
        if access("\(nameOrPath)/data_batch_1.bin", F_OK) == 0 {
            return Splits(training: try CIFAR10.training(directory: nameOrPath),
                          test: access("\(nameOrPath)/test_batch.bin", F_OK) == 0 ? try CIFAR10.test(directory: nameOrPath) : nil)
        }
        let hasIDX = ["train-images-idx3-ubyte", "train-images-idx3-ubyte.gz"].contains { access("\(nameOrPath)/\($0)", F_OK) == 0 }
        if !hasIDX {
            // An image folder: root/train/CLASS and root/val/CLASS (or root/test), or root/CLASS;
            // a validation split may also be ILSVRC's flat folder with a labels file.
            if ImageFolder.isDirectory("\(nameOrPath)/train") {
                let training = try ImageFolder(root: "\(nameOrPath)/train")
                guard let split = ["val", "test"].first(where: { ImageFolder.isDirectory("\(nameOrPath)/\($0)") }) else {
                    return Splits(training: training, test: nil)
                }
                return Splits(training: training, test: try folder("\(nameOrPath)/\(split)", classNames: training.classNames))
            }
            return Splits(training: try folder(nameOrPath, classNames: nil), test: nil)
        }
        // IDX files carry no class names: Fashion-MNIST's when the path says so, digits otherwise.
        let classNames = nameOrPath.lowercased().contains("fashion") ? FashionMNIST.classNames : (0..<10).map(String.init)
        let training = try IDXDataset(directory: nameOrPath, prefix: "train", classNames: classNames)
        let hasTest = access("\(nameOrPath)/t10k-images-idx3-ubyte.gz", F_OK) == 0 || access("\(nameOrPath)/t10k-images-idx3-ubyte", F_OK) == 0
        return Splits(training: training,
                      test: hasTest ? try IDXDataset(directory: nameOrPath, prefix: "t10k", classNames: classNames) : nil)
    }

    /// `root/CLASS/*.jpg`, or a flat folder of images with a labels file (ILSVRC-2012's
    /// validation layout, `LabeledFolder`).
    static func folder(_ path: String, classNames: [String]?) throws(DataError) -> any ImageSource {
        if !ImageFolder.hasSubfolders(path), let labels = LabeledFolder.findLabels(for: path) {
            return try LabeledFolder(directory: path, labels: labels, classNames: classNames)
        }
        return try ImageFolder(root: path, classNames: classNames)
    }
}
