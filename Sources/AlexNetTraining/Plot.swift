import Foundation

/// A line chart: a few named series over a shared x axis, drawn as SVG.
public struct Plot: Sendable {
    public struct Series: Sendable {
        public var name: String
        public var color: String
        public var x: [Double]
        public var y: [Double]
    }

    public var title: String
    public var xLabel: String
    public var series: [Series]

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
        for k in 0...4 {
            let y = yRange.lowerBound + Double(k) / 4 * (yRange.upperBound - yRange.lowerBound)
            out += "<line x1=\"\(f(left))\" x2=\"\(f(right))\" y1=\"\(f(py(y)))\" y2=\"\(f(py(y)))\" stroke=\"#eee\"/>"
            out += "<text x=\"\(f(left - 4))\" y=\"\(f(py(y) + 4))\" text-anchor=\"end\">\(String(format: "%.3g", y))</text>\n"
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
            let legendY = top + 14 + 14 * Double(k)
            out += "\n<line x1=\"\(f(right - 90))\" x2=\"\(f(right - 74))\" y1=\"\(f(legendY - 4))\" y2=\"\(f(legendY - 4))\" stroke=\"\(s.color)\" stroke-width=\"2\"/>"
            out += "<text x=\"\(f(right - 70))\" y=\"\(f(legendY))\">\(s.name)</text>\n"
        }
        return out
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
