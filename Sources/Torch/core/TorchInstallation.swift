import Foundation

/// The torch package this process loaded, as the user installed it: its directory, its version and the CUDA version
/// it was built for (`torch/version.py`, which pip writes beside the libraries), so messages can say which torch was
/// found rather than which one DiTKit was compiled against.
public struct TorchInstallation: Sendable {
    /// The torch package directory (the parent of lib/).
    public let path: String
    /// `torch.__version__`, e.g. "2.13.0+cpu" or "2.11.0+cu130"; the compiled-in version when version.py is missing.
    public let version: String
    /// `torch.version.cuda`, e.g. "13.0"; nil for a CPU-only build.
    public let cudaBuild: String?

    /// The loaded one.
    public static var current: TorchInstallation {
        let lib = Runtime.torchLibraryPath ?? ""
        let package = lib.isEmpty ? "unknown" : (lib as NSString).deletingLastPathComponent
        let text = (try? String(contentsOfFile: package + "/version.py", encoding: .utf8)) ?? ""
        func value(_ name: String) -> String? {
            for line in text.split(separator: "\n") where line.hasPrefix(name) {
                guard let quote = line.firstIndex(where: { $0 == "'" || $0 == "\"" }) else { return nil }
                let rest = line[line.index(after: quote)...]
                return rest.firstIndex(of: line[quote]).map { String(rest[..<$0]) }
            }
            return nil
        }
        // A CUDA build of the shim has libtorch_cuda linked whatever version.py says.
        return TorchInstallation(path: package, version: value("__version__") ?? Runtime.torchVersion,
                                 cudaBuild: value("cuda:") ?? value("cuda =") ?? (Runtime.cudaBuilt ? "unknown" : nil))
    }
}
