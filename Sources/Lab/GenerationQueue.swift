import Datasets
import Foundation
import Inference
import Recipe
import Torch

/// What the playground asks for: a run, one of its checkpoints (nil: the latest) and the sampling settings.
struct GenerationRequest: Decodable, Sendable {
    var run: String
    var checkpoint: Int?
    var prompt: String
    var negativePrompt: String?
    var seed: UInt64?
    var steps: Int?
    var cfgScale: Double?
    var sampler: String?
    var ema: Bool?

    static let maxPromptLength = 500

    /// The first problem with the request as the page should show it, nil when it can run.
    var problem: String? {
        if prompt.count > Self.maxPromptLength || (negativePrompt?.count ?? 0) > Self.maxPromptLength {
            return "prompts are limited to \(Self.maxPromptLength) characters"
        }
        if let steps, !(1...200).contains(steps) { return "steps must be between 1 and 200" }
        if let cfgScale, !(0...30).contains(cfgScale) || !cfgScale.isFinite { return "guidance must be between 0 and 30" }
        if let sampler, TrainConfig.Sampler(rawValue: sampler) == nil {
            return "sampler must be one of \(TrainConfig.Sampler.allCases.map(\.rawValue).joined(separator: ", "))"
        }
        return nil
    }
}

/// A generation waiting or running: its events go to the response as lines of JSON; the browser going away (or
/// the cancel endpoint) sets `cancelled`, which the next step checks.
final class GenerationJob: @unchecked Sendable {
    let id: Int
    let request: GenerationRequest
    let events: AsyncStream<String>
    private let continuation: AsyncStream<String>.Continuation
    private let lock = NSLock()
    private var isCancelled = false

    init(id: Int, request: GenerationRequest) {
        self.id = id
        self.request = request
        (events, continuation) = AsyncStream<String>.makeStream(bufferingPolicy: .unbounded)
    }

    var cancelled: Bool { lock.withLock { isCancelled } }
    func cancel() { lock.withLock { isCancelled = true } }

    func send(_ fields: [String: Any]) {
        guard let data = try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys]) else { return }
        continuation.yield(String(decoding: data, as: UTF8.self) + "\n")
    }

    func finish() { continuation.finish() }
}

struct GenerationCancelled: Error {}

/// One generation at a time, in the order asked (a serial queue: libtorch runs there, off the server's threads);
/// the two most recently used models stay loaded (the compare view alternates between two).
final class GenerationQueue: @unchecked Sendable {
    let root: URL
    let device: Device?
    private let queue = DispatchQueue(label: "dit.lab.generation")
    private let lock = NSLock()
    private var nextID = 0
    private var jobs: [Int: GenerationJob] = [:]
    /// Touched only on `queue`.
    private var loaded: [(key: String, run: TrainedRun)] = []
    private var finished = 0

    init(root: URL, device: Device?) {
        self.root = root
        self.device = device
    }

    /// Queues `request`; its events start with its place in the line. Ids are given and jobs queued under one lock,
    /// so the serial queue runs them in the order of their ids.
    func submit(_ request: GenerationRequest) -> GenerationJob {
        lock.withLock {
            nextID += 1
            let job = GenerationJob(id: nextID, request: request)
            jobs[job.id] = job
            job.send(["type": "queued", "id": job.id, "ahead": jobs.count - 1])  // waiting or running
            queue.async { [self] in execute(job) }
            return job
        }
    }

    private func execute(_ job: GenerationJob) {
        defer {
            lock.withLock { _ = jobs.removeValue(forKey: job.id) }
            job.finish()
        }
        guard !job.cancelled else {
            job.send(["type": "cancelled"])
            return
        }
        do {
            try run(job)
            finished += 1  // the order jobs finish in, for the page and the test: the order they were asked
            job.send(["type": "done", "finished": finished])
        } catch is GenerationCancelled {
            job.send(["type": "cancelled"])
        } catch {
            job.send(["type": "error", "message": "\(error)"])
        }
    }

    /// Cancels a waiting or running job; false when there is none with that id.
    func cancel(_ id: Int) -> Bool {
        guard let job = lock.withLock({ jobs[id] }) else { return false }
        job.cancel()
        return true
    }

    private func model(_ request: GenerationRequest) throws -> TrainedRun {
        guard let dir = SafePath.run(request.run, under: root) else { throw LabError("no run named \(request.run)") }
        let checkpoints = Checkpoint.list(dir.appendingPathComponent("checkpoints"))
        guard let checkpoint = request.checkpoint.map({ step in checkpoints.first { $0.step == step } }) ?? checkpoints.last
        else { throw LabError("run \(request.run) has no checkpoint\(request.checkpoint.map { " step-\($0)" } ?? "")") }
        let ema = request.ema ?? true
        let key = "\(checkpoint.url.path) \(ema)"
        if let i = loaded.firstIndex(where: { $0.key == key }) {
            let hit = loaded.remove(at: i)
            loaded.append(hit)
            return hit.run
        }
        let device = self.device ?? TrainedRun.defaultDevice(for: checkpoint.url).device
        let run = try TrainedRun(path: checkpoint.url, useEMA: ema, device: device)
        loaded.append((key, run))
        if loaded.count > 2 { loaded.removeFirst() }
        return run
    }

    private func run(_ job: GenerationJob) throws {
        let r = job.request
        let run = try model(r)
        let steps = r.steps ?? run.config.run.sampleSteps
        let cfg = r.cfgScale ?? run.config.run.cfgScale
        let seed = r.seed ?? 0
        job.send(["type": "start", "run": r.run, "checkpoint": run.checkpoint.lastPathComponent, "steps": steps,
                  "cfgScale": cfg, "seed": String(seed)])
        let result = try withNoGrad {
            try run.observedGeneration(r.prompt, negativePrompt: r.negativePrompt ?? "",
                                       sampler: r.sampler.flatMap(TrainConfig.Sampler.init(rawValue:)),
                                       steps: steps, cfgScale: cfg, seed: seed) { step in
                if job.cancelled { throw GenerationCancelled() }
                // The page shows x̂₀; x_t only when the sampler gives no estimate (each is a VAE decode on latent runs).
                var fields: [String: Any] = ["type": "step", "index": step.index, "timestep": step.timestep]
                if let prediction = try step.prediction() { fields["prediction"] = try dataURL(prediction) } else {
                    fields["sample"] = try dataURL(try step.sample())
                }
                job.send(fields)
            }
        }
        job.send(["type": "image", "image": try dataURL(result.image)])
        if let attention = result.attention {
            let overlays = try attention.overlays().map(dataURL)
            let quadrants = attention.tokens.indices.map(attention.quadrants(of:))
            job.send(["type": "attention", "tokens": attention.tokens, "overlays": overlays, "quadrants": quadrants,
                      "rows": attention.rows, "columns": attention.columns])
        }
    }
}

/// A PNG as a data: URL the page can show without another request.
func dataURL(_ image: RGBImage) throws -> String {
    "data:image/png;base64," + Data(try PNG.encode(image)).base64EncodedString()
}

/// A request the lab refuses, as the page shows it.
struct LabError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
