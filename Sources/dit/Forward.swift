import ArgumentParser
import Core
import Foundation
import Models
import Torch

/// `dit forward MODEL_DIR --inputs IN.safetensors --output OUT.safetensors`: one forward pass of any supported
/// Hugging Face model directory, with tensors named as the Python forward's arguments.
struct Forward: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a model directory on named inputs and write its outputs (for parity checks).",
        discussion: """
            PixArtTransformer2DModel: hidden_states, timestep, [encoder_hidden_states, encoder_attention_mask, \
            resolution, aspect_ratio] -> output
            DiTTransformer2DModel: hidden_states, timestep, class_labels -> output
            AutoencoderKL: sample -> latent_mean, latent_logvar, decoded (decode of the mean)
            CLIPTextModel / BertModel: input_ids, [attention_mask, token_type_ids] -> last_hidden_state, pooler_output
            """)

    @Argument(help: "A diffusers or transformers model directory (config.json + safetensors), or a repo id in the local Hugging Face cache.")
    var modelDir: String
    @Option(help: "Input tensors (safetensors), named as the Python forward's arguments.")
    var inputs: String
    @Option(help: "Where to write the outputs (safetensors).")
    var output: String
    @OptionGroup var device: DeviceOptions

    func run() throws {
        try DevicePreflight.check(device.device)
        let outputURL = try OutputLocation.file(output, option: "--output")
        let model = try AnyModel.load(from: try ModelLocation.resolve(modelDir, key: "MODEL_DIR"), device: device.device)
        let tensors = try SafeTensors.load(inputs)
        let outputs = try model.forward(tensors, device: device.device)
        try SafeTensors.save(try outputs.mapValues { try $0.to(.cpu).contiguous() },
                             metadata: ["model": model.name, "source": "dit forward"], to: outputURL.path)
        let shapes = outputs.keys.sorted().map { "\($0) \(outputs[$0]!.shape)" }.joined(separator: ", ")
        print("\(model.name): wrote \(shapes) to \(output)")
    }
}
