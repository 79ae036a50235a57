import Foundation
import Testing

/// Runs the built `dit` executable (it sits beside the test bundle in the build folder).
func runDit(_ arguments: [String]) throws -> (status: Int32, output: String) {
    let directory = Bundle.main.bundleURL.deletingLastPathComponent()
    var binary = directory.appendingPathComponent("dit")
    if !FileManager.default.isExecutableFile(atPath: binary.path) {
        binary = Bundle.main.bundleURL.appendingPathComponent("dit")
    }
    let process = Process()
    process.executableURL = binary
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

@Suite("dit command line", .serialized)
struct CLITests {
    @Test func infoPrintsVersionsDevicesAndThreads() throws {
        let (status, output) = try runDit(["info"])
        #expect(status == 0, "\(output)")
        #expect(output.contains("libtorch     2."))
        #expect(output.contains("devices      cpu"))
        let pathLine = try #require(output.split(separator: "\n").first { $0.hasPrefix("torch path") })
        let path = pathLine.dropFirst("torch path".count).trimmingCharacters(in: .whitespaces)
        #expect(FileManager.default.fileExists(atPath: path + "/libtorch_cpu.so"), "\(path)")
        #expect(output.range(of: #"threads\s+\d+"#, options: .regularExpression) != nil)
    }

    @Test func demoTrainsAnMLPAndTheLossGoesDown() throws {
        let (status, output) = try runDit(["demo", "--steps", "80"])
        #expect(status == 0, "\(output)")
        let summary = try #require(output.split(separator: "\n").last { $0.hasPrefix("loss ") })
        let numbers = summary.split(separator: " ").compactMap { Double($0) }
        #expect(numbers.count == 2 && numbers[1] < numbers[0] * 0.5, "\(summary)")
    }

    @Test func badArgumentsGiveAClearErrorNotACrash() throws {
        let (status, output) = try runDit(["demo", "--steps", "many"])
        #expect(status != 0)
        #expect(output.contains("steps"), "\(output)")
    }
}
