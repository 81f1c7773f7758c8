#if canImport(Glibc)
import Glibc
#endif

/// ILSVRC-2012's validation layout: every image in one flat folder, the labels in a file beside
/// them (or in the folder above). Two label files are read:
/// - Kaggle's `LOC_val_solution.csv`: a header `ImageId,PredictionString`, then rows
///   `ILSVRC2012_val_00008726,n02119789 255 142 454 329 ...` whose first word is the synset;
/// - Caffe's `val.txt` (or any `labels.txt`): lines `FILE LABEL`, the label a class index or a
///   class name (`ILSVRC2012_val_00000001.JPEG 65`, or `... n01751748`).
///
/// Class names come from the training split when given (its folder names are the synsets, in
/// sorted order, so index k means the same on both sides); otherwise they are the sorted synsets
/// of the file, or the indices for numeric labels.
public struct LabeledFolder: ImageFiles {
    /// Label files looked for, in this order, in the folder and then in its parent.
    public static let labelFileNames = ["LOC_val_solution.csv", "val.txt", "labels.txt"]

    public let directory: String
    public let labelsFile: String
    public let classNames: [String]
    public let files: [String]
    public let labels: [Int]

    /// The label file for `directory`, if it has one.
    public static func findLabels(for directory: String) -> String? {
        var trimmed = directory
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        let parts = trimmed.split(separator: "/", omittingEmptySubsequences: false)
        let parent = parts.count > 1 ? parts.dropLast().joined(separator: "/") : "."
        for folder in [trimmed, parent.isEmpty ? "/" : parent] {
            for name in labelFileNames where access("\(folder)/\(name)", F_OK) == 0 { return "\(folder)/\(name)" }
        }
        return nil
    }

    public init(directory: String, labels labelsFile: String, classNames expected: [String]? = nil) throws(DataError) {
        let text = String(decoding: try readFile(labelsFile), as: UTF8.self)
        var pairs: [(file: String, label: String, line: Int)] = []
        let isCSV = labelsFile.lowercased().hasSuffix(".csv")
        // Any line ending, CRLF included (a Character "\r\n" is not "\n").
        for (number, line) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let trimmed = line.trimmingCharacters(in: " \t\r")
            if trimmed.isEmpty || (isCSV && number == 0 && trimmed.lowercased().hasPrefix("imageid")) { continue }
            let fields = isCSV
                ? trimmed.split(separator: ",", maxSplits: 1).map(String.init)
                : trimmed.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard fields.count >= 2, let label = fields[1].split(separator: " ").first.map(String.init) else {
                throw DataError(labelsFile, "line \(number + 1) '\(trimmed.prefix(60))' is not 'FILE LABEL'"
                    + (fields.count == 1 ? " (a label without a file name: the devkit's ground truth uses ILSVRC ids, not class indices; use Caffe's val.txt or Kaggle's LOC_val_solution.csv)" : ""))
            }
            pairs.append((fields[0], label, number + 1))
        }
        guard !pairs.isEmpty else { throw DataError(labelsFile, "lists no labels") }

        // Images by file name, and by name without extension (the CSV gives bare ids).
        let images = try ImageFolder.entries(of: directory).filter(ImageFolder.isImageName)
        var byName: [String: String] = [:]
        var stems: [String: String] = [:]
        for image in images {
            byName[image] = image
            guard let dot = image.lastIndex(of: ".") else { continue }
            let stem = String(image[..<dot])
            if let other = stems[stem] {
                throw DataError(directory, "holds both \(other) and \(image): a label for '\(stem)' could mean either")
            }
            stems[stem] = image
        }
        for (stem, image) in stems where byName[stem] == nil { byName[stem] = image }
        let numeric = pairs.allSatisfy { Int($0.label) != nil }
        let classes: [String]
        if let expected {
            classes = expected
        } else if numeric {
            let largest = pairs.compactMap { Int($0.label) }.max() ?? 0
            classes = (0...largest).map { String($0) }
        } else {
            classes = Set(pairs.map(\.label)).sorted()
        }
        var index: [String: Int] = [:]
        for (k, name) in classes.enumerated() where index[name] == nil { index[name] = k }
        var files: [String] = [], labels: [Int] = []
        for pair in pairs.sorted(by: { $0.file < $1.file }) {
            guard let file = byName[pair.file] else {
                throw DataError(labelsFile, "line \(pair.line) names \(pair.file), which is not an image in \(directory)")
            }
            let label: Int
            if let number = Int(pair.label) {
                guard number >= 0 && number < classes.count else {
                    throw DataError(labelsFile, "line \(pair.line) has label \(number), outside 0..<\(classes.count)")
                }
                label = number
            } else {
                guard let found = index[pair.label] else {
                    throw DataError(labelsFile, "line \(pair.line) has class '\(pair.label)', which the training split does not have")
                }
                label = found
            }
            files.append("\(directory)/\(file)")
            labels.append(label)
        }
        self.directory = directory
        self.labelsFile = labelsFile
        self.classNames = classes
        self.files = files
        self.labels = labels
    }

    public var name: String { directory }
}
