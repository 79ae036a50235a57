import Foundation

extension Runtime {
    /// The directory of the libtorch_cpu.so this process loaded (from /proc/self/maps on Linux).
    public static var torchLibraryPath: String? {
        // Read to EOF: procfs reports a size of 0, and whole-file readers may stop after one buffer.
        guard let handle = FileHandle(forReadingAtPath: "/proc/self/maps") else { return nil }
        defer { try? handle.close() }
        let maps = String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
        for line in maps.split(separator: "\n") {
            guard let slash = line.firstIndex(of: "/") else { continue }
            let path = String(line[slash...])
            if path.hasSuffix("/libtorch_cpu.so") { return (path as NSString).deletingLastPathComponent }
        }
        return nil
    }
}
