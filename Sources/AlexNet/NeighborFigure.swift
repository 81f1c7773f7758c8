import AlexNetData
import AlexNetTraining

/// Queries and their nearest images, like the paper's Figure 4 (right): one row per query, the
/// query first, then its neighbours nearest first, each captioned with its class and distance;
/// a neighbour of another class than the query's is framed in red.
public enum NeighborFigure {
    public struct Tile {
        public var image: Image
        /// The class name (first caption line).
        public var label: String
        /// The second caption line ("query", "d 3.21").
        public var note: String
        /// Drawn with a red frame (a neighbour of another class).
        public var isMismatch: Bool

        public init(image: Image, label: String, note: String, isMismatch: Bool = false) {
            self.image = image
            self.label = label
            self.note = note
            self.isMismatch = isMismatch
        }
    }

    static let picture = 96, gap = 8, captions = 24, separator = 14

    /// Each row of tiles (the query, then its neighbours) as a PNG.
    public static func png(_ rows: [[Tile]]) -> [UInt8] {
        let columns = max(1, rows.map(\.count).max() ?? 1)
        let cell = picture + gap
        var canvas = Canvas(width: separator + columns * cell + gap, height: max(1, rows.count) * (picture + captions + gap) + gap)
        for (r, row) in rows.enumerated() {
            let top = gap + r * (picture + captions + gap)
            for (c, tile) in row.enumerated() {
                // A space between the query and its neighbours.
                let left = gap + c * cell + (c > 0 ? separator : 0)
                if tile.isMismatch { canvas.fill(x: left - 3, y: top - 3, width: picture + 6, height: picture + 6, (214, 39, 40)) }
                canvas.fill(x: left, y: top, width: picture, height: picture, (255, 255, 255))
                canvas.draw(tile.image, fittedInto: picture, x: left, y: top)
                let center = left + picture / 2
                canvas.text(String(tile.label.prefix(16)), x: center, y: top + picture + 3, c == 0 ? (0, 0, 0) : (60, 60, 60), anchor: .center)
                canvas.text(String(tile.note.prefix(16)), x: center, y: top + picture + 13, (110, 110, 110), anchor: .center)
            }
        }
        return canvas.png
    }
}
