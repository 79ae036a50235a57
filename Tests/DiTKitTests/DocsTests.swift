@testable import Models
import ArgumentParser
@testable import dit
import Foundation
import TestSupport
import Testing

/// README.md and docs/*.md, checked against the code they describe: a renamed flag, a wrong default, a moved file or
/// a command that no longer works fails here.
enum Docs {
    struct Block {
        let file: String
        let line: Int
        let info: String  // the fence's info string: "bash", "bash run", "swift", ...
        let text: String
    }

    static var files: [URL] {
        let docs = packageRoot.appendingPathComponent("docs")
        let chapters = ((try? FileManager.default.contentsOfDirectory(atPath: docs.path)) ?? [])
            .filter { $0.hasSuffix(".md") }.sorted().map { docs.appendingPathComponent($0) }
        return [packageRoot.appendingPathComponent("README.md")] + chapters
    }

    static func text(_ url: URL) throws -> String { try String(contentsOf: url, encoding: .utf8) }

    /// Fenced code blocks of every doc.
    static func blocks() throws -> [Block] {
        var result: [Block] = []
        for url in files {
            var open: (line: Int, info: String, lines: [String])?
            for (n, line) in try text(url).components(separatedBy: "\n").enumerated() {
                if line.hasPrefix("```") {
                    if let o = open {
                        result.append(Block(file: url.lastPathComponent, line: o.line, info: o.info, text: o.lines.joined(separator: "\n")))
                        open = nil
                    } else {
                        open = (n + 1, String(line.dropFirst(3)).trimmingCharacters(in: .whitespaces), [])
                    }
                } else {
                    open?.lines.append(line)
                }
            }
        }
        return result
    }

    /// Prose with the code blocks left out.
    static func prose(_ url: URL) throws -> String {
        var inside = false
        return try text(url).components(separatedBy: "\n").filter { line in
            if line.hasPrefix("```") { inside.toggle(); return false }
            return !inside
        }.joined(separator: "\n")
    }

    /// Shell commands of a block: continuation lines joined, comments and prompts dropped.
    static func commands(_ block: String) -> [String] {
        var out: [String] = [], current = ""
        for raw in block.components(separatedBy: "\n") {
            var line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("$ ") { line.removeFirst(2) }
            if current.isEmpty && (line.isEmpty || line.hasPrefix("#")) { continue }
            if line.hasSuffix("\\") {
                current += line.dropLast() + " "
                continue
            }
            current += line
            out.append(current)
            current = ""
        }
        return out
    }

    /// Words of a shell command line, quotes honoured, a trailing comment dropped.
    static func words(_ command: String) -> [String] {
        var words: [String] = [], word = "", quote: Character?, started = false
        for c in command {
            if let q = quote {
                if c == q { quote = nil } else { word.append(c) }
            } else if c == "\"" || c == "'" {
                quote = c
                started = true
            } else if c == " " || c == "\t" {
                if started || !word.isEmpty { words.append(word) }
                word = ""
                started = false
            } else if c == "#" && word.isEmpty && !started {
                break
            } else {
                word.append(c)
            }
        }
        if started || !word.isEmpty { words.append(word) }
        return words
    }

    /// The `dit` invocations of a command line (`dit …`, `.build/release/dit …`, after `&&`, `;` or `|`), as
    /// argument lists without the program name.
    static func ditInvocations(_ command: String) -> [[String]] {
        var result: [[String]] = [], current: [String]?
        for word in words(command) {
            if ["&&", ";", "|", "||"].contains(word) {
                if let c = current { result.append(c) }
                current = nil
            } else if current == nil && (word == "dit" || word.hasSuffix("/dit") || word == "$DIT") {
                current = []
            } else {
                current?.append(word)
            }
        }
        if let c = current { result.append(c) }
        return result
    }
}

@Suite("Docs match the code", .serialized)
struct DocsTests {
    /// Every `dit` command line in README and docs/, runnable or not, is accepted by the real argument parser
    /// (`dit launch`'s worker command too).
    @Test func everyDitCommandParses() throws {
        var checked = 0
        var lines = try Docs.blocks().filter { ["bash", "bash run", "sh"].contains($0.info) }
            .flatMap { block in Docs.commands(block.text).map { (block.file, block.line, $0) } }
        // Commands quoted in the prose count too: `dit train --config …`.
        for url in Docs.files {
            let prose = try Docs.prose(url)
            let regex = try NSRegularExpression(pattern: #"`((?:\.build/release/)?dit [a-z][^`]*)`"#)
            for m in regex.matches(in: prose, range: NSRange(prose.startIndex..., in: prose)) {
                lines.append((url.lastPathComponent, 0, String(prose[Range(m.range(at: 1), in: prose)!])))
            }
        }
        for (file, line, command) in lines {
            for arguments in Docs.ditInvocations(command) where !arguments.contains(where: { $0.contains("…") || $0.contains("...") }) {
                checked += 1
                do {
                    // `dit train` or `dit plot logs` alone names a (nested) subcommand: it must exist (asking for its
                    // help is a clean exit).
                    var command: ParsableCommand.Type = Dit.self
                    let names = arguments.allSatisfy { word in
                        guard let sub = command.configuration.subcommands.first(where: { $0._commandName == word }) else { return false }
                        command = sub
                        return true
                    }
                    let asked = names ? arguments + ["--help"] : arguments
                    let parsed = try Dit.parseAsRoot(Dit.normalized(asked))
                    if let launch = parsed as? Launch { _ = try Dit.parseAsRoot(Dit.normalized(launch.command)) }
                } catch where Dit.exitCode(for: error) == .success {
                    continue
                } catch {
                    let message = Dit.message(for: error)
                    Issue.record("\(file):\(line): `dit \(arguments.joined(separator: " "))` does not parse: \(message)")
                }
            }
        }
        #expect(checked >= 20, "only \(checked) dit commands found in the docs")
    }

    /// A default stated in the docs as "`--flag`（默认 X）" or in a flag table row is the parser's default.
    @Test func statedDefaultsMatchTheParser() throws {
        var defaults: [String: Set<String>] = [:]  // flag -> defaults over the subcommands that have it
        // Every command, nested ones (dit explain vae) too.
        func withNested(_ c: any ParsableCommand.Type) -> [any ParsableCommand.Type] {
            [c] + c.configuration.subcommands.flatMap(withNested)
        }
        for command in Dit.configuration.subcommands.flatMap(withNested) {
            // One entry per option: its synopsis line and the description lines under it.
            var entries: [String] = []
            for line in Dit.helpMessage(for: command).components(separatedBy: "\n") {
                if line.trimmingCharacters(in: .whitespaces).hasPrefix("-") { entries.append(line) } else if !entries.isEmpty {
                    entries[entries.count - 1] += " " + line.trimmingCharacters(in: .whitespaces)
                }
            }
            for line in entries {
                // "(default: X)" or "(values: a, b; default: X)".
                guard let flag = line.range(of: #"--[a-z0-9-]+"#, options: .regularExpression),
                      let d = line.range(of: #"[(;] ?default: [^)]*\)"#, options: .regularExpression) else { continue }
                let value = line[d].drop { $0 != ":" }.dropFirst(2).dropLast()
                defaults[String(line[flag]), default: []].insert(String(value))
            }
        }
        #expect(defaults["--steps"] != nil && defaults["--nproc-per-node"] == nil && defaults["--resolution"] == ["256"])
        var checked = 0
        for url in Docs.files {
            let prose = try Docs.prose(url)
            // "`--flag`（默认 X）", "`--flag` 秒（默认 X）", "`--flag`，默认 X", "`--flag N` | …（默认 X" in a table row.
            let pattern = #"`(--[a-z0-9-]+)[^`]*`[^\n|`]{0,12}?(?:\|[^|\n]*?)?[（，(]默认 ?`?([^`，,；;）)\s]+)`?"#
            let regex = try NSRegularExpression(pattern: pattern)
            for m in regex.matches(in: prose, range: NSRange(prose.startIndex..., in: prose)) {
                let flag = String(prose[Range(m.range(at: 1), in: prose)!])
                let stated = String(prose[Range(m.range(at: 2), in: prose)!]).trimmingCharacters(in: .whitespaces)
                guard let known = defaults[flag] else { continue }
                checked += 1
                // A default the parser describes ("the config's run.device") is described in the docs, not given a value.
                let described = stated.unicodeScalars.contains { $0.value >= 0x4E00 } || stated.contains("config")
                if described {
                    #expect(known.contains { $0.contains(" ") },
                            "\(url.lastPathComponent): \(flag) says default \(stated), the parser has \(known)")
                    continue
                }
                let same = known.contains(stated) || known.contains { Double($0) != nil && Double($0) == Double(stated) }
                #expect(same, "\(url.lastPathComponent): \(flag) says default \(stated), the parser has \(known)")
            }
        }
        #expect(checked >= 3, "only \(checked) stated defaults found")
    }

    /// Files and folders the docs name (`Sources/…`, `configs/…`, `scripts/…`, …) exist.
    @Test func namedFilesExist() throws {
        let roots = ["Sources/", "Tests/", "configs/", "scripts/", "benchmarks/", "docs/", "python/", "Makefile", "Package.swift"]
        var checked = 0
        for url in Docs.files {
            let text = try Docs.text(url)
            let regex = try NSRegularExpression(pattern: #"`([A-Za-z0-9_./\-]+)`"#)
            for m in regex.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                let path = String(text[Range(m.range(at: 1), in: text)!])
                guard roots.contains(where: { path.hasPrefix($0) }) else { continue }
                checked += 1
                #expect(FileManager.default.fileExists(atPath: packageRoot.appendingPathComponent(path).path),
                        "\(url.lastPathComponent) names \(path), which does not exist")
            }
        }
        #expect(checked >= 10, "only \(checked) paths found")
    }

    /// The layer drawings (README's 目录结构, docs/01's 分层 section) name exactly the Swift targets under Sources/,
    /// and docs/04's table of the course plan's files points into existing target folders.
    @Test func layerDrawingsMatchThePackage() throws {
        let manifest = try Docs.text(packageRoot.appendingPathComponent("Package.swift"))
        let declared = try NSRegularExpression(pattern: #"\.(?:target|executableTarget)\(\s*name: "(\w+)""#)
        let folders = Set(try FileManager.default.contentsOfDirectory(atPath: packageRoot.appendingPathComponent("Sources").path))
        let targets = declared.matches(in: manifest, range: NSRange(manifest.startIndex..., in: manifest))
            .map { String(manifest[Range($0.range(at: 1), in: manifest)!]) }
            .filter { folders.contains($0) && !["CJPEG"].contains($0) }
        #expect(targets.count >= 12, "\(targets)")
        func drawing(_ file: String, after heading: String) throws -> Set<String> {
            let text = try Docs.text(packageRoot.appendingPathComponent(file))
            let start = try #require(text.range(of: heading), "\(file) has no \(heading)")
            let fence = try #require(text.range(of: "```", range: start.upperBound..<text.endIndex))
            let end = try #require(text.range(of: "```", range: fence.upperBound..<text.endIndex))
            let words = text[fence.upperBound..<end.lowerBound].split { !$0.isLetter && !$0.isNumber }.map(String.init)
            return Set(words).intersection(folders)
        }
        for (file, heading) in [("README.md", "## 目录结构"), ("docs/01-入门指南.md", "## 8 DiTKit 的分层")] {
            let named = try drawing(file, after: heading)
            #expect(Set(targets).subtracting(named).isEmpty, "\(file) leaves out \(Set(targets).subtracting(named).sorted())")
        }
        let table = try Docs.text(packageRoot.appendingPathComponent("docs/04-模型架构.md"))
        let folderRefs = try NSRegularExpression(pattern: #"`Sources/(\w+)/"#)
        let referenced = folderRefs.matches(in: table, range: NSRange(table.startIndex..., in: table))
            .map { String(table[Range($0.range(at: 1), in: table)!]) }
        #expect(Set(referenced).isSubset(of: Set(targets)), "docs/04 names \(Set(referenced).subtracting(targets).sorted())")
        #expect(Set(["Models", "Datasets", "Prepare", "Recipe", "Training", "Inference"]).isSubset(of: Set(referenced)))
    }

    /// Functions (`name()`) and Swift types the docs name are in Sources/ (or are the Python/Hugging Face names the
    /// docs compare with).
    @Test func namedTypesAndFunctionsExist() throws {
        var sources = ""
        let enumerator = FileManager.default.enumerator(atPath: packageRoot.appendingPathComponent("Sources").path)
        while let name = enumerator?.nextObject() as? String {
            if name.hasSuffix(".swift") || name.hasSuffix(".cpp") {
                sources += try String(contentsOf: packageRoot.appendingPathComponent("Sources/" + name), encoding: .utf8)
            }
        }
        // Names from Python libraries the docs explain DiTKit against.
        let external: Set<String> = [
            "DiffusionPipeline", "PixArtAlphaPipeline", "DistributedDataParallel", "GradScaler", "EMAModel",
            "StableDiffusionPipeline", "AutoencoderKL", "CLIPTextModel", "BertModel", "DiTPipeline", "FrechetInceptionDistance",
        ]
        var checked = 0
        for url in Docs.files {
            let text = try Docs.prose(url)
            let functions = try NSRegularExpression(pattern: #"`(?:[A-Za-z0-9_]+\.)?([a-z][A-Za-z0-9_]*)\(\)`"#)
            for m in functions.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                let name = String(text[Range(m.range(at: 1), in: text)!])
                checked += 1
                #expect(sources.contains("func \(name)(") || sources.contains("func \(name)<"),
                        "\(url.lastPathComponent) names \(name)(), which no Swift source defines")
            }
            let types = try NSRegularExpression(pattern: #"`([A-Z][a-z0-9]+(?:[A-Z0-9][A-Za-z0-9]*)+)`"#)
            for m in types.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                let name = String(text[Range(m.range(at: 1), in: text)!])
                if external.contains(name) { continue }
                checked += 1
                let declared = ["class", "struct", "enum", "protocol", "typealias", "actor", "extension"]
                    .contains { sources.contains("\($0) \(name)") }
                #expect(declared, "\(url.lastPathComponent) names the type \(name), which no Swift source declares")
            }
        }
        #expect(checked >= 10, "only \(checked) names found")
    }

    /// ```swift``` blocks type-check against the built modules (as the top-level code of a main.swift); a
    /// ```swift excerpt FILE``` block is a quotation: each of its code lines is a line of FILE.
    @Test func swiftSnippetsCompileAndExcerptsMatch() throws {
        let blocks = try Docs.blocks().filter { $0.info.hasPrefix("swift") }
        #expect(blocks.contains { $0.info == "swift" } && blocks.contains { $0.info.hasPrefix("swift excerpt") })
        let build = ditBinary().deletingLastPathComponent()
        for block in blocks {
            let parts = block.info.split(separator: " ")
            if parts.count == 3, parts[1] == "excerpt" {
                let source = try String(contentsOf: packageRoot.appendingPathComponent(String(parts[2])), encoding: .utf8)
                let squeeze = { (s: Substring) in s.split(whereSeparator: \.isWhitespace).joined(separator: " ") }
                let lines = Set(source.split(separator: "\n").map { squeeze($0.components(separatedBy: "//")[0][...]) })
                for line in block.text.split(separator: "\n") {
                    let code = squeeze(line.components(separatedBy: "//")[0][...])
                    if code.isEmpty { continue }
                    #expect(lines.contains(code), "\(block.file):\(block.line): `\(code)` is not a line of \(parts[2])")
                }
                continue
            }
            let dir = try temporaryDirectory()
            let file = dir.appendingPathComponent("main.swift")
            try block.text.write(to: file, atomically: true, encoding: .utf8)
            // The C modules the Swift modules were built against: generated module maps and the system-library ones.
            var flags = ["-typecheck", file.path, "-I", build.appendingPathComponent("Modules").path]
            let maps = ((try? FileManager.default.contentsOfDirectory(atPath: build.path)) ?? [])
                .map { build.appendingPathComponent("\($0)/module.modulemap") }
                + ["CPNG", "CZlib"].map { packageRoot.appendingPathComponent("Sources/\($0)/module.modulemap") }
            for map in maps where FileManager.default.fileExists(atPath: map.path) { flags += ["-Xcc", "-fmodule-map-file=\(map.path)"] }
            flags += ["-Xcc", "-I" + packageRoot.appendingPathComponent("Sources/CTorch/include").path,
                      "-Xcc", "-I" + packageRoot.appendingPathComponent("Sources/CJPEG/include").path]
            let compiled = try runProcess(URL(fileURLWithPath: "/usr/bin/env"), ["swiftc"] + flags)
            #expect(compiled.status == 0, "\(block.file):\(block.line) does not compile:\n\(block.text)\n\(compiled.output.suffix(2000))")
        }
    }

    /// The eight chapters are chapters: each says what it teaches, explains in at least 4,000 characters outside its
    /// code blocks, and ends with exercises; the course holds at least 50,000.
    @Test func chaptersAreCourseSized() throws {
        let chapters = Docs.files.filter { $0.lastPathComponent.first?.isNumber == true }
        #expect(chapters.count == 8)
        var total = 0
        for url in chapters {
            let prose = try Docs.prose(url)
            let count = prose.unicodeScalars.filter { !CharacterSet.whitespacesAndNewlines.contains($0) }.count
            total += count
            #expect(count >= 4000, "\(url.lastPathComponent): \(count) characters of explanation")
            #expect(prose.contains("本章你将学到") && prose.contains("## 练习"), "\(url.lastPathComponent): goals or exercises missing")
        }
        #expect(total >= 50_000, "the course has \(total) characters of explanation")
    }

    /// Blocks fenced as ```bash run``` run for real, in order per file, in a scratch folder holding a copy of configs/,
    /// with `dit` on PATH and small settings: `dit train` gets `--max-steps 2`, `dit shapes` 64 images, sampling (generate,
    /// eval, explain trajectory and attention) 2 steps.
    @Test func runnableBlocksRun() throws {
        let blocks = try Docs.blocks().filter { $0.info == "bash run" }
        #expect(blocks.count >= 3, "too few runnable blocks: \(blocks.count)")
        let work = try temporaryDirectory()
        try FileManager.default.copyItem(at: packageRoot.appendingPathComponent("configs"), to: work.appendingPathComponent("configs"))
        let bin = work.appendingPathComponent("bin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(at: bin.appendingPathComponent("dit"), withDestinationURL: ditBinary())
        for block in blocks {
            var script = "set -euo pipefail\n"
            for command in Docs.commands(block.text) { script += Self.small(command) + "\n" }
            var env = ProcessInfo.processInfo.environment
            env["PATH"] = bin.path + ":" + (env["PATH"] ?? "/usr/bin:/bin")
            let ran = try runProcess(URL(fileURLWithPath: "/bin/bash"), ["-c", script], environment: env, directory: work)
            #expect(ran.status == 0, "\(block.file):\(block.line) failed:\n\(script)\n\(ran.output.suffix(3000))")
        }
    }

    /// A docs command with the test's small settings.
    static func small(_ command: String) -> String {
        let words = Docs.words(command)
        guard let i = words.firstIndex(where: { $0 == "dit" }), i + 1 < words.count else { return command }
        var extra: [String] = []
        switch words[i + 1] {
        case "train" where !words.contains("--max-steps") && !words.contains("--dry-run"): extra = ["--max-steps", "2"]
        case "shapes": extra = ["--count", "64"]
        case "generate", "eval": extra = ["--steps", "2"]
        case "explain" where i + 2 < words.count && ["trajectory", "attention"].contains(words[i + 2]): extra = ["--steps", "2"]
        case "launch" where words.contains("train") && !words.contains("--max-steps"): extra = ["--max-steps", "2"]
        default: break
        }
        let quoted = words.map { $0.contains(" ") || $0.isEmpty ? "'\($0)'" : $0 }
        return (quoted + extra).joined(separator: " ")
    }
}
