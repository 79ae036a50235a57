// swift-tools-version: 6.0
import Foundation
import PackageDescription

// libtorch comes from a pip `torch` wheel; scripts/bootstrap.sh finds or installs one and writes its path to
// .deps/torch-prefix. TORCH_PREFIX in the environment wins over that file.
let packageDir = Context.packageDirectory
let torchPrefix: String = {
    if let env = Context.environment["TORCH_PREFIX"], !env.isEmpty { return env }
    let recorded = packageDir + "/.deps/torch-prefix"
    if let text = try? String(contentsOfFile: recorded, encoding: .utf8) {
        let path = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if !path.isEmpty { return path }
    }
    return packageDir + "/.deps/venv/lib/python3.11/site-packages/torch"
}()
let torchLib = torchPrefix + "/lib"
// A CUDA build of torch also needs its CUDA halves linked so that the CUDA kernels register.
let hasCUDA = FileManager.default.fileExists(atPath: torchLib + "/libtorch_cuda.so")
var torchLibraries: [LinkerSetting] = [.linkedLibrary("torch_cpu"), .linkedLibrary("c10")]
if hasCUDA {
    torchLibraries += [.linkedLibrary("torch_cuda"), .linkedLibrary("c10_cuda")]
}
// --no-as-needed keeps libtorch_cuda in the binary although no symbol of it is referenced directly (its CUDA
// kernels register when it loads). --allow-shlib-undefined lets a machine without the CUDA runtime libraries
// (libcudart, cuBLAS, ... from the nvidia-* wheels) link a binary that will run where they are.
// NCCL for data-parallel training on CUDA: compiled in when the nvidia-* packages beside torch carry the NCCL and
// CUDA runtime headers (c10d's ProcessGroupNCCL needs both; crt/ and nv/target come with
// `pip install "cuda-toolkit[crt,cccl]"`, which the CUDA wheel does not pull in). Without them multi-GPU runs use Gloo.
func nvidiaInclude(holding header: String) -> String? {
    let nvidia = (torchPrefix as NSString).deletingLastPathComponent + "/nvidia"
    let packages = (try? FileManager.default.contentsOfDirectory(atPath: nvidia)) ?? []
    return packages.sorted().map { "\(nvidia)/\($0)/include" }
        .first { FileManager.default.fileExists(atPath: "\($0)/\(header)") }
}
let ncclIncludes: [String] = {
    guard hasCUDA, let nccl = nvidiaInclude(holding: "nccl.h"),
          let cuda = nvidiaInclude(holding: "crt/host_config.h"),
          FileManager.default.fileExists(atPath: cuda + "/cuda_runtime_api.h"),
          FileManager.default.fileExists(atPath: cuda + "/nv/target") else { return [] }
    return ["-DCTORCH_WITH_NCCL", "-I\(nccl)", "-I\(cuda)"]
}()
let linkFlags = ["-L\(torchLib)", "-Xlinker", "-rpath", "-Xlinker", torchLib]
    + (hasCUDA ? ["-Xlinker", "--no-as-needed", "-Xlinker", "--allow-shlib-undefined"] : [])

let package = Package(
    name: "DiTKit",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "Torch", targets: ["Torch"]),
        .library(name: "DiTKit", targets: ["Core", "Tokenizers", "Schedulers", "Models", "Datasets", "Recipe", "Prepare",
                                          "Training", "Inference", "Course"]),
        .executable(name: "dit", targets: ["dit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        // dit lab's local web server (SwiftNIO underneath).
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.0"),
    ],
    // The layers, lowest first; each target imports only targets listed before it (README, "目录结构").
    // `make test` builds with --explicit-target-dependency-import-check, so an undeclared (upward) import fails.
    targets: [
        // Core: what every layer needs and nothing of torch: the strict JSON reader, atomic files, file and config
        // errors, the one config validator, Hugging Face config files, fingerprints.
        .target(name: "Core"),
        .target(
            name: "CTorch",
            cxxSettings: [
                .unsafeFlags([
                    "-I\(torchPrefix)/include",
                    "-I\(torchPrefix)/include/torch/csrc/api/include",
                    "-O2", "-Wno-deprecated-declarations",
                ] + ncclIncludes),
                // torch ships c10d's headers but not Gloo's: the few Gloo types they name are declared here.
                .headerSearchPath("gloo-declarations"),
            ],
            linkerSettings: torchLibraries + [.unsafeFlags(linkFlags)]
        ),
        .systemLibrary(name: "CPNG", path: "Sources/CPNG"),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        // Debian's libjpeg-turbo behind a small C shim whose errors come back as messages (libjpeg's exit() on error).
        .target(name: "CJPEG", linkerSettings: [.linkedLibrary("jpeg")]),
        // The engine: tensors, autograd, nn, optim, safetensors, c10d.
        .target(name: "Torch", dependencies: ["Core", "CTorch"]),
        // The model families, each mapping 1:1 to diffusers / transformers classes and files.
        .target(name: "Tokenizers", dependencies: ["Core", "Torch", "CZlib"]),
        .target(name: "Schedulers", dependencies: ["Core", "Torch"]),
        .target(name: "Models", dependencies: ["Core", "Torch"]),
        // Images in and out: PNG/JPEG codecs, imagefolder and COCO readers, resize and crop, labelled grids.
        .target(name: "Datasets", dependencies: ["Core", "Torch", "CPNG", "CJPEG"]),
        // The contract prepare, train and generate share: the YAML config and its rules, one factory for models,
        // schedulers and text encoders, the checkpoint and cache formats, the text-to-image sampling pipeline.
        .target(name: "Recipe", dependencies: ["Datasets", "Models", "Schedulers", "Tokenizers", "Core", "Torch",
                                               .product(name: "Yams", package: "Yams")]),
        // Three peers over the recipe: building a cache │ the training loop │ using a trained run.
        .target(name: "Prepare", dependencies: ["Recipe", "Datasets", "Models", "Tokenizers", "Core", "Torch"]),
        .target(name: "Training", dependencies: ["Recipe", "Datasets", "Models", "Schedulers", "Core", "Torch"]),
        .target(name: "Inference", dependencies: ["Recipe", "Datasets", "Models", "Schedulers", "Tokenizers", "Core",
                                                  "Torch"]),
        // The course's own material: figures (charts, noise strips) and the shapes dataset with its judge.
        .target(name: "Course", dependencies: ["Inference", "Recipe", "Datasets", "Schedulers", "Core", "Torch"]),
        // dit lab: a local web page over the runs (curves, samples) and a playground for a trained model.
        .target(name: "Lab", dependencies: ["Inference", "Training", "Recipe", "Datasets", "Core", "Torch",
                                            .product(name: "Hummingbird", package: "hummingbird")]),
        .executableTarget(
            name: "dit",
            dependencies: ["Lab", "Course", "Inference", "Training", "Prepare", "Recipe", "Datasets", "Models", "Schedulers",
                           "Core", "Torch",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .executableTarget(name: "dit-bench", dependencies: ["Models", "Torch"], path: "benchmarks/DiTStepBench"),
        // `make fuzz`: the parsers a user's file reaches, fed seeded mutations (Tests/FuzzTargets), and its driver.
        .target(name: "FuzzTargets", dependencies: ["Recipe", "Datasets", "Models", "Schedulers", "Tokenizers", "Core",
                                                    "Torch"], path: "Tests/FuzzTargets"),
        .executableTarget(name: "dit-fuzz", dependencies: ["FuzzTargets", "Torch"], path: "Tests/Fuzz"),
        // Fixture paths, tensor comparison, temporary directories and the reference Python, for both test targets.
        .target(name: "TestSupport", dependencies: ["Core", "Torch"], path: "Tests/TestSupport"),
        .testTarget(name: "TorchTests", dependencies: ["Core", "Torch", "TestSupport"], path: "Tests/TorchTests"),
        // Runs the `dit` executable that `swift build --build-tests` builds beside the test bundle.
        // Also the `dit` executable's module: the docs test parses every `dit` command line in the docs with it.
        .testTarget(name: "DiTKitTests", dependencies: ["Course", "Inference", "Training", "Prepare", "Recipe",
                                                        "Datasets", "Models", "Schedulers", "Tokenizers", "Core", "Torch",
                                                        "TestSupport", "FuzzTargets", "dit",
                                                        .product(name: "ArgumentParser", package: "swift-argument-parser")],
                    path: "Tests/DiTKitTests"),
    ],
    cxxLanguageStandard: .cxx20
)
