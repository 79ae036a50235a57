import Foundation
import Models
import Support
import Torch
import Yams

// Reading a TrainConfig: YAML → Yams' node tree (unknown keys, lines) → Yams' Codable decoder, each section's
// init(from:) reading its keys through a ConfigReader (defaults, ranges, rules within the section), then the rules
// that tie sections together. Every problem is collected into one ConfigError.

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
        guard case .mapping(var mapping) = root else {
            throw ConfigError(file: source, "expected a mapping of the sections \(sections.joined(separator: ", ")), "
                + "found \(root.summary)")
        }
        let problems = ConfigProblems(file: source, root: root)
        problems.checkKeys(at: "", known: sections, schema: Self.schema)
        // A missing or malformed section reads as an empty mapping, so the decoder still builds a config (of
        // placeholders) and every other section's problems are found too.
        for (section, keys) in Self.schema {
            let node = mapping[section]
            let expected = "a mapping with the keys " + keys.joined(separator: ", ")
            if node?.mapping != nil {
                problems.checkKeys(at: section, known: keys, schema: Self.schema)
            } else if section == "vae" && (node == nil || node?.tagName == .null) {
                continue  // optional: pixel space
            } else if node == nil || node?.tagName == .null {
                problems.report(section, "missing section (expected \(expected))")
            } else {
                problems.report(section, "expected \(expected), found \(node!.summary)")
            }
            if node?.mapping == nil { mapping[section] = Node([(Node, Node)]()) }
        }
        self = try YAMLDecoder().decode(TrainConfig.self, from: Node.mapping(mapping),
                                        userInfo: [ConfigProblems.userInfoKey: problems])
        checkAcrossSections(problems)
        if let error = problems.error { throw error }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        run = try c.decode(Run.self, forKey: .run)
        data = try c.decode(Data.self, forKey: .data)
        model = try c.decode(Model.self, forKey: .model)
        textEncoder = try c.decode(TextEncoder.self, forKey: .textEncoder)
        vae = try c.decodeIfPresent(VAE.self, forKey: .vae)
        scheduler = try c.decode(Scheduler.self, forKey: .scheduler)
        optimizer = try c.decode(Optimizer.self, forKey: .optimizer)
        training = try c.decode(Training.self, forKey: .training)
    }

    /// Rules that tie sections together.
    private func checkAcrossSections(_ p: ConfigProblems) {
        let factor = vae == nil ? 1 : 8
        p.require(data.imageSize == model.sampleSize * factor, "data.image_size",
                  "\(data.imageSize) does not match model.sample_size \(model.sampleSize)"
                      + (vae == nil ? " (pixel space: they must be equal)"
                         : " × 8 = \(model.sampleSize * 8) (the VAE downsamples by 8)"),
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
    /// may change step counts, learning rate or logging, not these.
    public var architectureHash: String {
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
    public init(from decoder: Decoder) throws {
        let r = try ConfigReader<CodingKeys>(decoder)
        // The default sampler is the one that solves the scheduler section's objective.
        let objective = r.problems.node("scheduler.objective")?.string.flatMap(TrainConfig.Objective.init) ?? .epsilon
        let deviceName = r.string(.device, default: "cpu")
        let device = Device(name: deviceName)
        if device == nil { r.fail(.device, "'\(deviceName)' is not a device (expected cpu, cuda or cuda:N)") }
        self.init(
            name: r.string(.name), outputDir: r.string(.outputDir, default: "runs"),
            seed: r.int(.seed, default: 0, min: 0, max: .max), device: device ?? .cpu,
            threads: r.int(.threads, default: 0, min: 0), logEvery: r.int(.logEvery, default: 10, min: 1),
            sampleEvery: r.int(.sampleEvery, default: 0, min: 0),
            checkpointEvery: r.int(.checkpointEvery, default: 0, min: 0), keepLast: r.int(.keepLast, default: 3, min: 1),
            samplePrompts: r.strings(.samplePrompts, default: []), sampleSteps: r.int(.sampleSteps, default: 25, min: 1),
            cfgScale: r.double(.cfgScale, default: 4, .atLeast(1)),
            sampler: r.optionalChoice(.sampler) ?? objective.defaultSampler)
        r.require(!name.isEmpty && !name.contains("/") && name != "." && name != "..", .name,
                  "'\(name)' cannot name a run directory (expected a non-empty name without '/')")
    }
}

extension TrainConfig.Data {
    public init(from decoder: Decoder) throws {
        let r = try ConfigReader<CodingKeys>(decoder)
        self.init(cache: r.string(.cache), imageSize: r.int(.imageSize, min: 8),
                  captionDropout: r.double(.captionDropout, default: 0.1, .halfOpenUnit))
    }
}

extension TrainConfig.Model {
    public init(from decoder: Decoder) throws {
        let r = try ConfigReader<CodingKeys>(decoder)
        let hidden = r.int(.hiddenSize, min: 1), heads = r.int(.numHeads, min: 1)
        let headDim = r.optionalInt(.attentionHeadDim, min: 1)
        let inChannels = r.int(.inChannels, min: 1), learnSigma = r.bool(.learnSigma, default: false)
        let outChannels = r.optionalInt(.outChannels, min: 1)
        self.init(hiddenSize: hidden, numLayers: r.int(.numLayers, min: 1), numHeads: heads,
                  attentionHeadDim: headDim ?? max(hidden / heads, 1), patchSize: r.int(.patchSize, min: 1),
                  inChannels: inChannels, outChannels: outChannels ?? (learnSigma ? 2 : 1) * inChannels,
                  learnSigma: learnSigma, sampleSize: r.int(.sampleSize, min: 1),
                  crossAttentionDim: r.int(.crossAttentionDim, default: hidden, min: 1))
        r.require(hidden % heads == 0, .numHeads, "\(heads) does not divide hidden_size \(hidden)", inputs: [.hiddenSize])
        if let headDim {
            r.require(headDim * heads == hidden, .attentionHeadDim,
                      "\(headDim) is not hidden_size / num_heads = \(hidden) / \(heads)"
                          + (hidden % heads == 0 ? " = \(hidden / heads)" : ""), inputs: [.hiddenSize, .numHeads])
        }
        r.require(hidden % 4 == 0, .hiddenSize,
                  "\(hidden) is not a multiple of 4 (the 2-D sin-cos position embedding splits it in four)")
        r.require(sampleSize % patchSize == 0, .patchSize, "\(patchSize) does not divide sample_size \(sampleSize)",
                  inputs: [.sampleSize])
        if let outChannels {
            let expected = (learnSigma ? 2 : 1) * inChannels
            r.require(outChannels == expected, .outChannels,
                      "\(outChannels), expected \(expected) (" + (learnSigma
                          ? "2 × in_channels: the prediction and the learned variance)"
                          : "in_channels: the prediction has the input's shape; set learn_sigma for 2 × in_channels)"),
                      inputs: [.inChannels, .learnSigma])
        }
        r.require(crossAttentionDim == hidden, .crossAttentionDim,
                  "\(crossAttentionDim), expected hidden_size \(hidden) (the caption is projected to hidden_size "
                      + "before cross-attention)", inputs: [.hiddenSize])
    }
}

extension TrainConfig.TextEncoder {
    public init(from decoder: Decoder) throws {
        let r = try ConfigReader<CodingKeys>(decoder)
        let type: TrainConfig.TextEncoderType = r.choice(.type), path = r.optionalString(.path)
        let isNewCLIP = type == .clip && path == nil
        if type == .minilm && path == nil && r.valid(.type) {
            r.fail(.path, "missing: a minilm encoder is loaded from a transformers directory (e.g. models/all-MiniLM-L6-v2)")
        }
        // A pretrained encoder's shape is in its config.json; a value here could only disagree with it.
        for key in [CodingKeys.hiddenSize, .numLayers, .numHeads] where !isNewCLIP && r.has(key) && r.valid(.type, .path) {
            r.fail(key, "only for a new CLIP encoder (type clip, path null); a pretrained encoder's config.json sets it")
        }
        // Read in every case so their types are checked; a pretrained encoder's values were refused above.
        self.init(type: type, path: path, hiddenSize: r.int(.hiddenSize, default: 128, min: 1),
                  numLayers: r.int(.numLayers, default: 2, min: 1), numHeads: r.int(.numHeads, default: 4, min: 1),
                  maxLength: r.int(.maxLength, default: 77, min: 2), trainable: r.bool(.trainable, default: isNewCLIP))
        if isNewCLIP {
            r.require(hiddenSize % numHeads == 0, .numHeads, "\(numHeads) does not divide hidden_size \(hiddenSize)",
                      inputs: [.hiddenSize])
        }
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
    public init(from decoder: Decoder) throws {
        self.init(path: try ConfigReader<CodingKeys>(decoder).string(.path))
    }
}

extension TrainConfig.Scheduler {
    public init(from decoder: Decoder) throws {
        let r = try ConfigReader<CodingKeys>(decoder)
        self.init(objective: r.choice(.objective), numTrainTimesteps: r.int(.numTrainTimesteps, default: 1000, min: 1),
                  betaSchedule: r.choice(.betaSchedule, in: TrainConfig.betaSchedules, default: "linear"),
                  shift: r.double(.shift, default: 1, .positive))
    }
}

extension TrainConfig.Optimizer {
    public init(from decoder: Decoder) throws {
        let r = try ConfigReader<CodingKeys>(decoder)
        self.init(learningRate: r.double(.learningRate, .positive),
                  betas: r.numbers(.betas, count: 2, default: [0.9, 0.999], .halfOpenUnit),
                  weightDecay: r.double(.weightDecay, default: 0, .nonNegative), eps: r.double(.eps, default: 1e-8, .positive),
                  maxGradNorm: r.optionalDouble(.maxGradNorm, default: 1, .positive),
                  lrSchedule: r.choice(.lrSchedule, in: TrainConfig.lrSchedules, default: "constant"),
                  warmupSteps: r.int(.warmupSteps, default: 0, min: 0),
                  emaDecay: r.optionalDouble(.emaDecay, default: 0.9999, .closedUnit))
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
    public init(from decoder: Decoder) throws {
        let r = try ConfigReader<CodingKeys>(decoder)
        self.init(batchSize: r.int(.batchSize, min: 1),
                  gradientAccumulationSteps: r.int(.gradientAccumulationSteps, default: 1, min: 1),
                  maxSteps: r.optionalInt(.maxSteps, min: 1), numEpochs: r.optionalInt(.numEpochs, min: 1),
                  // YAML 1.1 reads an unquoted `no` as false.
                  mixedPrecision: r.choice(.mixedPrecision, default: .no, falseMeans: .no))
        if r.valid(.maxSteps, .numEpochs) && (maxSteps == nil) == (numEpochs == nil) {
            r.fail(.maxSteps, "set exactly one of max_steps and num_epochs (" + (maxSteps == nil ? "neither is set)" : "both are set)"))
        }
    }
}

extension Node {
    /// Floats in Swift's shortest form ("0.9999", "1e-08", "4.0") instead of Yams' scientific "9.999e-1".
    fileprivate var withReadableNumbers: Node {
        switch self {
        case .scalar(let s) where tagName == .float:
            guard let x = float else { return self }
            return Node("\(x)", tag, s.style)
        case .mapping(let m): return .mapping(Node.Mapping(m.map { ($0.key, $0.value.withReadableNumbers) }, m.tag, m.style))
        case .sequence(let q): return .sequence(Node.Sequence(q.map(\.withReadableNumbers), q.tag, q.style))
        default: return self
        }
    }
}
