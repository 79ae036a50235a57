import Foundation

extension Runtime {
    /// The directory of the libtorch_cpu.so this process loaded (from /proc/self/maps on Linux).
    public static var torchLibraryPath: String? {
        guard let maps = try? String(contentsOfFile: "/proc/self/maps", encoding: .utf8) else { return nil }
        for line in maps.split(separator: "\n") {
            guard let slash = line.firstIndex(of: "/") else { continue }
            let path = String(line[slash...])
            if path.hasSuffix("/libtorch_cpu.so") { return (path as NSString).deletingLastPathComponent }
        }
        return nil
    }
}
