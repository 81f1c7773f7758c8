/// A grid of a dataset's first images, for `alexnet data info`.
public enum ContactSheet {
    /// Up to `columns x rows` images of `source`, each fitted into a `cell` x `cell` square
    /// (resized keeping the aspect ratio), on a gray background, as RGB.
    public static func make(_ source: any ImageSource, columns: Int = 8, rows: Int = 4, cell: Int = 64) throws(DataError) -> Image {
        let gap = 2
        var sheet = Image(width: columns * (cell + gap) + gap, height: rows * (cell + gap) + gap, channels: 3,
                          pixels: [UInt8](repeating: 96, count: (columns * (cell + gap) + gap) * (rows * (cell + gap) + gap) * 3))
        for index in 0..<min(source.count, columns * rows) {
            var image = try source.image(at: index).withChannels(3)
            let scale = Double(cell) / Double(max(image.width, image.height))
            let size = (max(1, Int(Double(image.width) * scale)), max(1, Int(Double(image.height) * scale)))
            if size != (image.width, image.height) { image = Resampler(from: (image.width, image.height), to: size)(image) }
            let left = gap + (index % columns) * (cell + gap) + (cell - image.width) / 2
            let top = gap + (index / columns) * (cell + gap) + (cell - image.height) / 2
            for y in 0..<image.height {
                for x in 0..<image.width {
                    for c in 0..<3 { sheet[left + x, top + y, c] = image[x, y, c] }
                }
            }
        }
        return sheet
    }
}
