import Foundation

/// A line chart: a few named series over a shared x axis, drawn as SVG.
public struct Plot: Sendable {
    public struct Series: Sendable {
        public var name: String
        public var color: String
        public var x: [Double]
        public var y: [Double]

        public init(name: String, color: String, x: [Double], y: [Double]) {
            self.name = name
            self.color = color
            self.x = x
            self.y = y
        }
    }

    public var title: String
    public var xLabel: String
    public var series: [Series]

    public init(title: String, xLabel: String, series: [Series]) {
        self.title = title
        self.xLabel = xLabel
        self.series = series
    }

    public static let width = 480.0, height = 320.0
    static let margin = (left: 56.0, right: 16.0, top: 32.0, bottom: 44.0)

    /// The y values' range, padded a little, and the x range.
    var bounds: (x: ClosedRange<Double>, y: ClosedRange<Double>) {
        let points = series.flatMap { zip($0.x, $0.y).filter { $0.1.isFinite } }
        let xs = points.map(\.0), ys = points.map(\.1)
        var (xLow, xHigh) = (xs.min() ?? 0, xs.max() ?? 1)
        var (yLow, yHigh) = (ys.min() ?? 0, ys.max() ?? 1)
        if xHigh - xLow < 1e-12 { xLow -= 0.5; xHigh += 0.5 }
        if yHigh - yLow < 1e-12 { yLow -= 0.5; yHigh += 0.5 }
        let pad = (yHigh - yLow) * 0.05
        return (xLow...xHigh, (yLow - pad)...(yHigh + pad))
    }

    /// How far left of the right edge the legend starts: room for the longest name.
    var legendWidth: Double { Double(max(90, (series.map { Canvas.textWidth($0.name) }.max() ?? 0) + 28)) }

    /// Whether the legend goes to the lower right corner: where the curves end high (a rising
    /// accuracy), the upper right corner is theirs.
    var legendAtBottom: Bool {
        let (_, yRange) = bounds
        let ends = series.compactMap { $0.y.last(where: \.isFinite) }
        guard !ends.isEmpty else { return false }
        let mean = ends.reduce(0, +) / Double(ends.count)
        return (mean - yRange.lowerBound) / (yRange.upperBound - yRange.lowerBound) > 0.5
    }

    /// Plots side by side in one SVG document.
    public static func svg(_ plots: [Plot]) -> String {
        let total = width * Double(plots.count)
        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(total))\" height=\"\(Int(height))\" font-family=\"sans-serif\" font-size=\"11\">\n"
        out += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        for (i, plot) in plots.enumerated() {
            out += "<g transform=\"translate(\(Int(width) * i),0)\">\n" + plot.svgBody() + "</g>\n"
        }
        return out + "</svg>\n"
    }

    func svgBody() -> String {
        let (xRange, yRange) = bounds
        let (left, right, top, bottom) = (Self.margin.left, Self.width - Self.margin.right, Self.margin.top, Self.height - Self.margin.bottom)
        func px(_ x: Double) -> Double { left + (x - xRange.lowerBound) / (xRange.upperBound - xRange.lowerBound) * (right - left) }
        func py(_ y: Double) -> Double { bottom - (y - yRange.lowerBound) / (yRange.upperBound - yRange.lowerBound) * (bottom - top) }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        var out = "<text x=\"\(f(Self.width / 2))\" y=\"18\" text-anchor=\"middle\" font-size=\"13\">\(title)</text>\n"
        out += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(right - left))\" height=\"\(f(bottom - top))\" fill=\"none\" stroke=\"#888\"/>\n"
        for y in Self.roundTicks(yRange) {
            out += "<line x1=\"\(f(left))\" x2=\"\(f(right))\" y1=\"\(f(py(y)))\" y2=\"\(f(py(y)))\" stroke=\"#eee\"/>"
            out += "<text x=\"\(f(left - 4))\" y=\"\(f(py(y) + 4))\" text-anchor=\"end\">\(String(format: "%g", y))</text>\n"
        }
        for x in Self.ticks(xRange) {
            out += "<text x=\"\(f(px(x)))\" y=\"\(f(bottom + 14))\" text-anchor=\"middle\">\(String(format: "%g", x))</text>\n"
        }
        out += "<text x=\"\(f((left + right) / 2))\" y=\"\(f(Self.height - 8))\" text-anchor=\"middle\">\(xLabel)</text>\n"
        for (k, s) in series.enumerated() where !s.y.isEmpty {
            let points = zip(s.x, s.y).filter { $0.1.isFinite }.map { "\(f(px($0.0))),\(f(py($0.1)))" }
            out += "<polyline fill=\"none\" stroke=\"\(s.color)\" stroke-width=\"2\" points=\"\(points.joined(separator: " "))\"/>\n"
            for point in points {
                let xy = point.split(separator: ",")
                out += "<circle cx=\"\(xy[0])\" cy=\"\(xy[1])\" r=\"2.5\" fill=\"\(s.color)\"/>"
            }
            let legendY = (legendAtBottom ? bottom - 14 * Double(series.count) : top) + 14 + 14 * Double(k)
            let legendX = right - legendWidth
            out += "\n<line x1=\"\(f(legendX))\" x2=\"\(f(legendX + 16))\" y1=\"\(f(legendY - 4))\" y2=\"\(f(legendY - 4))\" stroke=\"\(s.color)\" stroke-width=\"2\"/>"
            out += "<text x=\"\(f(legendX + 20))\" y=\"\(f(legendY))\">\(s.name)</text>\n"
        }
        return out
    }

    /// Three to seven ticks at round values (1, 2 or 5 times a power of ten) inside the range.
    public static func roundTicks(_ range: ClosedRange<Double>) -> [Double] {
        let span = range.upperBound - range.lowerBound
        guard span > 0, span.isFinite else { return [range.lowerBound] }
        let exponent = Int(log10(span / 4).rounded(.down))
        let magnitude = pow(10, Double(exponent))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { span / $0 <= 7 } ?? 10 * magnitude
        // Each tick as an integer count of the magnitude, scaled back by one multiplication or
        // division by a power of ten, so that 0.6 does not print as 0.6000000000000001.
        func value(_ units: Double) -> Double { exponent < 0 ? units / pow(10, Double(-exponent)) : units * magnitude }
        var ticks: [Double] = []
        var k = (range.lowerBound / step).rounded(.up)
        while k * step <= range.upperBound + step * 1e-9 {
            ticks.append(value((k * step / magnitude).rounded()))
            k += 1
        }
        return ticks
    }

    /// At most about 10 integer ticks across the range.
    static func ticks(_ range: ClosedRange<Double>) -> [Double] {
        let span = range.upperBound - range.lowerBound
        let step = max(1, (span / 10).rounded(.up))
        var ticks: [Double] = []
        var x = range.lowerBound.rounded(.up)
        while x <= range.upperBound + 1e-9 { ticks.append(x); x += step }
        return ticks
    }
}

extension Plot {
    /// Plots side by side as a PNG, laid out like `svg(_:)`.
    public static func png(_ plots: [Plot]) -> [UInt8] {
        var canvas = Canvas(width: Int(width) * plots.count, height: Int(height))
        for (i, plot) in plots.enumerated() { plot.draw(on: &canvas, left: Int(width) * i) }
        return canvas.png
    }

    func draw(on canvas: inout Canvas, left offset: Int) {
        let (xRange, yRange) = bounds
        let (left, right, top, bottom) = (Self.margin.left, Self.width - Self.margin.right, Self.margin.top, Self.height - Self.margin.bottom)
        func px(_ x: Double) -> Double { Double(offset) + left + (x - xRange.lowerBound) / (xRange.upperBound - xRange.lowerBound) * (right - left) }
        func py(_ y: Double) -> Double { bottom - (y - yRange.lowerBound) / (yRange.upperBound - yRange.lowerBound) * (bottom - top) }
        let (gray, light, black): (Canvas.Color, Canvas.Color, Canvas.Color) = ((136, 136, 136), (235, 235, 235), (0, 0, 0))
        canvas.text(title, x: offset + Int(Self.width / 2), y: 8, black, scale: 2, anchor: .center)
        for y in Self.roundTicks(yRange) {
            canvas.line(px(xRange.lowerBound), py(y), px(xRange.upperBound), py(y), light)
            canvas.text(String(format: "%g", y), x: offset + Int(left) - 4, y: Int(py(y)) - 3, black, anchor: .right)
        }
        for x in Self.ticks(xRange) {
            canvas.text(String(format: "%g", x), x: Int(px(x)), y: Int(bottom) + 6, black, anchor: .center)
        }
        canvas.text(xLabel, x: offset + Int((left + right) / 2), y: Int(Self.height) - 16, black, anchor: .center)
        let (x0, x1, y0, y1) = (Double(offset) + left, Double(offset) + right, top, bottom)
        for (a, b, c, d) in [(x0, y0, x1, y0), (x0, y1, x1, y1), (x0, y0, x0, y1), (x1, y0, x1, y1)] { canvas.line(a, b, c, d, gray) }
        for (k, s) in series.enumerated() where !s.y.isEmpty {
            let color = Canvas.color(s.color)
            let points = zip(s.x, s.y).filter { $0.1.isFinite }.map { (px($0.0), py($0.1)) }
            for (p, q) in zip(points, points.dropFirst()) { canvas.line(p.0, p.1, q.0, q.1, color, thickness: 2) }
            for p in points { canvas.fill(x: Int(p.0) - 2, y: Int(p.1) - 2, width: 5, height: 5, color) }
            let legendY = Int(legendAtBottom ? bottom - 14 * Double(series.count) - 4 : top) + 8 + 14 * k
            let legendX = x1 - legendWidth
            canvas.line(legendX, Double(legendY + 3), legendX + 16, Double(legendY + 3), color, thickness: 2)
            canvas.text(s.name, x: Int(legendX) + 20, y: legendY, black)
        }
    }
}

/// The confusion matrix as a PNG heat map: row-normalised shades of blue, the counts in the
/// cells, the true classes' names and indices down the left, the predicted classes' indices
/// across the top.
public enum ConfusionPlot {
    public static func png(_ confusion: [Int], classNames: [String]) -> [UInt8] {
        let classes = classNames.count
        let cell = classes <= 20 ? 36 : max(4, 720 / classes)
        let labels = classNames.enumerated().map { "\($0.offset) \($0.element)" }
        let left = cell >= 12 ? 12 + (labels.map { Canvas.textWidth($0) }.max() ?? 0) : 12
        let top = 40
        var canvas = Canvas(width: left + cell * classes + 12, height: top + cell * classes + 28)
        canvas.text("predicted", x: left + cell * classes / 2, y: 4, anchor: .center)
        for truth in 0..<classes {
            let total = max(1, (0..<classes).reduce(0) { $0 + confusion[truth * classes + $1] })
            for predicted in 0..<classes {
                let count = confusion[truth * classes + predicted]
                let share = Double(count) / Double(total)
                let shade: Canvas.Color = (UInt8(255 - 225 * share), UInt8(255 - 160 * share), 255)
                let (x, y) = (left + predicted * cell, top + truth * cell)
                canvas.fill(x: x, y: y, width: cell - 1, height: cell - 1, shade)
                if cell >= 28 {
                    canvas.text(String(count), x: x + cell / 2, y: y + cell / 2 - 3, share > 0.5 ? (255, 255, 255) : (0, 0, 0), anchor: .center)
                }
            }
            if cell >= 12 {
                canvas.text(labels[truth], x: left - 6, y: top + truth * cell + cell / 2 - 3, anchor: .right)
                canvas.text(String(truth), x: left + truth * cell + cell / 2, y: top - 12, anchor: .center)
            }
        }
        canvas.text("rows: true class", x: left, y: top + cell * classes + 10)
        return canvas.png
    }
}
