import Core
import Foundation
import Models
import Torch
import Yams

// Reading a TrainConfig: YAML → Yams' node tree (unknown keys, lines; YAMLConfigDocument) → Yams' Codable decoder
// over each section's defaults, then the section's `fillDefaults` and `check` (rules within the section), then the
// rules that tie sections together. Every problem is collected into one ConfigError.

extension TrainConfig {
    /// Every section's keys, in canonicalYAML order (for unknown-key hints).
    static let schema: [(section: String, keys: [String])] = [
        ("run", Run.CodingKeys.allCases.map(\.stringValue)), ("data", Data.CodingKeys.allCases.map(\.stringValue)),
        ("model", Model.CodingKeys.allCases.map(\.stringValue)),
        ("text_encoder", TextEncoder.CodingKeys.allCases.map(\.stringValue)),
        ("vae", VAE.CodingKeys.allCases.map(\.stringValue)),
        ("scheduler", Scheduler.CodingKeys.allCases.map(\.stringValue)),
        ("optimizer", Optimizer.CodingKeys.allCases.map(\.stringValue)),
        ("training", Training.CodingKeys.allCases.map(\.stringValue)),
    ]

    /// Reads and checks a YAML config file.
    public static func load(_ url: URL) throws -> TrainConfig {
        let text: String
        do {
            text = try String(contentsOf: url, encoding: .utf8)
        } catch {
            throw ConfigError(file: url.path, "cannot read the file (missing, unreadable or not UTF-8)")
        }
        return try TrainConfig(yaml: text, source: url.path)
    }

    /// Parses and checks `yaml`; `source` names it in errors (the file path). Throws one ConfigError listing
    /// every problem found.
    public init(yaml: String, source: String) throws {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch let YamlError.duplicatedKeysInMapping(duplicates, context) {
            throw ConfigError(file: source, "not valid YAML: duplicate key \(duplicates.joined(separator: ", "))"
                + " (line \(context.mark.line))")
        } catch {
            throw ConfigError(file: source, "not valid YAML: \(error)")
        }
        let sections = Self.schema.map(\.section)
        guard let root else {
            throw ConfigError(file: source, "the file is empty (expected the sections \(sections.joined(separator: ", ")))")
        }
        guard case .mapping(let mapping) = root else {
            throw ConfigError(file: source, "expected a mapping of the sections \(sections.joined(separator: ", ")), "
                + "found \(root.summary)")
        }
        let document = YAMLConfigDocument(file: source, root: root)
        let problems = document.problems
        document.checkKeys(at: "", known: sections, schema: Self.schema)
        for (section, keys) in Self.schema {
            let node = mapping[section]
            if node?.mapping != nil {
                document.checkKeys(at: section, known: keys, schema: Self.schema)
            } else if node == nil || node?.tagName == .null {
                // vae is optional (pixel space); a missing section is reported once, not as each missing key.
                if section != "vae" {
                    problems.report(section, "missing section (expected a mapping with the keys "
                        + keys.joined(separator: ", ") + ")")
                }
            } else {
                problems.report(section, "expected a mapping with the keys \(keys.joined(separator: ", ")), "
                    + "found \(node!.summary)")
            }
        }
        run = document.decode(Run.self, at: "run")
        data = document.decode(Data.self, at: "data")
        model = document.decode(Model.self, at: "model")
        textEncoder = document.decode(TextEncoder.self, at: "text_encoder")
        vae = mapping["vae"]?.mapping == nil ? nil : document.decode(VAE.self, at: "vae")
        scheduler = document.decode(Scheduler.self, at: "scheduler")
        optimizer = document.decode(Optimizer.self, at: "optimizer")
        training = document.decode(Training.self, at: "training")
        if !problems.has("run.sampler") { run.sampler = scheduler.objective.defaultSampler }
        checkAcrossSections(problems)
        if let error = problems.error { throw error }
    }

    /// Rules that tie sections together.
    private func checkAcrossSections(_ p: ConfigProblems) {
        // With a VAE the factor is in its config.json (8 for the SD VAE): checked when it is loaded.
        p.require(vae == nil ? data.imageSize == model.sampleSize : data.imageSize % max(model.sampleSize, 1) == 0,
                  "data.image_size", "\(data.imageSize) does not match model.sample_size \(model.sampleSize)"
                      + (vae == nil ? " (pixel space: they must be equal)"
                         : " (latent space: image_size must be sample_size × the VAE's downsampling factor)"),
                  inputs: ["model.sample_size", "vae"])
        if vae == nil {
            p.require(model.inChannels == 3, "model.in_channels",
                      "\(model.inChannels), but without a vae section the DiT sees RGB pixels: expected 3 (or add vae.path)",
                      inputs: ["vae"])
        }
        p.require(scheduler.objective.samplers.contains(run.sampler), "run.sampler",
                  "\(run.sampler.rawValue) cannot sample the \(scheduler.objective.rawValue) objective (expected "
                      + scheduler.objective.samplers.map(\.rawValue).joined(separator: " or ") + ")",
                  inputs: ["scheduler.objective"])
        p.require(scheduler.objective == .flow || scheduler.shift == 1, "scheduler.shift",
                  "\(scheduler.shift) applies only to the flow objective (objective is \(scheduler.objective.rawValue))",
                  inputs: ["scheduler.objective"])
        p.require(training.mixedPrecision != .fp16 || run.device != .cpu, "training.mixed_precision",
                  "fp16 needs a CUDA device (run.device is cpu; use \"bf16\" or \"no\")", inputs: ["run.device"])
        // A last guard that the DiT can be built: the rules above should already have caught anything it rejects.
        if p.isEmpty {
            do {
                try pixArtConfig.validate(file: p.file)
            } catch let error as ConfigError {
                p.report("model", "does not form a PixArt model: \(error.key ?? ""): \(error.message)")
            } catch {
                p.report("model", "does not form a PixArt model: \(error)")
            }
        }
    }

    /// The VAE at vae.path turns data.image_size pixels into model.sample_size latents with model.in_channels channels.
    public func checkLatentSize(vae c: AutoencoderKLConfig, file: String) throws {
        let factor = 1 << (c.blockOutChannels.count - 1)
        guard data.imageSize == model.sampleSize * factor, model.inChannels == c.latentChannels else {
            throw ConfigError(file: file, "this VAE downsamples by \(factor) to \(c.latentChannels) channels: data.image_size "
                + "\(data.imageSize) needs model.sample_size \(data.imageSize / factor) and model.in_channels "
                + "\(c.latentChannels) (the config has \(model.sampleSize) and \(model.inChannels))")
        }
    }

    /// The resolved config as YAML: every section and key in schema order, every default spelled out. Reading it
    /// back gives an equal config; checkpoints store it, and `hash` identifies it.
    public var canonicalYAML: String {
        guard let text = try? YAMLEncoder().encode(self), let node = try? Yams.compose(yaml: text) else { return "" }
        return (try? Yams.serialize(node: node.withReadableNumbers)) ?? text
    }

    /// FNV-1a 64 of `canonicalYAML`, 16 hex digits: equal for configs that train the same way, whatever their
    /// comments, key order or spelled-out defaults.
    public var hash: String { fnv1a64(canonicalYAML) }

    /// Hash of the sections a checkpoint's weights depend on (data, model, text_encoder, vae, scheduler): resuming
    /// may change step counts, learning rate or logging, not these. Paths count only by whether they are set, so a
    /// run resumes from its own config.yaml (paths resolved), from another directory or after a move; which data it
    /// trains on is checked by the cache's identity instead (`TrainerState.cacheIdentity`).
    public var architectureHash: String {
        var c = self
        c.data.cache = ""
        c.vae?.path = ""
        c.textEncoder.path = textEncoder.path.map { _ in "set" }
        return c.hashOfArchitecture
    }

    /// The architecture hash that checkpoints written before `architectureHash` left paths out carry: the paths as
    /// written count. A resume accepts either.
    public var legacyArchitectureHash: String { hashOfArchitecture }

    /// The legacy hashes this config may have had as first written: paths as they stand, and with absolute paths
    /// under each of `bases` written relative to it again (a run's config.yaml records them resolved).
    public func legacyArchitectureHashes(relativeTo bases: [URL]) -> Set<String> {
        var hashes: Set<String> = [legacyArchitectureHash]
        for base in bases {
            let prefix = base.standardizedFileURL.path + "/"
            func relative(_ path: String) -> String { path.hasPrefix(prefix) ? String(path.dropFirst(prefix.count)) : path }
            var c = self
            c.data.cache = relative(data.cache)
            c.vae?.path = relative(vae?.path ?? "")
            c.textEncoder.path = textEncoder.path.map(relative)
            hashes.insert(c.legacyArchitectureHash)
        }
        return hashes
    }

    private var hashOfArchitecture: String {
        struct Architecture: Encodable {
            let data: Data, model: Model, textEncoder: TextEncoder, vae: VAE?, scheduler: Scheduler
        }
        let sections = Architecture(data: data, model: model, textEncoder: textEncoder, vae: vae, scheduler: scheduler)
        return fnv1a64((try? YAMLEncoder().encode(sections)) ?? "")
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(run, forKey: .run)
        try c.encode(data, forKey: .data)
        try c.encode(model, forKey: .model)
        try c.encode(textEncoder, forKey: .textEncoder)
        try c.encode(vae, forKey: .vae)  // null: pixel space
        try c.encode(scheduler, forKey: .scheduler)
        try c.encode(optimizer, forKey: .optimizer)
        try c.encode(training, forKey: .training)
    }

    /// The DiT's diffusers config, with caption_channels = the text encoder's width when the config knows it.
    public var pixArtConfig: PixArtTransformer2DConfig { pixArtConfig(captionChannels: textEncoder.knownHiddenSize) }

    /// The DiT's diffusers config for a text encoder whose output is `captionChannels` wide.
    public func pixArtConfig(captionChannels: Int?) -> PixArtTransformer2DConfig {
        var c = PixArtTransformer2DConfig(
            numAttentionHeads: model.numHeads, attentionHeadDim: model.attentionHeadDim,
            inChannels: model.inChannels, outChannels: model.outChannels, numLayers: model.numLayers,
            sampleSize: model.sampleSize, patchSize: model.patchSize, crossAttentionDim: model.crossAttentionDim,
            captionChannels: captionChannels)
        // diffusers turns on resolution/aspect conditioning for sample_size 128 (PixArt-α 1024 px); a model
        // trained here never sees those inputs, so it is off at every size.
        c.useAdditionalConditions = false
        return c
    }
}

extension TrainConfig.Run {
    public static let requiredKeys: [CodingKeys] = [.name]

    /// Whether `name` can name a run directory under output_dir (also `dit train --run-name`).
    public static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && !name.contains("/") && name != "." && name != ".."
    }

    public func check(_ r: ConfigRules<CodingKeys>) {
        r.require(Self.isValidName(name), .name,
                  "'\(name)' cannot name a run directory (expected a non-empty name without '/')")
        r.atLeast(0, (seed, .seed), (threads, .threads), (sampleEvery, .sampleEvery), (checkpointEvery, .checkpointEvery))
        r.atLeast(1, (logEvery, .logEvery), (keepLast, .keepLast), (sampleSteps, .sampleSteps))
        r.number(cfgScale, .cfgScale, .atLeast(1))
        r.number(distributedTimeout, .distributedTimeout, .positive)
    }
}

extension TrainConfig.Data {
    public static let requiredKeys: [CodingKeys] = [.cache, .imageSize]

    public func check(_ r: ConfigRules<CodingKeys>) {
        r.atLeast(8, (imageSize, .imageSize))
        r.atLeast(0, (randomCrops, .randomCrops))
        r.number(captionDropout, .captionDropout, .halfOpenUnit)
    }
}

extension TrainConfig.Model {
    public static let requiredKeys: [CodingKeys] = [.hiddenSize, .numLayers, .numHeads, .patchSize, .inChannels, .sampleSize]

    public mutating func fillDefaults(_ r: ConfigRules<CodingKeys>) {
        if !r.has(.attentionHeadDim) { attentionHeadDim = max(hiddenSize / max(numHeads, 1), 1) }
        if !r.has(.outChannels) { outChannels = (learnSigma ? 2 : 1) * inChannels }
        if !r.has(.crossAttentionDim) { crossAttentionDim = hiddenSize }
    }

    public func check(_ r: ConfigRules<CodingKeys>) {
        r.atLeast(1, (hiddenSize, .hiddenSize), (numLayers, .numLayers), (numHeads, .numHeads), (patchSize, .patchSize),
                  (inChannels, .inChannels), (sampleSize, .sampleSize))
        // Derived when left out (fillDefaults), so checked only when given.
        for (value, key) in [(attentionHeadDim, CodingKeys.attentionHeadDim), (outChannels, .outChannels),
                             (crossAttentionDim, .crossAttentionDim)] where r.has(key) {
            r.atLeast(1, (value, key))
        }
        let hidden = hiddenSize, heads = max(numHeads, 1)
        r.require(hidden % heads == 0, .numHeads, "\(numHeads) does not divide hidden_size \(hidden)",
                  inputs: [.hiddenSize])
        if r.has(.attentionHeadDim) {
            r.require(attentionHeadDim.multipliedReportingOverflow(by: heads) == (hidden, false), .attentionHeadDim,
                      "\(attentionHeadDim) is not hidden_size / num_heads = \(hidden) / \(heads)"
                          + (hidden % heads == 0 ? " = \(hidden / heads)" : ""), inputs: [.hiddenSize, .numHeads])
        }
        r.require(hidden % 4 == 0, .hiddenSize,
                  "\(hidden) is not a multiple of 4 (the 2-D sin-cos position embedding splits it in four)")
        r.require(sampleSize % max(patchSize, 1) == 0, .patchSize,
                  "\(patchSize) does not divide sample_size \(sampleSize)", inputs: [.sampleSize])
        let expected = (learnSigma ? 2 : 1) * inChannels
        r.require(outChannels == expected, .outChannels, "\(outChannels), expected \(expected) (" + (learnSigma
            ? "2 × in_channels: the prediction and the learned variance)"
            : "in_channels: the prediction has the input's shape; set learn_sigma for 2 × in_channels)"),
                  inputs: [.inChannels, .learnSigma])
        r.require(crossAttentionDim == hidden, .crossAttentionDim,
                  "\(crossAttentionDim), expected hidden_size \(hidden) (the caption is projected to hidden_size "
                      + "before cross-attention)", inputs: [.hiddenSize])
    }
}

extension TrainConfig.TextEncoder {
    public static let requiredKeys: [CodingKeys] = [.type]

    public mutating func fillDefaults(_ r: ConfigRules<CodingKeys>) {
        if !r.has(.trainable) { trainable = isNew }
    }

    public func check(_ r: ConfigRules<CodingKeys>) {
        r.require(type != .minilm || path != nil, .path,
                  "missing: a minilm encoder is loaded from a transformers directory (e.g. models/all-MiniLM-L6-v2)",
                  inputs: [.type])
        // A pretrained encoder's shape is in its config.json; a value here could only disagree with it.
        for key in [CodingKeys.hiddenSize, .numLayers, .numHeads] where r.has(key) {
            r.require(isNew, key, "only for a new CLIP encoder (type clip, path null); a pretrained encoder's "
                + "config.json sets it", inputs: [.type, .path])
        }
        r.atLeast(1, (hiddenSize, .hiddenSize), (numLayers, .numLayers), (numHeads, .numHeads))
        r.atLeast(2, (maxLength, .maxLength))
        r.require(!isNew || hiddenSize % max(numHeads, 1) == 0, .numHeads,
                  "\(numHeads) does not divide hidden_size \(hiddenSize)", inputs: [.hiddenSize])
    }

    /// A pretrained encoder's shape comes from its config.json, so only a new encoder writes it.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(type, forKey: .type)
        try c.encode(path, forKey: .path)
        if isNew {
            try c.encode(hiddenSize, forKey: .hiddenSize)
            try c.encode(numLayers, forKey: .numLayers)
            try c.encode(numHeads, forKey: .numHeads)
        }
        try c.encode(maxLength, forKey: .maxLength)
        try c.encode(trainable, forKey: .trainable)
    }
}

extension TrainConfig.VAE {
    public static let requiredKeys: [CodingKeys] = [.path]
}

extension TrainConfig.Scheduler {
    public static let requiredKeys: [CodingKeys] = [.objective]

    public func check(_ r: ConfigRules<CodingKeys>) {
        r.atLeast(1, (numTrainTimesteps, .numTrainTimesteps))
        r.oneOf(betaSchedule, .betaSchedule, TrainConfig.betaSchedules)
        r.number(shift, .shift, .positive)
    }
}

extension TrainConfig.Optimizer {
    public static let requiredKeys: [CodingKeys] = [.learningRate]

    public func check(_ r: ConfigRules<CodingKeys>) {
        r.number(learningRate, .learningRate, .positive)
        r.require(betas.count == 2, .betas, "expected a list of 2 numbers, found \(betas.count)")
        for beta in betas { r.number(beta, .betas, .halfOpenUnit) }
        r.number(weightDecay, .weightDecay, .nonNegative)
        r.number(eps, .eps, .positive)
        r.number(maxGradNorm, .maxGradNorm, .positive)
        r.oneOf(lrSchedule, .lrSchedule, TrainConfig.lrSchedules)
        r.atLeast(0, (warmupSteps, .warmupSteps))
        r.number(emaDecay, .emaDecay, .closedUnit)
    }

    /// nil is written as null: absent would read back as the default (clipping at 1, EMA 0.9999).
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(learningRate, forKey: .learningRate)
        try c.encode(betas, forKey: .betas)
        try c.encode(weightDecay, forKey: .weightDecay)
        try c.encode(eps, forKey: .eps)
        try c.encode(maxGradNorm, forKey: .maxGradNorm)
        try c.encode(lrSchedule, forKey: .lrSchedule)
        try c.encode(warmupSteps, forKey: .warmupSteps)
        try c.encode(emaDecay, forKey: .emaDecay)
    }
}

extension TrainConfig.Training {
    public static let requiredKeys: [CodingKeys] = [.batchSize]

    public func check(_ r: ConfigRules<CodingKeys>) {
        r.atLeast(1, (batchSize, .batchSize), (gradientAccumulationSteps, .gradientAccumulationSteps),
                  (maxSteps ?? 1, .maxSteps), (numEpochs ?? 1, .numEpochs))
        r.require((maxSteps == nil) != (numEpochs == nil), .maxSteps, "set exactly one of max_steps and num_epochs ("
            + (maxSteps == nil ? "neither is set)" : "both are set)"), inputs: [.numEpochs])
    }
}

extension TrainConfig.MixedPrecision {
    /// YAML 1.1 reads an unquoted `no` as the boolean false; either means no mixed precision.
    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let flag = try? c.decode(Bool.self), !flag {
            self = .no
            return
        }
        let raw = try c.decode(String.self)
        guard let value = Self(rawValue: raw) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription:
                "'\(raw)' is not one of: " + Self.allCases.map(\.rawValue).joined(separator: ", ")))
        }
        self = value
    }
}

extension Node {
    /// Floats in Swift's shortest form ("0.9999", "4.0") instead of Yams' scientific "9.999e-1", with a point
    /// before any exponent ("1.0e-08"): YAML 1.1 readers such as PyYAML take "1e-08" for a string.
    fileprivate var withReadableNumbers: Node {
        switch self {
        case .scalar(let s) where tagName == .float:
            guard let x = float else { return self }
            var text = "\(x)"
            if !text.contains("."), let e = text.firstIndex(of: "e") { text.insert(contentsOf: ".0", at: e) }
            return Node(text, tag, s.style)
        case .mapping(let m): return .mapping(Node.Mapping(m.map { ($0.key, $0.value.withReadableNumbers) }, m.tag, m.style))
        case .sequence(let q): return .sequence(Node.Sequence(q.map(\.withReadableNumbers), q.tag, q.style))
        default: return self
        }
    }
}
