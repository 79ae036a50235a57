import Core
import Foundation
import Hummingbird
import Torch

/// `dit lab`: the page (LabAssets, all served from here: it works offline and behind a firewall), the runs under
/// one folder, their files, and generation from their checkpoints. Every answer to bad input is a 4xx with a message.
public enum LabServer {
    /// Request bodies are small JSON objects; anything longer is refused with 413 before it is read whole.
    static let maxBody = 16 * 1024
    static let servedExtensions: [String: String] = [
        "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "json": "application/json",
        "jsonl": "application/x-ndjson", "yaml": "text/plain; charset=utf-8", "txt": "text/plain; charset=utf-8",
    ]
    /// The page may load and fetch only from this server; images may also be data: URLs (generated steps).
    static let securityHeaders: HTTPFields = [
        .contentSecurityPolicy: "default-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'",
        .init("X-Content-Type-Options")!: "nosniff",
        .cacheControl: "no-store",
    ]

    /// Serves `root` on `host:port` until the process is stopped; `ready` gets the port it listens on (0 asks the
    /// system for a free one).
    public static func run(root: URL, host: String, port: Int, device: Device?,
                           ready: @escaping @Sendable (Int) -> Void) async throws {
        let router = Router()
        let generation = GenerationQueue(root: root, device: device)
        addRoutes(to: router, root: root, generation: generation)
        let app = Application(router: router, configuration: .init(address: .hostname(host, port: port), serverName: "dit-lab"),
                              onServerRunning: { channel in ready(channel.localAddress?.port ?? port) })
        try await app.runService()
    }

    static func addRoutes(to router: Router<BasicRequestContext>, root: URL, generation: GenerationQueue) {
        for (path, asset) in LabAssets.files {
            router.get(RouterPath(stringLiteral: path)) { _, _ in
                var headers = securityHeaders
                headers[.contentType] = asset.type
                return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: asset.text)))
            }
        }
        router.get("api/runs") { _, _ in
            try json(RunsAnswer(root: root.path, runs: RunCatalog.runs(in: root)))
        }
        router.get("api/runs/:name/scalars") { _, context in
            let name = try context.parameters.require("name")
            guard let dir = SafePath.run(name, under: root) else { throw HTTPError(.notFound, message: "no run named \(name)") }
            let tags = RunCatalog.scalars(dir).mapValues { $0.map { [Double($0.step), $0.value] } }
            return try json(tags)
        }
        router.get("files/**") { request, _ in
            // The raw path, so that an encoded "%2e%2e" is judged after decoding, never silently normalised (an empty
            // one is refused there too).
            let raw = request.uri.path.dropFirst("/files/".count)
            guard let file = SafePath.resolve(String(raw), under: root) else {
                throw HTTPError(.forbidden, message: "only files inside the runs folder are served")
            }
            guard let type = servedExtensions[file.pathExtension.lowercased()] else {
                throw HTTPError(.forbidden, message: "only images, JSON, YAML and text files are served")
            }
            guard let data = FileManager.default.contents(atPath: file.path) else {
                throw HTTPError(.notFound, message: "no such file")
            }
            var headers = securityHeaders
            headers[.contentType] = type
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
        }
        router.post("api/generate") { request, context in
            var request = request
            let body = try await request.collectBody(upTo: maxBody)
            let asked: GenerationRequest
            do { asked = try JSONDecoder().decode(GenerationRequest.self, from: Data(buffer: body)) } catch {
                throw HTTPError(.badRequest, message: "the request must be JSON with run and prompt (\(error))")
            }
            if let problem = asked.problem { throw HTTPError(.badRequest, message: problem) }
            guard SafePath.run(asked.run, under: root) != nil else { throw HTTPError(.notFound, message: "no run named \(asked.run)") }
            let job = generation.submit(asked)
            var headers = securityHeaders
            headers[.contentType] = "application/x-ndjson"
            return Response(status: .ok, headers: headers, body: ResponseBody { writer in
                do {
                    for await line in job.events { try await writer.write(ByteBuffer(string: line)) }
                    try await writer.finish(nil)
                } catch {
                    job.cancel()  // the page went away: stop at the next step
                    throw error
                }
            })
        }
        router.post("api/cancel/:id") { _, context in
            let id = try context.parameters.require("id", as: Int.self)
            return generation.cancel(id) ? Response(status: .noContent) : Response(status: .notFound)
        }
        router.get("api/health") { _, _ in "ok" }
    }

    struct RunsAnswer: Encodable {
        let root: String
        let runs: [RunSummary]
    }

    static func json(_ value: some Encodable) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var headers = securityHeaders
        headers[.contentType] = "application/json"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }
}

extension Data {
    init(buffer: ByteBuffer) { self.init(buffer.readableBytesView) }
}
