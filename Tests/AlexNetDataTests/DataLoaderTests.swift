import AlexNetCore
import AlexNetData
import Testing

/// Example i is a 2x2 gray image filled with i (mod 256) and labelled i mod 3; examples listed
/// in `broken` fail to decode.
struct CountingSource: ImageSource {
    var count: Int
    var broken: Set<Int> = []
    var name: String { "counting" }
    var classNames: [String] { ["a", "b", "c"] }
    func label(at index: Int) -> Int { index % 3 }
    func image(at index: Int) throws(DataError) -> Image {
        if broken.contains(index) { throw DataError("counting/\(index).png", "is truncated") }
        return Image(width: 2, height: 2, channels: 1, pixels: Array(repeating: UInt8(index % 256), count: 4))
    }
}

@Suite struct DataLoaderTests {
    let shape = Shape(channels: 1, height: 2, width: 2)

    func loader(_ source: CountingSource, batch: Int = 4, training: Bool = true, seed: UInt64 = 9, workers: Int = 2,
                skip: Bool = false) throws -> DataLoader {
        try DataLoader(source: source, preprocessing: Preprocessing(channels: 1, scale: 1), shape: shape, batchSize: batch,
                       training: training, seed: seed, workers: workers, prefetch: 2, skipBadImages: skip)
    }

    /// The example indices of a batch (pixel values are the indices).
    func examples(_ batch: Batch) -> [Int] { (0..<batch.count).map { Int(batch.input.scalars[$0 * 4]) } }

    @Test func shuffleIsSeededPerEpochAndVisitsEveryExampleOnce() throws {
        let l = try loader(CountingSource(count: 50))
        #expect(l.order(epoch: 0) == l.order(epoch: 0))
        #expect(l.order(epoch: 0) != l.order(epoch: 1))
        #expect(l.order(epoch: 0) != (try loader(CountingSource(count: 50), seed: 10)).order(epoch: 0))
        #expect(l.order(epoch: 3).sorted() == Array(0..<50))
        // Training drops the short last batch: 12 batches of 4.
        let seen = Array(l.batches(epoch: 0)).flatMap(examples)
        #expect(seen.count == 48 && Set(seen).count == 48)
        #expect(seen == Array(l.order(epoch: 0).prefix(48)))
    }

    @Test func labelsFollowTheirImages() throws {
        for batch in try loader(CountingSource(count: 20)).batches(epoch: 2) {
            #expect(examples(batch).map { $0 % 3 } == batch.labels)
        }
    }

    @Test func resumingMidEpochGivesTheSameBatches() throws {
        let l = try loader(CountingSource(count: 40))
        let all = Array(l.batches(epoch: 1)).map(examples)
        let resumed = Array(l.batches(epoch: 1, from: 6)).map(examples)
        #expect(resumed == Array(all[6...]))
    }

    /// In data-parallel training each process's batches are its slice of the one-process
    /// batches, row for row and pixel for pixel (augmentation follows the example).
    @Test func shardsAreSlicesOfTheWholeBatches() throws {
        let source = CountingSource(count: 70)
        let augmented = Preprocessing(channels: 1, resize: 3, crop: 2, randomCrop: true, flip: true, scale: 1)
        let whole = try DataLoader(source: source, preprocessing: augmented, shape: shape, batchSize: 12, training: true, seed: 3)
        let shards = try (0..<3).map { rank in
            try DataLoader(source: source, preprocessing: augmented, shape: shape, batchSize: 4, training: true, seed: 3,
                           shard: Shard(rank: rank, count: 3))
        }
        #expect(shards.allSatisfy { $0.batchesPerEpoch == whole.batchesPerEpoch && $0.globalBatchSize == 12 })
        #expect(shards.map(\.firstRow) == [0, 4, 8])
        for epoch in 0..<2 {
            let expected = Array(whole.batches(epoch: epoch))
            let sliced = shards.map { Array($0.batches(epoch: epoch)) }
            #expect(expected.count == 5)
            for (index, batch) in expected.enumerated() {
                #expect(sliced.flatMap { $0[index].input.scalars } == batch.input.scalars, "epoch \(epoch) batch \(index)")
                #expect(sliced.flatMap { $0[index].labels } == batch.labels)
            }
        }
        // Evaluation keeps the short last batch: 70 = 5 x 12 + 10, so the last slices hold 4, 4 and 2 rows.
        let evaluation = try (0..<3).map { rank in
            try loader(source, batch: 4, training: false).withShard(rank: rank, of: 3)
        }
        let last = evaluation.map { Array($0.batches(epoch: 0)).last!.count }
        #expect(last == [4, 4, 2])
        #expect(evaluation.map { Array($0.batches(epoch: 0)).map(\.count).reduce(0, +) }.reduce(0, +) == 70)
        #expect(try evaluation.map { Array($0.batches(epoch: 0)).flatMap(examples) }.flatMap { $0 }.sorted() == Array(0..<70))
    }

    @Test func workerCountDoesNotChangeTheBatches() throws {
        let one = Array(try loader(CountingSource(count: 64), workers: 1).batches(epoch: 0)).map(\.input)
        let four = Array(try loader(CountingSource(count: 64), workers: 4).batches(epoch: 0)).map(\.input)
        #expect(one == four)
    }

    @Test func evaluationKeepsOrderAndPadsTheLastBatch() throws {
        let l = try loader(CountingSource(count: 10), training: false)
        let batches = Array(l.batches(epoch: 0))
        #expect(batches.count == 3)
        #expect(batches.flatMap(examples) == Array(0..<10))
        #expect(batches[2].count == 2 && batches[2].input.shape == [4, 1, 2, 2])
        #expect(batches[2].input.scalars[8...].allSatisfy { $0 == 0 })
    }

    @Test func aBrokenExampleNamesItsFile() throws {
        let l = try loader(CountingSource(count: 40, broken: [17]), training: false)
        let stream = l.batches(epoch: 0)
        var error: DataError?
        do {
            while try stream.nextBatch() != nil {}
        } catch let failure {
            error = failure
        }
        #expect(error?.source == "counting/17.png")
    }

    /// --skip-bad-images: training batches stay full, the next examples of the order standing in
    /// (the same whatever the worker count); evaluation leaves the bad ones out. Each is counted once.
    @Test func skippingBadImages() throws {
        let source = CountingSource(count: 40, broken: [3, 17, 18])
        let training = try loader(source, workers: 3, skip: true)
        let batches = Array(training.batches(epoch: 0))
        #expect(batches.count == 10 && batches.allSatisfy { $0.count == 4 })
        let seen = batches.flatMap(examples)
        #expect(!seen.contains(3) && !seen.contains(17) && !seen.contains(18))
        #expect(seen == Array(try loader(source, workers: 1, skip: true).batches(epoch: 0)).flatMap(examples))
        for batch in batches { #expect(examples(batch).map { $0 % 3 } == batch.labels) }
        #expect(training.skippedImages.map(\.example) == [3, 17, 18])
        #expect(training.skippedImages[0].reason == "counting/3.png: is truncated")

        let evaluation = try loader(source, training: false, skip: true)
        let kept = Array(evaluation.batches(epoch: 0)).flatMap(examples)
        #expect(kept == (0..<40).filter { ![3, 17, 18].contains($0) })
        #expect(evaluation.skippedImages.count == 3)
        // Everything bad: training has nothing to stand in, and says so.
        let hopeless = try loader(CountingSource(count: 8, broken: Set(0..<8)), skip: true)
        #expect(throws: DataError.self) { try hopeless.batch(epoch: 0, index: 0) }
    }

    @Test func stoppingMidEpochReturnsPromptly() throws {
        let stream = try loader(CountingSource(count: 4000)).batches(epoch: 0)
        _ = try stream.nextBatch()
        stream.stop()
        #expect(try stream.nextBatch() == nil)
    }

    @Test func tooFewExamplesForABatchIsAnError() {
        #expect(throws: DataError.self) { try loader(CountingSource(count: 3), batch: 4) }
        #expect(throws: DataError.self) { try loader(CountingSource(count: 0), training: false) }
    }

    @Test func fashionMNISTStatisticsMatchThePresetsConstants() throws {
        // The quick preset standardises with mean 0.2860 and std 0.3530; check them on the
        // real training set.
        let data = try FashionMNIST.training()
        var sum: Double = 0, squares: Double = 0
        for pixel in data.images.pixels {
            let x = Double(pixel) / 255
            sum += x
            squares += x * x
        }
        let n = Double(data.images.pixels.count)
        let mean = sum / n, std = (squares / n - mean * mean).squareRoot()
        #expect(abs(mean - 0.2860) < 5e-4 && abs(std - 0.3530) < 5e-4, "mean \(mean) std \(std)")
    }
}

extension DataLoader {
    /// The same loader, as process `rank` of `count`.
    func withShard(rank: Int, of count: Int) throws -> DataLoader {
        try DataLoader(source: source, preprocessing: preprocessing, shape: shape, batchSize: batchSize, training: training, seed: seed,
                       workers: workers, prefetch: prefetch, skipBadImages: skipBadImages, shard: Shard(rank: rank, count: count))
    }
}
