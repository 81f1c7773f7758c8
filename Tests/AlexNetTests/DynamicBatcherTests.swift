@testable import AlexNet
import Foundation
import Synchronization
import Testing

/// The batcher's rules, made deterministic by holding callers in their preparation.
@Suite struct DynamicBatcherTests {
    /// Holds callers until opened.
    final class Gate: Sendable {
        private let isOpen = Mutex(false)
        func open() { isOpen.withLock { $0 = true } }
        func wait() async { while !isOpen.withLock({ $0 }) { try? await Task.sleep(for: .milliseconds(1)) } }
    }

    static func waitUntil(_ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while !condition() {
            guard ContinuousClock.now < deadline else { Issue.record("timed out"); return }
            try await Task.sleep(for: .milliseconds(2))
        }
    }

    @Test func imagesOnTheirWayJoinOneBatch() async throws {
        let classifier = try Classifier(checkpoint: try ClassifierFixture.checkpoint().path)
        let sizes = Mutex<[Int]>([])
        let batcher = DynamicBatcher(classifier: classifier, configuration: .init(maxBatch: 16, maxDelay: .seconds(30)),
                                     onBatch: { report in sizes.withLock { $0.append(report.size) } })
        let gate = Gate()
        let photos = (0..<6).map { ClassifierFixture.photo(width: 20 + $0, height: 18) }
        let results = try await withThrowingTaskGroup(of: (Int, [Float]).self) { group in
            for (k, photo) in photos.enumerated() {
                group.addTask {
                    (k, try await batcher.logits(reserving: 1) {
                        await gate.wait()
                        return try classifier.input(for: photo)
                    })
                }
            }
            try await Self.waitUntil { batcher.depth == 6 }
            gate.open()
            var results = [[Float]](repeating: [], count: photos.count)
            for try await (k, logits) in group { results[k] = logits }
            return results
        }
        // One batch: the worker waited while reserved images were being prepared, and ran as
        // soon as the last arrived (not after the 30 s delay).
        #expect(sizes.withLock { $0 } == [6])
        for (k, photo) in photos.enumerated() {
            let alone = try classifier.logits(forInputs: try classifier.input(for: photo), count: 1)
            for (a, b) in zip(results[k], alone) { #expect(abs(a - b) <= 1e-5) }
        }
        await batcher.close()
    }

    @Test func aLoneCallerDoesNotWaitForTheDelay() async throws {
        let classifier = try Classifier(checkpoint: try ClassifierFixture.checkpoint().path)
        // The wait is what the worker reports (the test's own clock would count the time the
        // other suites keep the cooperative threads busy).
        let waits = Mutex<[Duration]>([])
        let batcher = DynamicBatcher(classifier: classifier, configuration: .init(maxBatch: 16, maxDelay: .seconds(30)),
                                     onBatch: { report in waits.withLock { $0 += report.queueTimes } })
        let logits = try await batcher.logits(reserving: 1) { try classifier.input(for: ClassifierFixture.photo()) }
        #expect(logits.count == 3)
        let wait = try #require(waits.withLock { $0.first })
        #expect(wait < .seconds(10), "a lone image waited \(wait)")
        await batcher.close()
        await batcher.close()  // a second close returns too
    }

    @Test func aFullQueueRefusesAtOnceAndFailuresFreeTheirPlaces() async throws {
        let classifier = try Classifier(checkpoint: try ClassifierFixture.checkpoint().path)
        let batcher = DynamicBatcher(classifier: classifier, configuration: .init(maxBatch: 4, maxDelay: .milliseconds(1), capacity: 2))
        let gate = Gate()
        let input = try classifier.input(for: ClassifierFixture.photo())
        async let held: [Float] = batcher.logits(reserving: 2) {
            await gate.wait()
            return input + input
        }
        try await Self.waitUntil { batcher.depth == 2 }
        await #expect(throws: DynamicBatcher.Refusal.full(capacity: 2)) { try await batcher.logits(reserving: 1) { input } }
        await #expect(throws: DynamicBatcher.Refusal.tooMany(3, capacity: 2)) { try await batcher.logits(reserving: 3) { input } }
        gate.open()
        #expect(try await held.count == 6)
        // A caller whose preparation fails gives its place back.
        struct Broken: Error {}
        await #expect(throws: Broken.self) { try await batcher.logits(reserving: 2) { throw Broken() } }
        await #expect(throws: PlanError.self) { try await batcher.logits(reserving: 1) { [1, 2, 3] } }
        #expect(batcher.depth == 0)
        #expect(try await batcher.logits(reserving: 2) { input + input }.count == 6)
        await batcher.close()
        #expect(batcher.isClosed)
        await #expect(throws: DynamicBatcher.Refusal.closed) { try await batcher.logits(reserving: 1) { input } }
    }

    @Test func batchesRunAsPowerOfTwoPlans() {
        #expect(Classifier.planSizes(for: 13, largest: 8) == [8, 4, 1])
        #expect(Classifier.planSizes(for: 40, largest: 16) == [16, 16, 8])
        #expect(Classifier.planSizes(for: 7, largest: 12) == [4, 2, 1])
        #expect(Classifier.planSizes(for: 20, largest: 12) == [8, 8, 4])
        #expect(Classifier.planSizes(for: 0, largest: 16) == [])
    }
}
