/// A labelled collection of images that can be read in any order: the one protocol the loader
/// needs from IDX files, CIFAR-10 batches and image folders.
public protocol ImageSource: Sendable {
    /// What to call this source in messages (usually a path).
    var name: String { get }
    var count: Int { get }
    /// Class names; label `k` names `classNames[k]`.
    var classNames: [String] { get }
    /// The label of example `index` (cheap: no decoding).
    func label(at index: Int) -> Int
    /// The pixels of example `index`, decoded.
    func image(at index: Int) throws(DataError) -> Image
    /// The same, but the source may return a smaller image whose shorter side is still at
    /// least `shorterSide` when that is cheaper (scaled JPEG decoding).
    func image(at index: Int, shorterSideAtLeast shorterSide: Int) throws(DataError) -> Image
}

extension ImageSource {
    public func image(at index: Int, shorterSideAtLeast shorterSide: Int) throws(DataError) -> Image {
        try image(at: index)
    }

    /// Example `index` decoded (scaled when `shorterSideAtLeast` allows); or, when it cannot be
    /// and `skipping` is given, nil after handing the error to `skipping` (`--skip-bad-images`).
    public func image(at index: Int, shorterSideAtLeast shorterSide: Int? = nil,
                      skipping: ((Int, DataError) -> Void)?) throws(DataError) -> Image? {
        do throws(DataError) {
            if let shorterSide { return try image(at: index, shorterSideAtLeast: shorterSide) }
            return try image(at: index)
        } catch {
            guard let skipping else { throw error }
            skipping(index, error)
            return nil
        }
    }
}

extension IDXDataset: ImageSource {
    public var name: String { source }

    public func label(at index: Int) -> Int { Int(labels[index]) }

    public func image(at index: Int) throws(DataError) -> Image {
        Image(width: images.columns, height: images.rows, channels: 1, pixels: Array(pixels(at: index)))
    }
}

/// The first `count` examples of another source (for quick runs and tests).
public struct PrefixSource: ImageSource {
    public let base: any ImageSource
    public let count: Int

    public init(_ base: any ImageSource, count: Int) {
        self.base = base
        self.count = min(count, base.count)
    }

    public var name: String { "\(base.name) (first \(count))" }
    public var classNames: [String] { base.classNames }
    public func label(at index: Int) -> Int { base.label(at: index) }
    public func image(at index: Int) throws(DataError) -> Image { try base.image(at: index) }
    public func image(at index: Int, shorterSideAtLeast shorterSide: Int) throws(DataError) -> Image {
        try base.image(at: index, shorterSideAtLeast: shorterSide)
    }
}
