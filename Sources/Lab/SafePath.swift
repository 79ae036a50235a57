import Foundation

/// A path a browser asked for, resolved under the lab's runs folder or refused: no absolute paths, no `.` or `..`
/// (percent-encoded or not), no NUL, and nothing whose real path (symbolic links followed) leaves the folder.
enum SafePath {
    /// The file `relative` names under `root`, or nil when the request must be refused.
    static func resolve(_ relative: String, under root: URL) -> URL? {
        guard let decoded = relative.removingPercentEncoding, !decoded.isEmpty, !decoded.hasPrefix("/"),
              !decoded.contains("\0"), !decoded.contains("\\") else { return nil }
        let parts = decoded.split(separator: "/", omittingEmptySubsequences: false)
        guard !parts.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) else { return nil }
        let base = root.resolvingSymlinksInPath().standardizedFileURL.path
        let real = root.appendingPathComponent(decoded).resolvingSymlinksInPath().standardizedFileURL.path
        guard real.hasPrefix(base + "/") else { return nil }
        return URL(fileURLWithPath: real)
    }

    /// A run's name as a single path component under `root` (a folder that exists there), or nil.
    static func run(_ name: String, under root: URL) -> URL? {
        guard !name.contains("/"), let url = resolve(name, under: root) else { return nil }
        var folder: ObjCBool = false
        return FileManager.default.fileExists(atPath: url.path, isDirectory: &folder) && folder.boolValue ? url : nil
    }
}
