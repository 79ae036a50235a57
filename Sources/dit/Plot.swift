import ArgumentParser
import Core
import Course
import Datasets
import Foundation
import Recipe
import Schedulers
import Torch
import Training

/// `dit plot logs RUN --tag train/loss --output loss.png`, `dit plot schedules --output schedules.png`: the course's
/// figures, drawn by the project from real runs and real schedulers.
struct Plot: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Draw a figure: a TensorBoard scalar of a run, or the noise schedules.",
        subcommands: [PlotLogs.self, PlotSchedules.self])
}

struct PlotLogs: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "logs", abstract: "Plot scalars a run logged (train/loss, train/lr, ...).")

    @Argument(help: "A run directory (its logs/ is read) or a folder of event files.") var path: String
    @Option(help: "Scalar tag to plot (repeatable).") var tag: [String] = ["train/loss"]
    @Option(help: "Where to write the chart (PNG).") var output: String
    @Flag(help: "Logarithmic y axis.") var logY = false
    @Option(help: "Average over this many logged points (0: none), so the trend shows through the noise.") var smooth = 0

    func run() throws {
        let chartURL = try OutputLocation.file(output, option: "--output")
        var dir = URL(fileURLWithPath: path)
        if FileManager.default.fileExists(atPath: dir.appendingPathComponent("logs").path) { dir = dir.appendingPathComponent("logs") }
        let scalars = try TensorBoardReader.scalars(in: dir)
        let series = try tag.map { name -> LineChart.Series in
            guard let points = scalars[name], !points.isEmpty else {
                throw ValidationError("no scalar '\(name)' in \(dir.path); it has: \(scalars.keys.sorted().joined(separator: ", "))")
            }
            // A resumed run logs some steps twice: keep the last value of each step.
            let byStep = Dictionary(points.map { ($0.step, $0.value) }, uniquingKeysWith: { _, last in last })
            var xy = byStep.sorted { $0.key < $1.key }.map { (x: Double($0.key), y: $0.value) }
            if smooth > 1 {
                xy = xy.indices.map { i in
                    let window = xy[max(0, i - smooth + 1)...i]
                    return (x: xy[i].x, y: window.map(\.y).reduce(0, +) / Double(window.count))
                }
            }
            return LineChart.Series(name: name, points: xy)
        }
        let chart = try LineChart.render(series, title: URL(fileURLWithPath: path).lastPathComponent, xLabel: "step",
                                         yLabel: tag.count == 1 ? tag[0] : "value", logY: logY)
        try PNG.write(chart, to: chartURL)
        print("wrote \(output): " + series.map { "\($0.name) (\($0.points.count) points)" }.joined(separator: ", "))
    }
}

struct PlotSchedules: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "schedules",
                                                    abstract: "Plot alphas_cumprod over t for the beta schedules (diffusers' DDPM, 1000 steps).")

    @Option(help: "Where to write the chart (PNG).") var output: String

    func run() throws {
        let chartURL = try OutputLocation.file(output, option: "--output")
        var series: [LineChart.Series] = []
        for name in TrainConfig.betaSchedules {
            var process = TrainConfig.Scheduler()
            process.betaSchedule = name
            guard let ddpm = try Components.trainingScheduler(process, pixelSpace: true) as? any DDPMFamilyScheduler else {
                continue
            }
            let values = try ddpm.alphasCumprod.to(.float64).toArray(Double.self)
            series.append(LineChart.Series(name: name, points: values.enumerated().map { (x: Double($0.offset), y: $0.element) }))
        }
        // Flow matching's share of signal at σ = t/1000, as an ᾱ: (1−σ)² / ((1−σ)² + σ²).
        series.append(LineChart.Series(name: "flow", points: (0..<1000).map { t in
            let s = Double(t) / 1000
            return (x: Double(t), y: (1 - s) * (1 - s) / ((1 - s) * (1 - s) + s * s))
        }))
        let chart = try LineChart.render(series, title: "alphas_cumprod: how much of x0 is left at step t",
                                         xLabel: "t", yLabel: "alpha bar")
        try PNG.write(chart, to: chartURL)
        print("wrote \(output): " + series.map(\.name).joined(separator: ", "))
    }
}
