import AlexNetTraining
import CInterrupts
import FoundationEssentials

#if canImport(Glibc)
import Glibc
#endif

/// Draws the trainer's progress: on a terminal, one bar per epoch redrawn in place (images/s,
/// running loss and accuracy, ETA); otherwise plain lines at every tenth of an epoch, so that
/// logs and CI output stay readable.
final class ProgressDisplay: TrainingObserver {
    let isTerminal = isatty(STDERR_FILENO) != 0
    private var epoch = 0, epochs = 0
    private var lastDrawn = 0.0
    private var lastTenth = -1
    private var transfer = (label: "", start: 0.0, startBytes: 0)

    func epochStarted(epoch: Int, epochs: Int, batches: Int, firstBatch: Int) {
        self.epoch = epoch
        self.epochs = epochs
        lastTenth = firstBatch * 10 / max(batches, 1)
        if firstBatch > 0 { emit("epoch \(epoch + 1)/\(epochs): resuming at batch \(firstBatch + 1) of \(batches)\n") }
    }

    func stepFinished(epoch: Int, batch: Int, batches: Int, loss: Double, accuracy: Double, imagesPerSecond: Double,
                      learningRate: Float) {
        let done = batch + 1
        let fraction = Double(done) / Double(batches)
        let remaining = Double((batches - done) * batchSize) / max(imagesPerSecond, 1e-9)
        let status = "\(done)/\(batches) \(Self.rate(imagesPerSecond)) loss \(String(format: "%.4f", loss)) "
            + "acc \(Self.percent(accuracy)) lr \(String(format: "%g", learningRate))"
        if isTerminal {
            let now = Self.seconds()
            guard done == batches || now - lastDrawn > 0.1 else { return }
            lastDrawn = now
            let eta = Self.duration(remaining)
            draw(prefix: "epoch \(epoch + 1)/\(epochs)", fraction: fraction, suffix: "\(status) ETA \(eta)")
        } else {
            let tenth = done * 10 / batches
            guard tenth > lastTenth else { return }
            lastTenth = tenth
            emit("epoch \(epoch + 1)/\(epochs) \(String(format: "%3d%%", Int(fraction * 100))) \(status)\n")
        }
    }

    /// Images per batch, for the ETA (the rate is per image).
    var batchSize = 1
    /// Top-5 accuracy is shown only with more than five classes.
    var classCount = 10

    func validationProgress(batch: Int, batches: Int) {
        guard isTerminal else { return }
        let now = Self.seconds()
        guard now - lastDrawn > 0.1 else { return }
        lastDrawn = now
        draw(prefix: "epoch \(epoch + 1)/\(epochs) validating", fraction: Double(batch + 1) / Double(batches), suffix: "\(batch + 1)/\(batches)")
    }

    func epochFinished(_ r: EpochRecord, isBest: Bool) {
        var line = "epoch \(r.epoch)/\(epochs): train loss \(String(format: "%.4f", r.trainLoss)) acc \(Self.percent(r.trainAccuracy))"
        if let loss = r.validationLoss, let top1 = r.validationTop1, let top5 = r.validationTop5 {
            line += " | val loss \(String(format: "%.4f", loss)) top-1 \(Self.percent(top1))" + (classCount > 5 ? " top-5 \(Self.percent(top5))" : "")
        }
        line += " | \(Self.rate(r.imagesPerSecond)), \(Self.duration(r.wallSeconds)) elapsed" + (isBest ? " (best)" : "")
        say(line)
    }

    /// Clears the bar and prints `line` on standard output (results go there, bars to stderr,
    /// so `alexnet train > log` keeps every summary).
    func say(_ line: String) {
        clearBar()
        print(line)
        fflush(nil)
    }

    /// Removes a bar drawn in place, so the next text starts on a clean line.
    func clearBar() {
        if isTerminal { emit("\r\u{1B}[2K") }
    }

    /// Draws `prefix [####----] suffix` in place, fitted to the terminal's width: the bar
    /// shrinks first, then goes, then the line is cut, so it never wraps.
    private func draw(prefix: String, fraction: Double, suffix: String) {
        emit("\r\u{1B}[2K" + Self.line(prefix: prefix, fraction: fraction, suffix: suffix, columns: Self.terminalColumns()))
    }

    /// `prefix [####----] suffix` in fewer than `columns` characters.
    static func line(prefix: String, fraction: Double, suffix: String, columns: Int) -> String {
        let width = columns - 1
        let room = width - prefix.count - suffix.count - 4
        var line = room >= 8 ? "\(prefix) \(bar(fraction, width: min(24, room))) \(suffix)" : "\(prefix) \(suffix)"
        if line.count > width { line = String(line.prefix(max(width, 1))) }
        return line
    }

    /// The width of the terminal on stderr (80 when it cannot be asked).
    static func terminalColumns() -> Int {
        var size = winsize()
        guard ioctl(STDERR_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return 80 }
        return Int(size.ws_col)
    }

    /// A bar for work other than training (statistics, evaluation).
    func simpleProgress(_ label: String, done: Int, total: Int) {
        if isTerminal {
            draw(prefix: label, fraction: Double(done) / Double(max(total, 1)), suffix: "\(done)/\(total)")
        } else {
            let tenth = done * 10 / max(total, 1)
            guard tenth > lastTenth else { return }
            lastTenth = tenth
            emit("\(label) \(done)/\(total)\n")
        }
    }

    /// A bar for a transfer of bytes (downloads): size so far, total when known, speed.
    func byteProgress(_ label: String, done: Int, total: Int?) {
        let now = Self.seconds()
        if label != transfer.label { transfer = (label, now, done) }
        let start = transfer.start
        let done = done - transfer.startBytes  // speed of this run, not of a resumed file's past
        let finished = total.map { done + transfer.startBytes >= $0 } ?? false
        let megabytes = { (bytes: Int) in String(format: "%.1f", Double(bytes) / 1e6) }
        let speed = String(format: "%.1f MB/s", Double(done) / 1e6 / max(now - start, 1e-3))
        if isTerminal {
            guard finished || now - lastDrawn >= 0.1 else { return }
            lastDrawn = now
            let got = done + transfer.startBytes
            let amount = total.map { "\(megabytes(got))/\(megabytes($0)) MB" } ?? "\(megabytes(got)) MB"
            if let total {
                draw(prefix: label, fraction: Double(got) / Double(max(total, 1)), suffix: "\(amount) \(speed)")
            } else {
                emit("\r\u{1B}[2K\(label) \(amount) \(speed)")
            }
        } else if let total {
            let tenth = (done + transfer.startBytes) * 10 / max(total, 1)
            guard tenth > lastTenth else { return }
            lastTenth = tenth
            emit("\(label) \(megabytes(done + transfer.startBytes))/\(megabytes(total)) MB \(speed)\n")
        }
    }

    func finishLine() {
        if isTerminal { emit("\n") }
        lastTenth = -1
    }

    func note(_ message: String) {
        clearBar()
        emit(message + "\n")
    }

    private func emit(_ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }

    static func bar(_ fraction: Double, width: Int = 24) -> String {
        let filled = Int((min(max(fraction, 0), 1) * Double(width)).rounded(.down))
        return "[" + String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled) + "]"
    }

    static func percent(_ value: Double) -> String { String(format: "%.2f%%", value * 100) }
    static func rate(_ imagesPerSecond: Double) -> String { String(format: "%.0f img/s", imagesPerSecond) }

    static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "?" }
        let total = Int(seconds.rounded())
        return total >= 3600
            ? String(format: "%d:%02d:%02d", total / 3600, total / 60 % 60, total % 60)
            : String(format: "%d:%02d", total / 60, total % 60)
    }

    static func seconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }
}

/// Ctrl-C and SIGTERM: the first asks the trainer to stop after the current step and write a
/// checkpoint; a second one exits at once. They are taken by a thread of their own, never by a
/// handler on a computing thread (`CInterrupts`).
enum Interrupts {
    static func install() { alexnet_interrupts_install() }

    static var isRequested: Bool { alexnet_interrupts_requested() != 0 }
}
