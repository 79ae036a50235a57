import Core
import Foundation
import Torch

/// Any model DiTKit can load from a Hugging Face directory, run by the argument names of its Python forward —
/// the contract of `dit forward`, which lets anyone check parity from outside.
public enum AnyModel {
    case transformer(PixArtTransformer2DModel)
    case dit(DiTTransformer2DModel)
    case vae(AutoencoderKL)
    case clipText(CLIPTextModel)
    case bert(BertModel)

    /// Picks the class from config.json: diffusers' `_class_name`, else transformers' `model_type`/`architectures`.
    public static func load(from directory: URL, device: Device = .cpu) throws -> AnyModel {
        let configURL = directory.appendingPathComponent("config.json")
        let kind = try ConfigClass.load(configURL)
        let (className, modelType, architectures) = (kind.className, kind.modelType, kind.architectures)
        switch (className, modelType) {
        case (PixArtTransformer2DConfig.className?, _):
            return .transformer(try PixArtTransformer2DModel.load(from: directory, device: device))
        case (DiTTransformer2DConfig.className?, _):
            return .dit(try DiTTransformer2DModel.load(from: directory, device: device))
        case (AutoencoderKLConfig.className?, _):
            return .vae(try AutoencoderKL.load(from: directory, device: device))
        case (_, "clip_text_model"?), (_, "clip"?):
            return .clipText(try CLIPTextModel.load(from: directory, device: device))
        case (_, "bert"?):
            return .bert(try BertModel.load(from: directory, device: device))
        default:
            if architectures.contains("CLIPTextModel") { return .clipText(try CLIPTextModel.load(from: directory, device: device)) }
            if architectures.contains("BertModel") { return .bert(try BertModel.load(from: directory, device: device)) }
            let found = className ?? modelType ?? "nothing"
            throw ConfigError(file: configURL.path, "names \(found); expected _class_name PixArtTransformer2DModel, "
                + "DiTTransformer2DModel or AutoencoderKL, or model_type clip_text_model or bert")
        }
    }

    public var name: String {
        switch self {
        case .transformer: "PixArtTransformer2DModel"
        case .dit: "DiTTransformer2DModel"
        case .vae: "AutoencoderKL"
        case .clipText: "CLIPTextModel"
        case .bert: "BertModel"
        }
    }

    /// Input names this model reads (required ones first) and the outputs it writes.
    public var signature: (required: [String], optional: [String], outputs: [String]) {
        switch self {
        case .transformer: (["hidden_states", "timestep"], ["encoder_hidden_states", "encoder_attention_mask",
                                                            "attention_mask", "resolution", "aspect_ratio"], ["output"])
        case .dit: (["hidden_states", "timestep", "class_labels"], [], ["output"])
        case .vae: (["sample"], [], ["latent_mean", "latent_logvar", "decoded"])
        case .clipText: (["input_ids"], ["attention_mask"], ["last_hidden_state", "pooler_output"])
        case .bert: (["input_ids"], ["attention_mask", "token_type_ids"], ["last_hidden_state", "pooler_output"])
        }
    }

    /// Runs the model on `inputs` (moved to `device`); unknown names and missing required ones are errors.
    public func forward(_ inputs: [String: Tensor], device: Device = .cpu) throws -> [String: Tensor] {
        let sig = signature
        let missing = sig.required.filter { inputs[$0] == nil }
        let unknown = inputs.keys.filter { !sig.required.contains($0) && !sig.optional.contains($0) }.sorted()
        guard missing.isEmpty, unknown.isEmpty else {
            var parts: [String] = []
            if !missing.isEmpty { parts.append("missing \(missing.joined(separator: ", "))") }
            if !unknown.isEmpty { parts.append("unknown \(unknown.joined(separator: ", "))") }
            throw ModelError("\(name) inputs: " + parts.joined(separator: "; ")
                + " (it reads \((sig.required + sig.optional).joined(separator: ", ")))")
        }
        let x = try inputs.mapValues { try $0.to(device) }
        return try withNoGrad {
            switch self {
            case .transformer(let m):
                let y = try m(x["hidden_states"]!, encoderHiddenStates: x["encoder_hidden_states"], timestep: x["timestep"]!,
                              encoderAttentionMask: x["encoder_attention_mask"], attentionMask: x["attention_mask"],
                              resolution: x["resolution"], aspectRatio: x["aspect_ratio"])
                return ["output": y]
            case .dit(let m):
                return ["output": try m(x["hidden_states"]!, timestep: x["timestep"]!, classLabels: x["class_labels"]!)]
            case .vae(let m):
                let posterior = try m.encode(x["sample"]!)
                return ["latent_mean": posterior.mean, "latent_logvar": posterior.logvar,
                        "decoded": try m.decode(posterior.mean)]
            case .clipText(let m):
                let o = try m(x["input_ids"]!, attentionMask: x["attention_mask"])
                return ["last_hidden_state": o.lastHiddenState, "pooler_output": o.poolerOutput]
            case .bert(let m):
                let o = try m(x["input_ids"]!, attentionMask: x["attention_mask"], tokenTypeIds: x["token_type_ids"])
                return ["last_hidden_state": o.lastHiddenState, "pooler_output": o.poolerOutput]
            }
        }
    }
}
