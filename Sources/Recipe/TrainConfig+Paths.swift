import Core
import Foundation

// The paths a config names (run.output_dir, data.cache, vae.path, text_encoder.path) resolve against the working
// directory of `dit train`. A run's own config.yaml records them resolved, so that `dit generate`, `eval` and
// `export` find the VAE and the text encoder from any directory.

extension TrainConfig {
    /// This config with every relative path made absolute against `base` (default: the current directory).
    public func resolvingPaths(against base: URL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
        -> TrainConfig {
        func resolve(_ path: String) -> String {
            guard !path.isEmpty else { return path }
            return (path.hasPrefix("/") ? URL(fileURLWithPath: path) : base.appendingPathComponent(path))
                .standardizedFileURL.path
        }
        // A model that is no directory here but has a repo id's form stays a repo id: the Hugging Face cache finds it
        // from anywhere.
        func resolveModel(_ spec: String) -> String {
            let local = spec.hasPrefix("/") ? spec : base.appendingPathComponent(spec).path
            if !FileManager.default.fileExists(atPath: local), ModelLocation.repoID(spec) != nil { return spec }
            return resolve(spec)
        }
        var c = self
        c.run.outputDir = resolve(run.outputDir)
        c.data.cache = resolve(data.cache)
        c.vae?.path = resolveModel(vae?.path ?? "")
        c.textEncoder.path = textEncoder.path.map(resolveModel)
        return c
    }

    /// The VAE's directory: vae.path as a directory, or as a repo id in the Hugging Face cache (nil: pixel space).
    public func vaeDirectory() throws -> URL? {
        try vae.map { try ModelLocation.resolve($0.path, key: "vae.path") }
    }

    /// The frozen text encoder's directory, found like `vaeDirectory()` (nil: an encoder trained with the DiT).
    public func textEncoderDirectory() throws -> URL? {
        try textEncoder.path.map { try ModelLocation.resolve($0, key: "text_encoder.path") }
    }

    /// The run's config.yaml: the config with its paths resolved, headed by where each model repo id was found.
    public var runRecordYAML: String {
        let resolved = resolvingPaths()
        var notes: [String] = []
        for (key, spec) in [("vae.path", resolved.vae?.path), ("text_encoder.path", resolved.textEncoder.path)] {
            guard let spec, !spec.hasPrefix("/"), let dir = try? ModelLocation.resolve(spec, key: key) else { continue }
            notes.append("# \(key) \(spec) was the Hugging Face cache's \(dir.path)")
        }
        return (notes.isEmpty ? "" : notes.joined(separator: "\n") + "\n") + resolved.canonicalYAML
    }

    /// Whether every path is absolute already (a run's config.yaml written by this version).
    public var pathsAreAbsolute: Bool {
        run.outputDir.hasPrefix("/") && data.cache.hasPrefix("/") && [vae?.path ?? "/", textEncoder.path ?? "/"].allSatisfy {
            $0.hasPrefix("/") || (ModelLocation.repoID($0) != nil && !FileManager.default.fileExists(atPath: $0))
        }
    }

    /// The config.yaml of the run at `runDirectory`, its paths resolved. Runs written before paths were recorded
    /// resolved keep them as training saw them: relative to the directory training ran in, which is found from where
    /// the run lies (`<there>/<output_dir>/<run folder>`), else taken to be the current directory.
    public static func ofRun(_ runDirectory: URL) throws -> TrainConfig {
        let c = try TrainConfig.load(runDirectory.appendingPathComponent("config.yaml"))
        guard !c.pathsAreAbsolute else { return c }
        var base = runDirectory.standardizedFileURL.deletingLastPathComponent()
        let outputParts = URL(fileURLWithPath: "/" + c.run.outputDir).standardizedFileURL.pathComponents.dropFirst()
            .filter { $0 != "." }
        if !c.run.outputDir.hasPrefix("/"), !c.run.outputDir.split(separator: "/").contains(".."), base.pathComponents.suffix(outputParts.count).elementsEqual(outputParts) {
            for _ in outputParts { base.deleteLastPathComponent() }
            return c.resolvingPaths(against: base)
        }
        return c.resolvingPaths()
    }
}
