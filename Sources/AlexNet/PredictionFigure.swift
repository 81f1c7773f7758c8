import AlexNetData
import AlexNetTraining

/// Images with their best classes as bars, like the paper's Figure 4 (left): one panel per
/// image, the image fitted into a square, under it a bar per class, as long as its probability.
public enum PredictionFigure {
    public struct Panel {
        public var image: Image
        public var title: String
        public var guesses: [Classifier.Guess]

        public init(image: Image, title: String, guesses: [Classifier.Guess]) {
            self.image = image
            self.title = title
            self.guesses = guesses
        }
    }

    static let width = 200, picture = 128, row = 14, columns = 4

    /// The panels in rows of four, as a PNG.
    public static func png(_ panels: [Panel]) -> [UInt8] {
        let rows = max(1, panels.map(\.guesses.count).max() ?? 1)
        let height = 16 + picture + 6 + rows * row + 10
        let across = min(max(panels.count, 1), columns)
        let down = (panels.count + columns - 1) / columns
        var canvas = Canvas(width: across * width, height: max(1, down) * height)
        for (k, panel) in panels.enumerated() {
            draw(panel, on: &canvas, x: (k % columns) * width, y: (k / columns) * height)
        }
        return canvas.png
    }

    static func draw(_ panel: Panel, on canvas: inout Canvas, x: Int, y: Int) {
        let black: Canvas.Color = (0, 0, 0)
        canvas.text(String(panel.title.suffix(32)), x: x + width / 2, y: y + 4, black, anchor: .center)
        canvas.draw(panel.image, fittedInto: picture, x: x + (width - picture) / 2, y: y + 16)
        // One bar per class: the name, and a bar as long as the probability.
        let barLeft = x + 96, barWidth = width - 96 - 8
        for (k, guess) in panel.guesses.enumerated() {
            let rowTop = y + 16 + picture + 6 + k * row
            canvas.text(String(guess.name.prefix(14)), x: barLeft - 4, y: rowTop + 2, black, anchor: .right)
            let length = max(1, Int((guess.probability * Double(barWidth)).rounded()))
            canvas.fill(x: barLeft, y: rowTop + 1, width: barWidth, height: row - 4, (235, 235, 235))
            canvas.fill(x: barLeft, y: rowTop + 1, width: length, height: row - 4, k == 0 ? (31, 119, 180) : (140, 170, 200))
        }
    }
}
