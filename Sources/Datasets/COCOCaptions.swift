import Core
import Foundation

/// COCO's caption annotations (captions_train2017.json) beside its image folder: every caption of each image is
/// kept; `limit` images are picked at random with `seed`, so a 1-5k subset is the same on every machine.
public struct COCOCaptions {
    public let items: [CaptionedImage]
    public let skipped: [SkippedItem]

    private struct File: Decodable {
        struct Image: Decodable {
            let id: Int
            let fileName: String
            enum CodingKeys: String, CodingKey { case id, fileName = "file_name" }
        }
        struct Annotation: Decodable {
            let imageId: Int
            let caption: String
            enum CodingKeys: String, CodingKey { case imageId = "image_id", caption }
        }
        let images: [Image]
        let annotations: [Annotation]
    }

    public init(annotations: URL, images: URL, limit: Int? = nil, seed: UInt64 = 0) throws {
        if let limit, limit < 1 { throw FileError(path: annotations.path, "--limit must be at least 1, got \(limit)") }
        guard let data = FileManager.default.contents(atPath: annotations.path) else {
            throw FileError(path: annotations.path, "cannot read the COCO captions file")
        }
        let file: File
        do {
            file = try JSONDecoder().decode(File.self, from: data)
        } catch let error as DecodingError {
            throw FileError(path: annotations.path, "not COCO captions: \(error.keyPath): \(error.problem) "
                + "(expected images with id and file_name, annotations with image_id and caption)")
        }
        var captions: [Int: [String]] = [:]
        for a in file.annotations { captions[a.imageId, default: []].append(a.caption.trimmingCharacters(in: .whitespacesAndNewlines)) }
        var candidates = file.images.filter { captions[$0.id] != nil }.sorted { $0.id < $1.id }
        if let limit, limit < candidates.count {
            var rng = SplitMix64(seed: seed)
            candidates.shuffle(using: &rng)
            candidates = Array(candidates.prefix(limit)).sorted { $0.id < $1.id }
        }
        var items: [CaptionedImage] = [], skipped: [SkippedItem] = []
        for image in candidates {
            let url = images.appendingPathComponent(image.fileName)
            guard FileManager.default.fileExists(atPath: url.path) else {
                skipped.append(SkippedItem(item: image.fileName, reason: "image file not found"))
                continue
            }
            items.append(CaptionedImage(file: url, captions: captions[image.id]!))
        }
        guard !items.isEmpty else {
            throw FileError(path: images.path, "none of the \(candidates.count) COCO images picked is in this folder")
        }
        self.items = items
        self.skipped = skipped
    }
}
