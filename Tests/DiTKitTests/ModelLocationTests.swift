@testable import Core
@testable import Prepare
@testable import Recipe
import Foundation
import TestSupport
import Testing
import Torch

/// `models--ORG--NAME/snapshots/REV/` with `refs/main`, as `hf download` leaves a repo in the Hugging Face cache.
func cacheRepo(_ repo: String, from folder: URL, in hub: URL, revision: String = "0123abcd") throws -> URL {
    let root = hub.appendingPathComponent("models--" + repo.replacingOccurrences(of: "/", with: "--"))
    let snapshot = root.appendingPathComponent("snapshots/\(revision)")
    try FileManager.default.createDirectory(at: snapshot.deletingLastPathComponent(), withIntermediateDirectories: true)
    try FileManager.default.copyItem(at: folder, to: snapshot)
    try FileManager.default.createDirectory(at: root.appendingPathComponent("refs"), withIntermediateDirectories: true)
    try revision.write(to: root.appendingPathComponent("refs/main"), atomically: true, encoding: .utf8)
    return snapshot
}

@Suite("Models by repo id", .serialized)
struct ModelLocationTests {
    @Test func theCacheFolderFollowsTheEnvironment() {
        #expect(ModelLocation.hubCache(["HF_HUB_CACHE": "/a", "HF_HOME": "/b"]).path == "/a")
        #expect(ModelLocation.hubCache(["HF_HOME": "/b"]).path == "/b/hub")
        #expect(ModelLocation.hubCache(["HOME": "/home/me"]).path == "/home/me/.cache/huggingface/hub")
    }

    @Test func repoIDsAndPathsAreTold() {
        #expect(ModelLocation.repoID("stabilityai/sd-vae-ft-mse")! == ("stabilityai/sd-vae-ft-mse", ""))
        #expect(ModelLocation.repoID("PixArt-alpha/PixArt-XL-2-512x512/vae")! == ("PixArt-alpha/PixArt-XL-2-512x512", "vae"))
        for path in ["/models/vae", "./models/vae", "../vae", "~/vae", "vae", "a//b", "a/../b", "a b/c"] {
            #expect(ModelLocation.repoID(path) == nil, "\(path)")
        }
    }

    /// A repo id missing from the cache: the message names where it looked and the download command.
    @Test func aMissingRepoSaysHowToFetchIt() throws {
        let hub = try temporaryDirectory()
        let message = errorText { try ModelLocation.resolve("stabilityai/sd-vae-ft-mse", key: "vae.path",
                                                             environment: ["HF_HUB_CACHE": hub.path]) }
        for needed in ["vae.path", hub.path, "hf download stabilityai/sd-vae-ft-mse", "HF_ENDPOINT=https://hf-mirror.com"] {
            #expect(message.contains(needed), "missing '\(needed)' in: \(message)")
        }
        // Several snapshots and no refs/main: ambiguous, so not found; refs/main settles it.
        let vae = fixturesDirectory.appendingPathComponent("models/vae_tiny/model")
        _ = try cacheRepo("org/vae", from: vae, in: hub, revision: "aaaa")
        let b = try cacheRepo("org/vae", from: vae, in: hub, revision: "bbbb")
        #expect(try ModelLocation.resolve("org/vae", key: "k", environment: ["HF_HUB_CACHE": hub.path]).path == b.path)
        try FileManager.default.removeItem(at: hub.appendingPathComponent("models--org--vae/refs"))
        #expect(throws: FileError.self) { try ModelLocation.resolve("org/vae", key: "k", environment: ["HF_HUB_CACHE": hub.path]) }
    }

    /// A VAE and a text encoder named by repo id, found in a fake Hugging Face cache, through prepare, train, generate
    /// and export, all as the command line runs them.
    @Test func repoIDsWorkThroughPrepareTrainGenerateAndExport() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let hub = dir.appendingPathComponent("hub")
        let encoder = try LatentPipelineTests.clipEncoder(in: dir)
        let vae = try LatentPipelineTests.legacyVAE(in: dir)
        _ = try cacheRepo("test-org/tiny-vae", from: vae, in: hub)
        let encoderSnapshot = try cacheRepo("test-org/tiny-clip", from: encoder, in: hub)
        try FileManager.default.removeItem(at: vae)
        try FileManager.default.removeItem(at: encoder)
        var config = try LatentPipelineTests.config(dir, encoder: ("clip", encoder), vae: vae, name: "hub", steps: 2)
        (config.vae!.path, config.textEncoder.path) = ("test-org/tiny-vae", "test-org/tiny-clip")
        let file = dir.appendingPathComponent("hub.yaml")
        try config.canonicalYAML.write(to: file, atomically: true, encoding: .utf8)
        var env = ProcessInfo.processInfo.environment
        env["HF_HUB_CACHE"] = hub.path
        func dit(_ args: [String], _ environment: [String: String]) throws -> String {
            let r = try runProcess(ditBinary(), args, environment: environment, directory: dir)
            #expect(r.status == 0, "dit \(args.joined(separator: " ")):\n\(r.output)")
            return r.output
        }
        _ = try dit(["prepare", try LatentPipelineTests.imageFolder(in: dir).path, "--config", file.path], env)
        _ = try dit(["train", "--config", file.path], env)
        let run = dir.appendingPathComponent("runs/hub")
        let recorded = try String(contentsOf: run.appendingPathComponent("config.yaml"), encoding: .utf8)
        #expect(recorded.contains("path: test-org/tiny-clip") && recorded.contains(encoderSnapshot.path), "\(recorded)")
        let generated = try dit(["generate", "--checkpoint", run.path, "an astronaut", "--steps", "2", "--output", "g.png"], env)
        #expect(generated.contains("wrote 1 image(s)"))
        _ = try dit(["export", "--checkpoint", run.path, "--diffusers", "export"], env)
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("export/vae/config.json").path))
        // Without the cache the same run says what is missing and how to fetch it.
        env["HF_HUB_CACHE"] = dir.appendingPathComponent("empty-hub").path
        let missing = try runProcess(ditBinary(), ["generate", "--checkpoint", run.path, "a cat", "--output", "h.png"],
                                     environment: env, directory: dir)
        #expect(missing.status != 0 && missing.output.contains("hf download test-org/tiny-vae"), "\(missing.output)")
    }
}
