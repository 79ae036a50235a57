import Foundation

/// Where a model named in a config or on the command line lies: a local directory, or a Hugging Face repo id
/// (`ORG/NAME`, optionally `ORG/NAME/SUBFOLDER`) found in the local Hugging Face cache, as diffusers and transformers
/// find one with `local_files_only=True`. DiTKit never downloads: a repo id that is not in the cache fails with the
/// `hf download` command that fetches it.
///
/// The cache is `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`; a repo lives in
/// `models--ORG--NAME/snapshots/REVISION/`, and `refs/main` names the revision `hf download` fetched last.
public enum ModelLocation {
    /// The Hugging Face cache folder the environment names.
    public static func hubCache(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        if let cache = environment["HF_HUB_CACHE"], !cache.isEmpty { return URL(fileURLWithPath: cache) }
        if let home = environment["HF_HOME"], !home.isEmpty { return URL(fileURLWithPath: home).appendingPathComponent("hub") }
        let user = environment["HOME"].map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.homeDirectoryForCurrentUser
        return user.appendingPathComponent(".cache/huggingface/hub")
    }

    /// `spec` split as a repo id and a subfolder inside it, when it has that form (`ORG/NAME[/SUBFOLDER...]`, no
    /// leading `/`, `.` or `~`); nil for anything that can only be a path.
    public static func repoID(_ spec: String) -> (repo: String, subfolder: String)? {
        guard !spec.hasPrefix("/"), !spec.hasPrefix("."), !spec.hasPrefix("~") else { return nil }
        let parts = spec.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-_."))
        guard parts.count >= 2, parts.allSatisfy({ !$0.isEmpty && $0 != ".." && $0.unicodeScalars.allSatisfy(allowed.contains) })
        else { return nil }
        return (parts[0] + "/" + parts[1], parts.dropFirst(2).joined(separator: "/"))
    }

    /// The directory `spec` names: an existing directory as it stands (relative to `base`), else a cached repo's
    /// snapshot. Throws a `FileError` naming `key`, where it looked, and the command that fetches the repo.
    public static func resolve(_ spec: String, key: String, base: URL? = nil,
                               environment: [String: String] = ProcessInfo.processInfo.environment) throws -> URL {
        let local = spec.hasPrefix("/") || base == nil ? URL(fileURLWithPath: spec) : base!.appendingPathComponent(spec)
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: local.path, isDirectory: &isFolder) {
            guard isFolder.boolValue else { throw FileError(path: spec, "\(key): a file, not a model directory") }
            return local.standardizedFileURL
        }
        guard let (repo, subfolder) = repoID(spec) else {
            throw FileError(path: spec, "\(key): no such directory")
        }
        let cache = hubCache(environment)
        if let snapshot = snapshot(of: repo, in: cache) {
            let dir = subfolder.isEmpty ? snapshot : snapshot.appendingPathComponent(subfolder)
            if FileManager.default.fileExists(atPath: dir.path) { return dir }
            throw FileError(path: spec, "\(key): the Hugging Face cache holds \(repo) (\(snapshot.path)) but no folder "
                + "\(subfolder) in it")
        }
        throw FileError(path: spec, "\(key): neither a directory here nor a Hugging Face repo id in the local cache "
            + "\(cache.path) (HF_HUB_CACHE / HF_HOME). As a folder, check the path (relative paths start at the current "
            + "directory); as a repo id, fetch it once with `\(downloadCommand(repo))` (where huggingface.co is "
            + "unreachable, first `export HF_ENDPOINT=https://hf-mirror.com`). DiTKit itself never downloads")
    }

    /// The command that puts `repo` into the cache.
    public static func downloadCommand(_ repo: String) -> String { "hf download \(repo)" }

    /// `cache/models--ORG--NAME/snapshots/<refs/main>`, or the only snapshot when refs/main is missing.
    static func snapshot(of repo: String, in cache: URL) -> URL? {
        let folder = cache.appendingPathComponent("models--" + repo.replacingOccurrences(of: "/", with: "--"))
        let snapshots = folder.appendingPathComponent("snapshots")
        if let ref = try? String(contentsOf: folder.appendingPathComponent("refs/main"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines), !ref.isEmpty {
            let dir = snapshots.appendingPathComponent(ref)
            if FileManager.default.fileExists(atPath: dir.path) { return dir }
        }
        let all = ((try? FileManager.default.contentsOfDirectory(atPath: snapshots.path)) ?? []).filter { !$0.hasPrefix(".") }
        return all.count == 1 ? snapshots.appendingPathComponent(all[0]) : nil
    }
}
