@testable import Datasets
@testable import Recipe
@testable import Training
import Foundation
import TestSupport
import Testing

/// `dit lab` (issue 22), driven by python/lab_check.py against a runs folder of two runs: the short-trained shapes
/// model (Tests/Fixtures/runs/shapes16) to generate from, and a tiny run trained here with logs, samples and two
/// checkpoints to draw curves of.
@Suite("DiTKit Lab", .serialized)
struct LabTests {
    static let runs: Result<URL, any Error> = Result {
        let root = try temporaryDirectory().appendingPathComponent("runs")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: fixturesDirectory.appendingPathComponent("runs/shapes16"),
                                         to: root.appendingPathComponent("shapes16"))
        var config = try tinyConfig(try trainerFixture.get(), name: "tiny", steps: 6, checkpointEvery: 3)
        (config.run.outputDir, config.run.sampleEvery) = (root.path, 3)
        let trainer = try Trainer(config: config)
        trainer.quiet = true
        try trainer.train()
        return root
    }

    static func check(_ extra: [String]) throws -> (status: Int32, output: String) {
        let root = try runs.get()
        let run = try runProcess(URL(fileURLWithPath: try testPython()),
                                 [packageRoot.appendingPathComponent("python/lab_check.py").path, "--dit", ditBinary().path,
                                  "--runs", root.path, "--generate-run", "shapes16", "--curve-run", "tiny"] + extra)
        return (run.status, run.output)
    }

    static var browserInstalled: Bool {
        ["/usr/bin/chromium", "/usr/bin/chromedriver"].allSatisfy { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Traversal (`..`, `%2e%2e`, absolute paths, symbolic links out of the folder) gets a 4xx and no byte from
    /// outside; a 10 MB request gets 413; bad generation requests get a 4xx with a message; 20 generations at once
    /// all finish, in the order asked; a run deleted while watched disappears from the list; the server stays up.
    @Test func overHTTPTheServerRefusesAndSurvives() throws {
        let r = try Self.check(["--http"])
        #expect(r.status == 0, "\(r.output)")
        #expect(r.output.contains(#""concurrent_done": 20"#) && r.output.contains(#""ten_megabytes": 413"#), "\(r.output)")
    }

    /// In headless Chromium, as a person uses it: the run list renders, the tiny run's loss curve has points, a
    /// prompt typed into the playground generates with its 6 steps streamed, the shape word's attention map shows
    /// (its caption names the word), nothing is fetched from anywhere but the lab, and a screenshot is written.
    /// CI installs the browser (scripts/browser-deps.sh); elsewhere the test runs when it is installed.
    @Test(.enabled(if: browserInstalled || ProcessInfo.processInfo.environment["CI"] != nil,
                   "needs chromium and chromium-driver: bash scripts/browser-deps.sh"))
    func inABrowserTheLabListsPlotsAndGenerates() throws {
        let shot = try temporaryDirectory().appendingPathComponent("lab.png")
        let r = try Self.check(["--browser", "--screenshot", shot.path])
        #expect(r.status == 0, "\(r.output)")
        #expect(r.output.contains(#""foreign": []"#) && r.output.contains(#""streamed_steps": 6"#), "\(r.output)")
        let picture = try PNG.read(shot)
        #expect(picture.width >= 1000 && picture.height >= 800, "\(picture.width)×\(picture.height)")
    }
}
