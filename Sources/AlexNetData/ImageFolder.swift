#if canImport(Glibc)
import Glibc
#endif

/// torchvision's ImageFolder layout (SPEC.md section 6): `root/CLASS/*.jpg|jpeg|png`, classes
/// sorted by name give the label indices. Files with other extensions are ignored; images are
/// decoded when read, so listing a folder is cheap.
public struct ImageFolder: ImageFiles {
    public static let extensions: Set<String> = ["jpg", "jpeg", "png"]

    public let root: String
    public let classNames: [String]
    public let files: [String]
    public let labels: [Int]

    /// Lists `root`. With `classNames` (a training split's), the folder must use the same
    /// classes, so that validation labels mean what training labels meant.
    public init(root: String, classNames expected: [String]? = nil) throws(DataError) {
        let classes = try Self.entries(of: root).filter { Self.isDirectory("\(root)/\($0)") }.sorted()
        guard !classes.isEmpty else { throw DataError(root, "has no class folders (expected root/CLASS/image.jpg)") }
        if let expected, expected != classes {
            throw DataError(root, "has classes \(Self.list(classes)), but the training split has \(Self.list(expected))")
        }
        var files: [String] = [], labels: [Int] = []
        for (label, name) in classes.enumerated() {
            let folder = "\(root)/\(name)"
            let images = try Self.entries(of: folder).filter(Self.isImageName).sorted()
            guard !images.isEmpty else { throw DataError(folder, "holds no .jpg, .jpeg or .png images") }
            files += images.map { "\(folder)/\($0)" }
            labels += Array(repeating: label, count: images.count)
        }
        self.root = root
        self.classNames = classes
        self.files = files
        self.labels = labels
    }

    public var name: String { root }

    /// True for names ending in .jpg, .jpeg or .png, in any case.
    public static func isImageName(_ name: String) -> Bool {
        name.lastIndex(of: ".").map { extensions.contains(name[name.index(after: $0)...].lowercased()) } ?? false
    }

    /// True when `path` holds at least one folder (class folders), not only files.
    static func hasSubfolders(_ path: String) -> Bool {
        ((try? entries(of: path)) ?? []).contains { isDirectory("\(path)/\($0)") }
    }

    static func list(_ names: [String]) -> String {
        names.count <= 6 ? names.joined(separator: ", ") : names.prefix(5).joined(separator: ", ") + ", ... (\(names.count))"
    }

    static func isDirectory(_ path: String) -> Bool {
        var status = stat()
        return stat(path, &status) == 0 && status.st_mode & S_IFMT == S_IFDIR
    }

    /// Names in a directory, without `.`, `..` and hidden files.
    static func entries(of path: String) throws(DataError) -> [String] {
        guard let directory = opendir(path) else {
            throw DataError(path, "cannot be listed: \(String(cString: strerror(errno)))")
        }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if !name.hasPrefix(".") { names.append(name) }
        }
        return names
    }
}

/// A source whose examples are image files on disk with known labels (`ImageFolder`,
/// `LabeledFolder`): decoding reads the file, with scaled JPEG decoding when asked.
public protocol ImageFiles: ImageSource {
    var files: [String] { get }
    var labels: [Int] { get }
}

extension ImageFiles {
    public var count: Int { files.count }
    public func label(at index: Int) -> Int { labels[index] }
    public func image(at index: Int) throws(DataError) -> Image { try ImageCodec.read(path: files[index]) }
    public func image(at index: Int, shorterSideAtLeast shorterSide: Int) throws(DataError) -> Image {
        try ImageCodec.read(path: files[index], shorterSideAtLeast: shorterSide)
    }
}
