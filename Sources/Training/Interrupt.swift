import Foundation
import Synchronization

/// Ctrl-C (SIGINT) and SIGTERM during training: the handler only raises a flag; the trainer finishes the optimizer
/// step it is in, writes a checkpoint and stops, so an interrupted run resumes where it was.
enum Interrupt {
    nonisolated(unsafe) static var previous: [Int32: (@convention(c) (Int32) -> Void)?] = [:]
    static let requested = Atomic<Bool>(false)

    static func install() {
        requested.store(false, ordering: .relaxed)
        // A parent that blocks these signals (a test runner, some process managers) passes the mask on; unblock them
        // here, or they would wait pending until the end of training.
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGINT)
        sigaddset(&signals, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &signals, nil)
        for s in [SIGINT, SIGTERM] {
            previous[s] = signal(s) { _ in Interrupt.requested.store(true, ordering: .relaxed) }
        }
    }

    /// Puts back what handled the signals before (the default: terminate).
    static func remove() {
        for (s, handler) in previous { signal(s, handler) }
        previous = [:]
    }

    static var isRequested: Bool { requested.load(ordering: .relaxed) }
}
