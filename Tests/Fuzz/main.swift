import Foundation
import FuzzTargets
import Torch

// `make fuzz`: every parser a user file reaches gets N mutated inputs from a seeded loop. An error thrown is a
// rejection (good); a trap or a hang ends this process, and the input that did it is left in the output folder as
// `<target>.current` for a regression fixture.
// Usage: dit-fuzz [--inputs N] [--seed S] [--target NAME] [--out DIR] | dit-fuzz --target NAME --replay FILE
var inputs = 10_000, seed: UInt64 = 1, only: String?, replay: String?, out = URL(fileURLWithPath: ".build/fuzz")
var args = Array(CommandLine.arguments.dropFirst())
while !args.isEmpty {
    let flag = args.removeFirst()
    guard let value = args.first else { print("dit-fuzz: \(flag) needs a value"); exit(2) }
    args.removeFirst()
    switch flag {
    case "--inputs": inputs = Int(value) ?? inputs
    case "--seed": seed = UInt64(value) ?? seed
    case "--target": only = value
    case "--out": out = URL(fileURLWithPath: value)
    case "--replay": replay = value  // one file through --target's parser, e.g. a .current left by a crash
    default: print("dit-fuzz: unknown option \(flag)"); exit(2)
    }
}

// A parser stuck on one input for 20 s is a hang: say so and exit with a status the Makefile reports.
signal(SIGALRM) { _ in
    let message = "dit-fuzz: HANG (one input took over 20 s)\n"
    _ = message.withCString { write(2, $0, strlen($0)) }
    _exit(3)
}

// A size read from a header must not become an allocation: 4 GiB of address space is far more than any input here
// needs, so a parser that trusts a huge count fails (and is reported) instead of swapping the machine to a halt.
var addressSpace = rlimit(rlim_cur: 4 << 30, rlim_max: 4 << 30)
if setrlimit(__rlimit_resource_t(RLIMIT_AS.rawValue), &addressSpace) != 0 { print("dit-fuzz: cannot limit memory") }

/// What one input made the process hold beyond what it held before: resident pages (the kernel's high-water mark,
/// reset through /proc/self/clear_refs before each input) or CPU tensor bytes (DiTKit's allocator counts them, touched
/// or not). A parser may need a few times its input, or ~1,000 times for a compressed image; a header's size that
/// it trusted shows up as far more.
struct MemoryProbe {
    var rss = 0, tensors = 0
    static func residentKiB(_ field: String) -> Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix(field + ":") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }
    mutating func start() {
        _ = try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
        rss = Self.residentKiB("VmRSS") * 1024
        try? Runtime.resetPeakMemory(on: .cpu)
        tensors = (try? Runtime.memory(on: .cpu).allocated) ?? 0
    }
    /// Bytes above the starting point at the peak.
    func growth() -> Int {
        let peakTensors = ((try? Runtime.memory(on: .cpu).peakAllocated) ?? 0) - tensors
        return max(Self.residentKiB("VmHWM") * 1024 - rss, peakTensors)
    }
}
/// The most an input of `count` bytes may make a parser hold: 64 MiB of slack (first-use buffers, thread pools),
/// plus 16 times the input, or 1,100 times for the compressed formats (deflate's ratio is at most ~1,032:1).
func allocationBound(_ target: String, _ count: Int) -> Int {
    64 << 20 + count * (["png", "jpeg"].contains(target) ? 1100 : 16)
}

// The probe must see what it is meant to see: 48 MiB of touched Swift memory, then a 48 MiB tensor.
do {
    var check = MemoryProbe()
    check.start()
    let bytes = [UInt8](repeating: 1, count: 48 << 20)
    let resident = check.growth()
    check.start()
    let tensor = try Tensor.empty([12 << 20])
    let held = check.growth()
    guard resident >= 40 << 20, held >= 48 << 20, bytes.count + tensor.count > 0 else {
        print("dit-fuzz: the memory probe does not work here (saw \(resident >> 20) and \(held >> 20) MiB of 48)")
        exit(2)
    }
}

let root = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
let scratchRoot = out.appendingPathComponent("scratch")
/// A fresh, empty folder for one input's files (nothing left from the previous input).
func emptyScratch(_ name: String) throws -> URL {
    let scratch = scratchRoot.appendingPathComponent(name)
    try? FileManager.default.removeItem(at: scratch)
    try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    return scratch
}

if let replay {
    guard let target = FuzzTargets.all(root: root).first(where: { $0.name == only }) else {
        print("dit-fuzz: --replay needs --target with one of: \(FuzzTargets.all(root: root).map(\.name).joined(separator: ", "))")
        exit(2)
    }
    let scratch = try emptyScratch("replay")
    do {
        try target.run(Array(try Data(contentsOf: URL(fileURLWithPath: replay))), scratch)
        print("\(target.name): accepted")
    } catch { print("\(target.name): rejected: \(error)") }
    exit(0)
}
var failed = false
for target in FuzzTargets.all(root: root) where only == nil || target.name == only {
    let seeds = try target.seeds()
    var corpus = seeds, mutator = Mutator(seed: seed), accepted = 0, rejected = 0
    let current = out.appendingPathComponent("\(target.name).current")
    let start = Date()
    var probe = MemoryProbe(), mostGrowth = 0
    // One pass over the seeds first, so one-time set-up (libtorch's thread pool, lazy tables) is not charged to an input.
    for input in seeds { try? target.run(input, try emptyScratch(target.name)) }
    for n in 0..<inputs {
        let input = mutator.mutate(corpus[n % corpus.count], corpus: corpus)
        try Data(input).write(to: current)
        let scratch = try emptyScratch(target.name)
        alarm(20)
        probe.start()
        defer {
            let grown = probe.growth()
            mostGrowth = max(mostGrowth, grown)
            if grown > allocationBound(target.name, input.count) {
                print("dit-fuzz: \(target.name): input \(n) (\(input.count) bytes) made the process hold \(grown >> 20) MiB, "
                    + "more than its bound of \(allocationBound(target.name, input.count) >> 20) MiB; the input is \(current.path)")
                exit(4)
            }
        }
        do {
            try target.run(input, scratch)
            accepted += 1
            // Accepted inputs join the corpus (bounded), so later mutations reach deeper into the format.
            if corpus.count < 256 { corpus.append(input) }
        } catch {
            rejected += 1
            if "\(error)".isEmpty { print("\(target.name): an error with no message for input \(n)"); failed = true }
        }
        alarm(0)
    }
    try? FileManager.default.removeItem(at: current)
    let seconds = Date().timeIntervalSince(start)
    print("\(target.name): \(inputs) inputs (seed \(seed)), \(accepted) accepted, \(rejected) rejected with an error, "
          + "0 crashes, 0 hangs, most memory one input held \(String(format: "%.1f", Double(mostGrowth) / 1048576)) MiB, "
          + "\(String(format: "%.1f", seconds)) s")
}
exit(failed ? 1 : 0)
