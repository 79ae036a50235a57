import Foundation

/// Training stopped by Ctrl-C or SIGTERM after writing a checkpoint.
public struct TrainingInterrupted: Error, CustomStringConvertible {
    public let step: Int
    public let checkpoint: URL
    public var description: String { "interrupted at step \(step); resume from \(checkpoint.path) with --resume" }
}
