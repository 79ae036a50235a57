import Core
import Foundation

/// The one place that knows every scheduler: a new one is its class plus a line in `classes`. `dit train`'s samplers,
/// `run.sampler`, `--sampler` and scheduler_config.json files all go through it.
public enum SchedulerFactory {
    public static var classes: [SchedulerClass] {
        [
            .init(DDIMScheduler.self), .init(DDPMScheduler.self), .init(DPMSolverMultistepScheduler.self),
            .init(FlowMatchEulerDiscreteScheduler.self),
        ]
    }

    /// The class `run.sampler` / `--sampler` names.
    public static func type(samplerName: String) -> SchedulerClass? {
        classes.first { $0.samplerName == samplerName }
    }

    /// The scheduler `className` built from `config` (scheduler_config.json's keys; keys the class does not have are
    /// ignored, as diffusers' from_config does, so one set of keys serves every class). `file` names it in errors.
    public static func make(_ className: String, config: JSONObject, file: String) throws -> any NoiseScheduler {
        guard let type = classes.first(where: { $0.className == className }) else {
            throw ConfigError(file: file, key: "_class_name", "'\(className)' is not supported (expected one of: "
                + classes.map(\.className).joined(separator: ", ") + ")")
        }
        var keys = config
        keys["_class_name"] = .string(className)
        return try type.make(keys, file)
    }

    /// Reads a scheduler_config.json (or a directory holding one) and builds the scheduler its `_class_name` names.
    public static func load(from url: URL) throws -> any NoiseScheduler {
        var file = url
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue {
            file = url.appendingPathComponent("scheduler_config.json")
        }
        guard let data = FileManager.default.contents(atPath: file.path) else {
            throw ConfigError(file: file.path, "cannot read the file (missing or unreadable)")
        }
        guard case .object(let object)? = try? JSONValue.parse([UInt8](data)) else {
            throw ConfigError(file: file.path, "not a JSON object")
        }
        guard case .string(let name)? = object["_class_name"] else {
            throw ConfigError(file: file.path, key: "_class_name", "missing (expected the scheduler's class name)")
        }
        return try make(name, config: object, file: file.path)
    }
}

/// A scheduler class as the factory lists it: its names and how to build it from scheduler_config.json keys.
public struct SchedulerClass {
    public let className: String
    public let samplerName: String
    public let solvesFlow: Bool
    let make: (JSONObject, String) throws -> any NoiseScheduler

    init<S: NoiseScheduler>(_ type: S.Type) {
        (className, samplerName, solvesFlow) = (S.className, S.samplerName, S.solvesFlow)
        make = { keys, file in try S(try S.Config(keys, file: file)) }
    }
}
