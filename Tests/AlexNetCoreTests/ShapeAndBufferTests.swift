import AlexNetCore
import Testing

@Suite struct ShapeAndBufferTests {
    @Test func shapeParsesAndPrints() {
        #expect(Shape(parsing: "3x227x227") == Shape(channels: 3, height: 227, width: 227))
        #expect(Shape(parsing: "1,28,28")?.description == "1x28x28")
        #expect(Shape(parsing: "9216") == Shape(features: 9216))
        #expect(Shape(parsing: "3x0x4") == nil)
        #expect(Shape(parsing: "3xx4") == nil)
        #expect(Shape(parsing: "abc") == nil)
        #expect(Shape(parsing: "") == nil)
        #expect(Shape(channels: 96, height: 55, width: 55).elementCount == 290_400)
    }

    @Test func floatBufferIsAlignedAndViewsShareStorage() {
        let buffer = FloatBuffer(count: 100)
        #expect(Int(bitPattern: buffer.baseAddress) % 64 == 0)
        let view = buffer.view(offset: 16, count: 4)
        view[0] = 3
        #expect(buffer[16] == 3)
        buffer.fill(with: 1)
        #expect(buffer.array.allSatisfy { $0 == 1 })
        #expect(FloatBuffer([1, 2, 3]).array == [1, 2, 3])
    }

    @Test func comparisonReportsTheWorstElement() {
        let close = Comparison([1, 2, 3], [1, 2, 3.000_001], atol: 1e-5, rtol: 0)
        #expect(close.isClose)
        let far = Comparison([1, 2, 3], [1, 2.5, 3], atol: 1e-5, rtol: 1e-3)
        #expect(!far.isClose)
        #expect(far.mismatches == 1 && far.worstIndex == 1)
        #expect(far.description.contains("worst at [1]"))
        #expect(!Comparison([Float.nan], [1], atol: 1, rtol: 1).isClose)
        #expect(!Comparison([1, 2], [1], atol: 1, rtol: 1).isClose)
    }
}
