import AlexNetCore
import Testing

@Suite struct PhiloxTests {
    /// Known-answer vectors of Philox4x32-10 from the Random123 distribution (kat_vectors).
    @Test func matchesRandom123KnownAnswers() {
        let zero = Philox(seed: 0, stream: 0).block(at: 0)
        #expect(zero == (0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8))

        let ones = Philox(seed: 0xFFFF_FFFF_FFFF_FFFF, stream: 0xFFFF_FFFF_FFFF_FFFF).block(at: 0xFFFF_FFFF_FFFF_FFFF)
        #expect(ones == (0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd))

        // Counter words (0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344), key (0xa4093822, 0x299f31d0).
        let pi = Philox(seed: 0x299f_31d0_a409_3822, stream: 0x0370_7344_1319_8a2e).block(at: 0x85a3_08d3_243f_6a88)
        #expect(pi == (0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1))
    }

    @Test func uniformIsInUnitIntervalAndDeterministic() {
        let rng = Philox(seed: 42, stream: 7)
        let values = (0..<10_000).map { rng.uniform(at: UInt64($0)) }
        #expect(values.allSatisfy { $0 >= 0 && $0 < 1 })
        let mean = values.reduce(0, +) / Float(values.count)
        #expect(abs(mean - 0.5) < 0.01)
        #expect(values == (0..<10_000).map { Philox(seed: 42, stream: 7).uniform(at: UInt64($0)) })
        #expect(values[0] != Philox(seed: 42, stream: 8).uniform(at: 0))
        #expect(values[0] != Philox(seed: 43, stream: 7).uniform(at: 0))
    }

    @Test func normalHasUnitVariance() {
        let rng = Philox(seed: 1)
        let values = (0..<20_000).map { Double(rng.normal(at: UInt64($0))) }
        let mean = values.reduce(0, +) / Double(values.count)
        let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count)
        #expect(abs(mean) < 0.03)
        #expect(abs(variance - 1) < 0.04)
        #expect(values.allSatisfy { $0.isFinite })
    }
}
