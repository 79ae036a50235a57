import Foundation
import FuzzTargets

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
    for n in 0..<inputs {
        let input = mutator.mutate(corpus[n % corpus.count], corpus: corpus)
        try Data(input).write(to: current)
        let scratch = try emptyScratch(target.name)
        alarm(20)
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
          + "0 crashes, 0 hangs, \(String(format: "%.1f", seconds)) s")
}
exit(failed ? 1 : 0)
