import AlexNetData
import Testing

/// Two RGB pixels per image: image i is (i, 2i, 0) and (3i, 0, 255) in bytes.
struct TwoPixelSource: ImageSource {
    var count: Int
    var name: String { "two-pixel" }
    var classNames: [String] { ["only"] }
    func label(at index: Int) -> Int { 0 }
    func image(at index: Int) throws(DataError) -> Image {
        Image(width: 2, height: 1, channels: 3, pixels: [UInt8(index), UInt8(2 * index), 0, UInt8(3 * index), 0, 255])
    }
}

@Suite struct StatisticsTests {
    @Test func meanStdAndCovarianceMatchADirectComputation() throws {
        let source = TwoPixelSource(count: 20)
        let statistics = try DatasetStatistics.compute(source, channels: 3)
        var values: [[Double]] = []
        for i in 0..<20 {
            let pixels = try source.image(at: i).pixels.map { Double($0) / 255 }
            values.append(Array(pixels[0..<3]))
            values.append(Array(pixels[3..<6]))
        }
        let n = Double(values.count)
        for c in 0..<3 {
            let mean = values.reduce(0) { $0 + $1[c] } / n
            let variance = values.reduce(0) { $0 + ($1[c] - mean) * ($1[c] - mean) } / n
            #expect(abs(statistics.mean[c] - mean) < 1e-12 && abs(statistics.std[c] - variance.squareRoot()) < 1e-9)
        }
        let mean = (0..<3).map { c in values.reduce(0) { $0 + $1[c] } / n }
        let covariance01 = values.reduce(0) { $0 + ($1[0] - mean[0]) * ($1[1] - mean[1]) } / n
        #expect(abs(statistics.covariance[1] - covariance01) < 1e-9)
        #expect(statistics.pixels == 40 && statistics.eigenvalues?.count == 3)
    }

    /// With skipping, unreadable images are reported and the statistics are those of the rest.
    @Test func skippingBadImages() throws {
        let broken = CountingSource(count: 10, broken: [3, 7])
        #expect(throws: DataError.self) { try DatasetStatistics.compute(broken, channels: 1) }
        var skipped: [Int] = []
        let statistics = try DatasetStatistics.compute(broken, channels: 1, skipping: { index, _ in skipped.append(index) })
        #expect(skipped == [3, 7])
        let kept = (0..<10).filter { ![3, 7].contains($0) }
        #expect(statistics.pixels == 4 * kept.count)
        #expect(abs(statistics.mean[0] - Double(kept.reduce(0, +)) / Double(kept.count) / 255) < 1e-12)
    }

    @Test func eigenDecompositionReconstructsTheMatrix() {
        let matrix: [Double] = [4, 1, 0.5, 1, 3, 0.25, 0.5, 0.25, 2]
        let (values, vectors) = DatasetStatistics.symmetricEigen3(matrix)
        #expect(values[0] >= values[1] && values[1] >= values[2])
        #expect(abs(values.reduce(0, +) - 9) < 1e-9, "the trace is the sum of eigenvalues")
        // A v = lambda v for each column.
        for k in 0..<3 {
            for row in 0..<3 {
                let av = (0..<3).reduce(0) { $0 + matrix[row * 3 + $1] * vectors[$1 * 3 + k] }
                #expect(abs(av - values[k] * vectors[row * 3 + k]) < 1e-9)
            }
        }
    }

    @Test func contactSheetHoldsTheFirstImages() throws {
        let sheet = try ContactSheet.make(TwoPixelSource(count: 3), columns: 2, rows: 2, cell: 4)
        #expect(sheet.width == 2 * 6 + 2 && sheet.height == 2 * 6 + 2 && sheet.channels == 3)
    }
}
