import Foundation
import FuzzTargets
import TestSupport
import Testing

/// `make fuzz` feeds mutated files to every parser; what it once crashed on is committed under
/// Tests/Fixtures/fuzz/<target>/ and replayed here, and each target's seeds must still parse, so the fuzzer keeps
/// starting from valid files (a harness that rejects everything would fuzz nothing).
@Suite("Fuzz regressions", .serialized)
struct FuzzRegressionTests {
    static let targets = FuzzTargets.all(root: packageRoot)

    @Test func everySeedIsAccepted() throws {
        #expect(Self.targets.count == 16)  // 11 parsers and 5 model classes built from their config.json
        for target in Self.targets {
            for (i, seed) in try target.seeds().enumerated() {
                let scratch = try temporaryDirectory()
                #expect(throws: Never.self, "\(target.name) seed \(i)") { try target.run(seed, scratch) }
            }
        }
    }

    /// Each committed input is answered with an error that names the problem, never a crash.
    @Test func committedCrashInputsAreRejectedCleanly() throws {
        let folder = packageRoot.appendingPathComponent("Tests/Fixtures/fuzz")
        var replayed = 0
        for target in Self.targets {
            let dir = folder.appendingPathComponent(target.name)
            for name in (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? [] {
                let input = Array(try Data(contentsOf: dir.appendingPathComponent(name)))
                do {
                    try target.run(input, try temporaryDirectory())
                    Issue.record("\(target.name)/\(name) was accepted; it is a broken file")
                } catch {
                    #expect(!"\(error)".isEmpty, "\(target.name)/\(name)")
                }
                replayed += 1
            }
        }
        #expect(replayed >= 1)
    }
}
