/// How two tensors differ, element by element, against the tolerance |a - e| <= atol + rtol |e|
/// (NumPy's `allclose`). Its description prints the first pairs and the worst element, llm.c
/// style, so a failing check says where and by how much.
public struct Comparison: CustomStringConvertible, Sendable {
    public var count: Int
    /// Elements outside the tolerance (NaN anywhere counts as outside).
    public var mismatches: Int
    public var maxAbsoluteDifference: Float
    public var worstIndex: Int
    public var worstActual: Float
    public var worstExpected: Float
    public var firstPairs: [(actual: Float, expected: Float)]
    public var atol: Float
    public var rtol: Float
    public var shapeMismatch: String?
    /// ||actual - expected|| / ||expected|| (Euclidean norms): how far apart the tensors are as a
    /// whole, insensitive to a few elements that rounding sent down another branch (a ReLU at 0,
    /// a near-tie in max pooling).
    public var relativeNormError: Double
    /// Root mean square of actual - expected.
    public var rootMeanSquareDifference: Double

    public var isClose: Bool { shapeMismatch == nil && mismatches == 0 }

    public init(_ actual: [Float], _ expected: [Float], atol: Float, rtol: Float) {
        self.atol = atol
        self.rtol = rtol
        count = min(actual.count, expected.count)
        shapeMismatch = actual.count == expected.count ? nil : "\(actual.count) values vs \(expected.count) expected"
        mismatches = 0
        relativeNormError = 0
        rootMeanSquareDifference = 0
        maxAbsoluteDifference = 0
        worstIndex = 0
        worstActual = actual.first ?? 0
        worstExpected = expected.first ?? 0
        firstPairs = Array(zip(actual.prefix(4), expected.prefix(4))).map { (actual: $0, expected: $1) }
        var worstExcess: Float = -.infinity
        var differenceSquares = 0.0, expectedSquares = 0.0
        for i in 0..<count {
            differenceSquares += Double(actual[i] - expected[i]) * Double(actual[i] - expected[i])
            expectedSquares += Double(expected[i]) * Double(expected[i])
            let difference = abs(actual[i] - expected[i])
            let allowed = atol + rtol * abs(expected[i])
            let isBad = !(difference <= allowed)
            if isBad { mismatches += 1 }
            let excess = difference.isNaN ? .infinity : difference - allowed
            if excess > worstExcess {
                worstExcess = excess
                worstIndex = i
                worstActual = actual[i]
                worstExpected = expected[i]
            }
            if difference > maxAbsoluteDifference || difference.isNaN { maxAbsoluteDifference = difference }
        }
        rootMeanSquareDifference = count > 0 ? (differenceSquares / Double(count)).squareRoot() : 0
        relativeNormError = expectedSquares > 0 ? (differenceSquares / expectedSquares).squareRoot()
            : (differenceSquares > 0 ? .infinity : 0)
    }

    public init(_ actual: Tensor, _ expected: Tensor, atol: Float, rtol: Float) {
        self.init(actual.scalars, expected.scalars, atol: atol, rtol: rtol)
        if actual.shape != expected.shape { shapeMismatch = "shape \(actual.shape) vs \(expected.shape) expected" }
    }

    public var description: String {
        if let shapeMismatch { return "different sizes: \(shapeMismatch)" }
        let pairs = firstPairs.map { "\($0.actual) vs \($0.expected)" }.joined(separator: ", ")
        return "\(mismatches) of \(count) outside atol \(atol) + rtol \(rtol); max |difference| \(maxAbsoluteDifference); "
            + "relative norm error \(relativeNormError); "
            + "worst at [\(worstIndex)]: \(worstActual) vs \(worstExpected); first: \(pairs)"
    }
}
