import Foundation

/// Where a command will write, made ready before any work: a minute of sampling must not end in "cannot write: No
/// such file or directory". Missing folders are created; a location that cannot be written is refused naming the
/// option and the path.
public enum OutputLocation {
    /// Readies `path` as a file to write: its folder is created when missing, must be writable, and `path` itself
    /// must not be a folder. `option` names the flag or key the path came from (for the error).
    @discardableResult
    public static func file(_ path: String, option: String) throws -> URL {
        let url = URL(fileURLWithPath: path)
        var isFolder: ObjCBool = false
        if path.hasSuffix("/") || (FileManager.default.fileExists(atPath: url.path, isDirectory: &isFolder) && isFolder.boolValue) {
            throw FileError(path: path, "\(option) names a folder; give the name of a file (in it or elsewhere)")
        }
        try folder(url.deletingLastPathComponent().path, option: option)
        if FileManager.default.fileExists(atPath: url.path), access(url.path, W_OK) != 0 {
            throw FileError(path: path, "\(option): the file exists and cannot be replaced (\(errnoText()))")
        }
        return url
    }

    /// Readies `path` as a folder to write into: created (with its parents) when missing, and writable.
    @discardableResult
    public static func folder(_ path: String, option: String) throws -> URL {
        let url = URL(fileURLWithPath: path.isEmpty ? "." : path)
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isFolder) {
            guard isFolder.boolValue else { throw FileError(path: url.path, "\(option): expected a folder, found a file") }
        } else {
            do {
                try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
            } catch {
                throw FileError(path: url.path, "\(option): cannot create the folder (\(problemCreating(url) ?? errnoText()))")
            }
        }
        guard access(url.path, W_OK | X_OK) == 0 else {
            throw FileError(path: url.path, "\(option): the folder cannot be written (\(errnoText()))")
        }
        return url
    }

    /// Whether a folder could be created and written at `url` without creating anything: its nearest existing
    /// ancestor is a writable folder. nil when it could; else what stands in the way.
    public static func problemCreating(_ url: URL) -> String? {
        let probe = nearestExistingAncestor(url)
        var isFolder: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: probe.path, isDirectory: &isFolder)
        if !isFolder.boolValue { return "\(probe.path) is a file, not a folder" }
        if access(probe.path, W_OK | X_OK) != 0 { return "\(probe.path) cannot be written (\(errnoText()))" }
        return nil
    }
}
