import Datasets
import Foundation

/// A plain line chart as an image, for the course's figures (`dit plot`): axes with rounded ticks, one polyline per
/// series in its own colour, and a legend. Optionally the y axis is logarithmic (loss curves).
public enum LineChart {
    public struct Series: Sendable {
        public let name: String
        public let points: [(x: Double, y: Double)]
        public init(name: String, points: [(x: Double, y: Double)]) {
            self.name = name
            self.points = points
        }
    }

    /// Colours of the series in order (distinct on white).
    public static let palette: [(UInt8, UInt8, UInt8)] = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189),
                                                          (255, 127, 14), (23, 190, 207)]

    public static func render(_ series: [Series], width: Int = 640, height: Int = 400, title: String,
                              xLabel: String, yLabel: String, logY: Bool = false) throws -> RGBImage {
        let points = series.flatMap(\.points).filter { $0.x.isFinite && $0.y.isFinite && (!logY || $0.y > 0) }
        guard !points.isEmpty else { throw FigureError("nothing to plot (no finite\(logY ? ", positive" : "") values)") }
        let ty = { (y: Double) in logY ? log10(y) : y }
        var (x0, x1) = (points.map(\.x).min()!, points.map(\.x).max()!)
        var (y0, y1) = (points.map { ty($0.y) }.min()!, points.map { ty($0.y) }.max()!)
        if x1 == x0 { x1 = x0 + 1 }
        if y1 == y0 { (y0, y1) = (y0 - 0.5, y1 + 0.5) }
        let pad = (y1 - y0) * 0.05
        (y0, y1) = (y0 - pad, y1 + pad)
        let left = 64, right = 16, top = 24, bottom = 40
        let plotW = width - left - right, plotH = height - top - bottom
        guard plotW > 20, plotH > 20 else { throw FigureError("a chart needs at least \(left + right + 21)×\(top + bottom + 21) pixels") }
        var img = RGBImage(width: width, height: height)
        let px = { (x: Double) in left + Int((x - x0) / (x1 - x0) * Double(plotW - 1)) }
        let py = { (y: Double) in top + plotH - 1 - Int((ty(y) - y0) / (y1 - y0) * Double(plotH - 1)) }
        let grey: (UInt8, UInt8, UInt8) = (200, 200, 200), black: (UInt8, UInt8, UInt8) = (0, 0, 0)
        // Ticks: x at round steps; y at round steps, or at powers of ten on a log axis.
        for t in ticks(x0, x1) {
            let x = px(t)
            for y in top..<(top + plotH) { img[x, y] = grey }
            BitmapFont.draw(label(t), into: &img, x: x - label(t).count * 3, y: top + plotH + 6, color: black)
        }
        for t in ticks(y0, y1) {
            let value = logY ? pow(10, t) : t
            let y = top + plotH - 1 - Int((t - y0) / (y1 - y0) * Double(plotH - 1))
            for x in left..<(left + plotW) { img[x, y] = grey }
            BitmapFont.draw(label(value), into: &img, x: max(0, left - 6 - label(value).count * 6), y: y - 3, color: black)
        }
        for x in left..<(left + plotW) { img[x, top + plotH - 1] = black }
        for y in top..<(top + plotH) { img[left, y] = black }
        BitmapFont.draw(title, into: &img, x: left, y: 6, color: black)
        BitmapFont.draw(xLabel, into: &img, x: left + plotW / 2 - xLabel.count * 3, y: height - 14, color: black)
        BitmapFont.draw(yLabel + (logY ? " (log)" : ""), into: &img, x: 2, y: 6 + 10, color: black)
        for (n, s) in series.enumerated() {
            let color = palette[n % palette.count]
            let ok = s.points.filter { $0.x.isFinite && $0.y.isFinite && (!logY || $0.y > 0) }
            for (a, b) in zip(ok, ok.dropFirst()) { line(&img, px(a.x), py(a.y), px(b.x), py(b.y), color) }
            if ok.count == 1 { img[px(ok[0].x), py(ok[0].y)] = color }
            // Legend, top right.
            let ly = top + 6 + n * 12, lx = left + plotW - 8 - s.name.count * 6 - 18
            for x in lx..<(lx + 14) { img[x, ly + 3] = color; img[x, ly + 4] = color }
            BitmapFont.draw(s.name, into: &img, x: lx + 18, y: ly, color: black)
        }
        return img
    }

    /// About five round tick values in [lo, hi].
    static func ticks(_ lo: Double, _ hi: Double) -> [Double] {
        let raw = (hi - lo) / 5, magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? raw
        var t = ceil(lo / step) * step, out: [Double] = []
        while t <= hi + step * 1e-9 { out.append(t); t += step }
        return out
    }

    static func label(_ v: Double) -> String {
        if v == 0 { return "0" }
        if abs(v) >= 1e4 || abs(v) < 1e-3 { return String(format: "%.0e", v) }
        if v == v.rounded() { return String(Int(v)) }
        return String(format: abs(v) < 0.1 ? "%.3f" : "%.2f", v).replacingOccurrences(of: #"0+$"#, with: "", options: .regularExpression)
    }

    /// Bresenham, two pixels thick so lines survive downscaling.
    static func line(_ img: inout RGBImage, _ xa: Int, _ ya: Int, _ xb: Int, _ yb: Int, _ c: (UInt8, UInt8, UInt8)) {
        var (x, y) = (xa, ya)
        let dx = abs(xb - xa), dy = -abs(yb - ya), sx = xa < xb ? 1 : -1, sy = ya < yb ? 1 : -1
        var err = dx + dy
        while true {
            for (ox, oy) in [(0, 0), (0, 1)] where x + ox < img.width && y + oy < img.height && y + oy >= 0 && x >= 0 {
                img[x + ox, y + oy] = c
            }
            if x == xb && y == yb { break }
            let e2 = 2 * err
            if e2 >= dy { err += dy; x += sx }
            if e2 <= dx { err += dx; y += sy }
        }
    }
}

/// A figure that cannot be drawn as asked (nothing to plot, too small, no timesteps).
public struct FigureError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ message: String) { description = message }
}
