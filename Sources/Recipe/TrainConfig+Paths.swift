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
        var c = self
        c.run.outputDir = resolve(run.outputDir)
        c.data.cache = resolve(data.cache)
        c.vae?.path = resolve(vae?.path ?? "")
        c.textEncoder.path = textEncoder.path.map(resolve)
        return c
    }

    /// Whether every path is absolute already (a run's config.yaml written by this version).
    public var pathsAreAbsolute: Bool {
        [run.outputDir, data.cache, vae?.path ?? "/", textEncoder.path ?? "/"].allSatisfy { $0.hasPrefix("/") }
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
        if !c.run.outputDir.hasPrefix("/"), base.pathComponents.suffix(outputParts.count).elementsEqual(outputParts) {
            for _ in outputParts { base.deleteLastPathComponent() }
            return c.resolvingPaths(against: base)
        }
        return c.resolvingPaths()
    }
}
