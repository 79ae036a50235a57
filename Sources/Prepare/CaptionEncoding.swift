import Models
import Tokenizers
import Torch

/// Captions → token ids, masks and (with a frozen encoder) features, in mini-batches.
struct CaptionEncoding {
    let tokenizer: Tokenizer
    let maxLength: Int
    let textEncoder: (any CaptionEncoder)?
    let device: Device
    let batchSize: Int

    func callAsFunction(_ captions: [String], dtype: DType = .float16) throws -> (tensors: [String: Tensor], truncated: Int) {
        let (ids, mask) = try tokenizer.encodeTensors(captions, maxLength: maxLength)
        let truncated = try captions.filter { try tokenizer.encode($0).ids.count > maxLength }.count
        var tensors = ["input_ids": ids, "attention_mask": mask]
        if let textEncoder {
            var features: [Tensor] = []
            for start in stride(from: 0, to: captions.count, by: max(1, batchSize)) {
                let end = min(start + batchSize, captions.count)
                let h = try withNoGrad {
                    try textEncoder.captionFeatures(ids: try ids.slice(dim: 0, start: start, end: end).to(device),
                                                    mask: try mask.slice(dim: 0, start: start, end: end).to(device))
                }
                features.append(try h.to(.cpu, dtype))
            }
            tensors["text_embeddings"] = try Tensor.cat(features, dim: 0)
        }
        return (tensors, truncated)
    }
}
