import Core
import Datasets
import Foundation

/// `dit generate --prompt-file F`: many prompts at once, e.g. the captions of a held-out set for FID and CLIP score.
/// A .jsonl file is read as an imagefolder's metadata.jsonl (each row's `text`, a string or the first of a list); a
/// .json file as COCO captions (each image's first caption, in the file's image order: what
/// scripts/fetch_coco_subset.py writes); any other file holds one prompt per non-empty line.
enum PromptFile {
    static func read(_ path: String) throws -> [String] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FileError(path: path, "--prompt-file: no such file")
        }
        let prompts: [String]
        if path.lowercased().hasSuffix(".json") {
            return try cocoCaptions(data, path: path)
        } else if path.lowercased().hasSuffix(".jsonl") {
            // Read as dit prepare reads a metadata.jsonl; the first string of each row's text.
            prompts = try ImageFolder.jsonLines(data).map { line in
                guard let prompt = ImageFolder.strings(line.row?["text"]).first,
                      !prompt.trimmingCharacters(in: .whitespaces).isEmpty else {
                    throw FileError(path: path, #"line \#(line.line): expected a JSON object with a "text" string (or list of strings)"#)
                }
                return prompt
            }
        } else {
            prompts = ImageFolder.lines(String(decoding: data, as: UTF8.self))
                .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }
        }
        guard !prompts.isEmpty else { throw FileError(path: path, "--prompt-file holds no prompts") }
        return prompts
    }

    struct COCOFile: Decodable {
        struct Image: Decodable { let id: Int }
        struct Annotation: Decodable {
            let imageID: Int, caption: String
            enum CodingKeys: String, CodingKey { case imageID = "image_id", caption }
        }
        let images: [Image], annotations: [Annotation]
    }

    /// Each image's first caption (by annotation order), images in the file's order; images without one are left out.
    static func cocoCaptions(_ data: Data, path: String) throws -> [String] {
        let coco: COCOFile
        do { coco = try JSONDecoder().decode(COCOFile.self, from: data) } catch {
            throw FileError(path: path, "--prompt-file: a .json file must be COCO captions ({\"images\": [{\"id\": …}], "
                + "\"annotations\": [{\"image_id\": …, \"caption\": …}]}): \(error)")
        }
        var first: [Int: String] = [:]
        for a in coco.annotations where first[a.imageID] == nil { first[a.imageID] = a.caption.trimmingCharacters(in: .whitespacesAndNewlines) }
        let prompts = coco.images.compactMap { first[$0.id] }.filter { !$0.isEmpty }
        guard !prompts.isEmpty else { throw FileError(path: path, "--prompt-file: no image of the COCO file has a caption") }
        return prompts
    }
}
