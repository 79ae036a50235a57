import Foundation
import TestSupport
import Testing

/// scripts/bootstrap.sh's choices on the learner's systems, from faked os-release files (`--plan` installs nothing).
@Suite("Bootstrap on Debian, Ubuntu and WSL2")
struct BootstrapTests {
    static func plan(_ osRelease: String, _ environment: [String: String] = [:]) throws -> ProcessResult {
        let dir = try temporaryDirectory()
        let file = dir.appendingPathComponent("os-release")
        try osRelease.write(to: file, atomically: true, encoding: .utf8)
        var env = ProcessInfo.processInfo.environment
        env["DITKIT_OS_RELEASE"] = file.path
        env.removeValue(forKey: "DITKIT_TORCH")
        for (k, v) in environment { env[k] = v }
        return try runProcess(URL(fileURLWithPath: "/bin/bash"),
                              [packageRoot.appendingPathComponent("scripts/bootstrap.sh").path, "--plan"], environment: env)
    }

    static let debian = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nVERSION_ID=\"12\"\nID=debian\n"
    static let jammy = "NAME=\"Ubuntu\"\nVERSION_ID=\"22.04\"\nID=ubuntu\nID_LIKE=debian\n"
    static let noble = "NAME=\"Ubuntu\"\nVERSION_ID=\"24.04\"\nID=ubuntu\nID_LIKE=debian\n"

    @Test(arguments: [(debian, "debian 12"), (jammy, "ubuntu 22.04"), (noble, "ubuntu 24.04")])
    func packageNamesExistOnEach(_ osRelease: String, _ system: String) throws {
        // No headers where it looks: every library package is missing, and the exact command is printed.
        let empty = try temporaryDirectory()
        let r = try Self.plan(osRelease, ["DITKIT_INCLUDE_DIR": empty.path])
        #expect(r.status == 0, "\(r.output)")
        #expect(r.output.contains("system: \(system)"), "\(r.output)")
        #expect(r.output.contains("command: sudo apt-get update && sudo apt-get install -y libpng-dev libjpeg-dev zlib1g-dev"),
                "\(r.output)")
        // The Debian-only name is gone (Ubuntu has no libjpeg62-turbo-dev).
        #expect(!r.output.contains("libjpeg62-turbo-dev"))
    }

    @Test func wslAndTheTorchChoiceAreTold() throws {
        let r = try Self.plan(Self.noble, ["DITKIT_WSL": "1", "DITKIT_TORCH": "cpu"])
        #expect(r.output.contains("system: ubuntu 24.04 (WSL2)") && r.output.contains("DITKIT_TORCH=cpu -> cpu build"), "\(r.output)")
        let cuda = try Self.plan(Self.noble, ["DITKIT_TORCH": "cuda"])
        #expect(cuda.output.contains("-> cuda build"), "\(cuda.output)")
        let wrong = try Self.plan(Self.noble, ["DITKIT_TORCH": "gpu"])
        #expect(wrong.status != 0 && wrong.output.contains("expected auto, cpu, cuda or existing"), "\(wrong.output)")
    }

    @Test func otherSystemsAreToldWhatIsNeeded() throws {
        let r = try Self.plan("ID=fedora\nVERSION_ID=40\n")
        #expect(r.output.contains("not Debian or Ubuntu") && r.output.contains("libjpeg"), "\(r.output)")
    }
}
