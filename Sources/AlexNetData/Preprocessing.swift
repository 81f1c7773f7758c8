import AlexNetCore

/// How an 8-bit image becomes a network input (SPEC.md section 3), in this order:
///
/// 1. convert to `channels` (gray <-> RGB);
/// 2. resize so the shorter side is `resize` (area averaging down, bilinear up);
/// 3. crop `crop` x `crop`: at random when training (`randomCrop`), from the centre otherwise;
///    in training the random crop may reach `pad` pixels past every edge, which are black
///    (torchvision's `RandomCrop(size, padding=pad)`; without `crop`, size is the image's own);
/// 4. when training, mirror left-right with probability 1/2 (`flip`);
/// 5. scale bytes by `scale` (1/255 maps them to [0, 1]);
/// 6. when training, add PCA lighting: `eigenvectors * (alpha .* eigenvalues)` with alpha drawn
///    from N(0, `lightingSigma`^2) once per image (the paper's "fancy PCA", sigma 0.1); the
///    eigen-decomposition is of pixels in [0, 1] (`alexnet data stats`), and the shift is
///    converted to the units `scale` gives (x 255 when `scale` is 1);
/// 7. subtract `mean` and divide by `std`, per channel, or subtract `meanImage` per pixel.
///
/// Random choices are a pure function of (seed, epoch, example index), so a resumed run
/// augments exactly as the uninterrupted one would have. The struct is Codable because a
/// checkpoint stores it: prediction must see images exactly as training did.
public struct Preprocessing: Codable, Sendable, Equatable {
    public var channels: Int
    public var resize: Int?
    public var crop: Int?
    public var randomCrop: Bool
    /// Zero padding around the image for training's random crops (nil: none).
    public var pad: Int?
    public var flip: Bool
    public var scale: Float
    public var mean: [Float]
    public var std: [Float]
    public var meanImage: [Float]?
    public var lightingSigma: Float
    /// Eigenvalues of the RGB covariance, largest first (3 values).
    public var eigenvalues: [Float]?
    /// Eigenvectors as columns of a row-major 3x3 matrix: `eigenvectors[3 * row + k]`.
    public var eigenvectors: [Float]?

    public init(channels: Int, resize: Int? = nil, crop: Int? = nil, randomCrop: Bool = false, pad: Int? = nil, flip: Bool = false,
                scale: Float = 1.0 / 255, mean: [Float]? = nil, std: [Float]? = nil, meanImage: [Float]? = nil,
                lightingSigma: Float = 0, eigenvalues: [Float]? = nil, eigenvectors: [Float]? = nil) {
        self.channels = channels
        self.resize = resize
        self.crop = crop
        self.randomCrop = randomCrop
        self.pad = pad
        self.flip = flip
        self.scale = scale
        self.mean = mean ?? Array(repeating: 0, count: channels)
        self.std = std ?? Array(repeating: 1, count: channels)
        self.meanImage = meanImage
        self.lightingSigma = lightingSigma
        self.eigenvalues = eigenvalues
        self.eigenvectors = eigenvectors
    }

    /// ImageNet preprocessing as torchvision's pretrained models expect it: resize the shorter
    /// side to 256, centre crop 224 (both scaled to `crop`), per-channel mean and std of ImageNet
    /// on pixels in [0, 1].
    public static func imageNet(crop: Int) -> Preprocessing {
        Preprocessing(channels: 3, resize: crop * 256 / 224, crop: crop, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225])
    }

    /// Training's random changes in words (`random crops (pad 2), flips`), nil when none.
    public var augmentationSummary: String? {
        var parts: [String] = []
        if randomCrop { parts.append("random crops" + ((pad ?? 0) > 0 ? " (pad \(pad!))" : "")) }
        if flip { parts.append("flips") }
        if lightingSigma > 0 { parts.append("PCA lighting \(lightingSigma)") }
        return parts.isEmpty ? nil : parts.joined(separator: ", ")
    }

    /// The output shape for an input of `width` x `height`.
    public func outputShape(width: Int, height: Int) -> Shape {
        if let crop { return Shape(channels: channels, height: crop, width: crop) }
        if let resize {
            let size = Resampler.size(of: (width, height), shorterSide: resize)
            return Shape(channels: channels, height: size.height, width: size.width)
        }
        return Shape(channels: channels, height: height, width: width)
    }

    /// Checks the options against each other; the message says which one is wrong.
    public func validate() throws(DataError) {
        let source = "preprocessing"
        guard channels == 1 || channels == 3 else { throw DataError(source, "channels must be 1 or 3, not \(channels)") }
        guard mean.count == channels, std.count == channels else {
            throw DataError(source, "mean and std need \(channels) values each, got \(mean.count) and \(std.count)")
        }
        if let bad = std.first(where: { !($0 > 0) }) { throw DataError(source, "std \(bad) must be positive") }
        if let resize, !(1...65536).contains(resize) { throw DataError(source, "resize must be between 1 and 65536, not \(resize)") }
        if let crop, !(1...65536).contains(crop) { throw DataError(source, "crop must be between 1 and 65536, not \(crop)") }
        if let pad {
            guard (0...4096).contains(pad) else { throw DataError(source, "pad must be between 0 and 4096, not \(pad)") }
            guard randomCrop || pad == 0 else { throw DataError(source, "pad pads training's random crops: it needs randomCrop") }
        }
        if let meanImage {
            guard let crop, meanImage.count == channels * crop * crop else {
                throw DataError(source, "a mean image needs a crop and channels x crop x crop values, got \(meanImage.count)")
            }
        }
        if lightingSigma > 0 {
            guard channels == 3, eigenvalues?.count == 3, eigenvectors?.count == 9 else {
                throw DataError(source, "PCA lighting needs RGB images and 3 eigenvalues with 3 eigenvectors (run `alexnet data stats`)")
            }
        }
    }

    /// The same preprocessing made to give `shape` from an image of any size, so that the
    /// network's input decides: the channels become the network's (per-channel mean and std
    /// repeated from gray or averaged to gray); without a crop, the shorter side is resized to
    /// the input's size and the centre cropped square (a photo of any aspect ratio fits); with a
    /// crop of another size, crop and resize are scaled together to the input's size (the
    /// paper's 256/227 becomes 253/224 for a 224 network). Images that already come out at
    /// `shape` are prepared exactly as without it.
    public func fitted(to shape: Shape) -> Preprocessing {
        guard let (c, h, w) = shape.image else { return self }
        var fitted = self
        if c != channels, c == 1 || c == 3 {
            func convert(_ values: [Float]) -> [Float] {
                c == 1 ? [values.reduce(0, +) / Float(max(values.count, 1))] : Array(repeating: values.first ?? 0, count: 3)
            }
            fitted.channels = c
            fitted.mean = convert(mean)
            fitted.std = convert(std)
            if c == 1 { fitted.lightingSigma = 0 }
        }
        guard h == w else { return fitted }  // crops are square: a non-square input keeps its geometry
        if let crop, crop != h {
            fitted.resize = resize.map { min(65536, Int((Double($0) * Double(h) / Double(crop)).rounded())) }
        } else if crop == nil {
            fitted.resize = h
        }
        fitted.crop = h
        return fitted
    }

    /// An image as network input: the geometry (steps 1-4), a check that it gives `shape`, then
    /// the normalisation (steps 5-7) into `output`. The one path from decoded pixels to floats
    /// that the loader, evaluation and prediction share; `source` names the image in errors.
    public func prepare(_ image: Image, as shape: Shape, training: Bool, random: Philox, index: Int,
                        into output: UnsafeMutablePointer<Float>, source: @autoclosure () -> String) throws(DataError) {
        let prepared = try geometry(image, training: training, random: random, index: index, source: source())
        try check(prepared, as: shape, source: source())
        normalize(prepared, training: training, random: random, index: index, into: output)
    }

    /// One image as evaluation input of `shape` (centre crop, no augmentation), as a new array.
    public func evaluationInput(for image: Image, as shape: Shape, source: String = "image") throws(DataError) -> [Float] {
        var input = [Float](repeating: 0, count: shape.elementCount)
        try input.withUnsafeMutableBufferPointer { buffer throws(DataError) in
            try prepare(image, as: shape, training: false, random: Philox(seed: 0), index: 0, into: buffer.baseAddress!, source: source)
        }
        return input
    }

    /// The paper's ten test crops of `image` (see `tenCrops`), normalised into `output`, which
    /// holds ten inputs of `shape` one after another.
    public func prepareTenCrops(_ image: Image, as shape: Shape, into output: UnsafeMutablePointer<Float>,
                                source: @autoclosure () -> String) throws(DataError) {
        for (k, crop) in try tenCrops(image, source: source()).enumerated() {
            try check(crop, as: shape, source: source())
            normalize(crop, training: false, random: Philox(seed: 0), index: 0, into: output + k * shape.elementCount)
        }
    }

    private func check(_ image: Image, as shape: Shape, source: @autoclosure () -> String) throws(DataError) {
        let produced = Shape(channels: image.channels, height: image.height, width: image.width)
        guard produced == shape else {
            throw DataError(source(), "preprocesses to \(produced), but the network takes \(shape)")
        }
    }

    /// The geometric part (steps 1-4) for example `index` of `epoch`. Resize, crop and mirror
    /// run as one resampling pass that computes only the crop's pixels.
    public func geometry(_ image: Image, training: Bool, random: Philox, index: Int,
                         source: @autoclosure () -> String = "image") throws(DataError) -> Image {
        let image = image.withChannels(channels)
        let size: (width: Int, height: Int) = resize.map { Resampler.size(of: (image.width, image.height), shorterSide: $0) } ?? (image.width, image.height)
        let words = random.block(at: UInt64(index) * 4)
        let mirrored = training && flip && words.2 & 1 == 1
        if training, randomCrop, let pad, pad > 0 {
            // Resize, then crop from the padded image (the padding is black, not resampled).
            let resized = size == (image.width, image.height) ? image : Resampler(from: (image.width, image.height), to: size)(image)
            let (w, h) = (crop ?? size.width, crop ?? size.height)
            guard w <= size.width + 2 * pad && h <= size.height + 2 * pad else {
                throw DataError(source(), "is \(size.width)x\(size.height)\(resize == nil ? "" : " after resizing"), smaller than the \(w)x\(h) crop even with padding \(pad)")
            }
            let (spanX, spanY) = (size.width + 2 * pad - w + 1, size.height + 2 * pad - h + 1)
            let cropped = resized.croppedWithZeroPadding(x: Int(words.0 % UInt32(spanX)) - pad, y: Int(words.1 % UInt32(spanY)) - pad,
                                                         width: w, height: h)
            return mirrored ? cropped.flippedHorizontally() : cropped
        }
        var (x, y, w, h) = (0, 0, size.width, size.height)
        if let crop {
            guard crop <= size.width && crop <= size.height else {
                throw DataError(source(), "is \(size.width)x\(size.height)\(resize == nil ? "" : " after resizing"), smaller than the \(crop)x\(crop) crop")
            }
            let (spanX, spanY) = (size.width - crop + 1, size.height - crop + 1)
            (x, y) = training && randomCrop
                ? (Int(words.0 % UInt32(spanX)), Int(words.1 % UInt32(spanY)))
                : ((size.width - crop) / 2, (size.height - crop) / 2)
            (w, h) = (crop, crop)
        }
        if size == (image.width, image.height) {
            let cropped = (w, h) == (image.width, image.height) ? image : image.cropped(x: x, y: y, width: w, height: h)
            return mirrored ? cropped.flippedHorizontally() : cropped
        }
        let resampler = Resampler(
            horizontal: Resampler.Axis(from: image.width, to: size.width, window: x..<(x + w), mirrored: mirrored),
            vertical: Resampler.Axis(from: image.height, to: size.height, window: y..<(y + h)))
        return resampler(image)
    }

    /// The photometric part (steps 5-7): writes `image` as CHW floats to `output`.
    public func normalize(_ image: Image, training: Bool, random: Philox, index: Int, into output: UnsafeMutablePointer<Float>) {
        let c = image.channels, plane = image.width * image.height
        var shift = [Float](repeating: 0, count: c)
        if training, lightingSigma > 0, let values = eigenvalues, let vectors = eigenvectors {
            let alpha = (1...3).map { random.normal(at: UInt64(index) * 4 + UInt64($0)) * lightingSigma }
            for row in 0..<3 {
                shift[row] = (0..<3).reduce(0) { $0 + vectors[3 * row + $1] * alpha[$1] * values[$1] } * 255 * scale
            }
        }
        image.pixels.withUnsafeBufferPointer { pixels in
            for channel in 0..<c {
                let inverse = 1 / std[channel], offset = shift[channel] - mean[channel]
                let target = output + channel * plane
                if let meanImage {
                    for p in 0..<plane {
                        target[p] = (Float(pixels[p * c + channel]) * scale + shift[channel] - meanImage[channel * plane + p]) * inverse
                    }
                } else {
                    // Every byte maps to one float: a 256-entry table per channel, the same
                    // arithmetic as the formula, looked up instead of recomputed per pixel.
                    var table = [Float](repeating: 0, count: 256)
                    for value in 0..<256 { table[value] = (Float(value) * scale + offset) * inverse }
                    table.withUnsafeBufferPointer { lookup in
                        let source = pixels.baseAddress! + channel
                        for p in 0..<plane { target[p] = lookup[Int(source[p * c])] }
                    }
                }
            }
        }
    }

    /// The ten 224-style test crops of SPEC.md section 3: the four corners and the centre of
    /// the resized image, then the same five mirrored. Needs `crop`.
    public func tenCrops(_ image: Image, source: @autoclosure () -> String = "image") throws(DataError) -> [Image] {
        var image = image.withChannels(channels)
        if let resize {
            let size = Resampler.size(of: (image.width, image.height), shorterSide: resize)
            if size != (image.width, image.height) { image = Resampler(from: (image.width, image.height), to: size)(image) }
        }
        let size = crop ?? min(image.width, image.height)
        guard size <= min(image.width, image.height) else {
            throw DataError(source(), "is \(image.width)x\(image.height)\(resize == nil ? "" : " after resizing"), smaller than the \(size)x\(size) crops")
        }
        let (right, bottom) = (image.width - size, image.height - size)
        let corners = [(0, 0), (right, 0), (0, bottom), (right, bottom), (right / 2, bottom / 2)]
        let five = corners.map { image.cropped(x: $0.0, y: $0.1, width: size, height: size) }
        return five + five.map { $0.flippedHorizontally() }
    }
}
