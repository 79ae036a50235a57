import Datasets
import Foundation

/// Reads colour, kind, position and size back from a shapes image — the deterministic judge of `dit eval`.
/// It takes the largest bright connected region, the palette colour nearest its mean, the grid cell of its box
/// centre, and the (kind, size) whose ideal rendering at that centre overlaps it best.
public enum ShapesAnalyzer {
    /// Attributes found in `image`, or nil when there is no shape at all.
    public static func analyze(_ image: RGBImage) -> ShapeAttributes? {
        let w = image.width, h = image.height
        var mask = [Bool](repeating: false, count: w * h)
        for y in 0..<h {
            for x in 0..<w {
                let (r, g, b) = image[x, y]
                mask[y * w + x] = max(r, max(g, b)) > 90
            }
        }
        guard let component = largestComponent(mask, w, h), component.count >= 3 else { return nil }
        var sum = (0.0, 0.0, 0.0)
        var minX = w, maxX = 0, minY = h, maxY = 0
        for i in component {
            let (x, y) = (i % w, i / w)
            let (r, g, b) = image[x, y]
            sum = (sum.0 + Double(r), sum.1 + Double(g), sum.2 + Double(b))
            minX = min(minX, x); maxX = max(maxX, x); minY = min(minY, y); maxY = max(maxY, y)
        }
        let n = Double(component.count)
        let mean = (sum.0 / n, sum.1 / n, sum.2 / n)
        let color = ShapeColor.allCases.min { distance($0.rgb, mean) < distance($1.rgb, mean) }!
        let cx = Double(minX + maxX + 1) / 2, cy = Double(minY + maxY + 1) / 2
        let cell = Double(w) / 3, cellY = Double(h) / 3
        let position = GridPosition(row: min(2, max(0, Int(cy / cellY))), column: min(2, max(0, Int(cx / cell))))
        let inComponent = Set(component)
        var best: (ShapeKind, ShapeSize, Double) = (.circle, .small, -1)
        // Half-pixel shifts of the template absorb the rounding of the box centre.
        for kind in ShapeKind.allCases {
            for size in ShapeSize.allCases {
                for (ox, oy) in [(0.0, 0.0), (-0.5, 0), (0.5, 0), (0, -0.5), (0, 0.5)] {
                    let iou = overlap(kind, size.radius * cell, cx + ox, cy + oy, inComponent, component.count, w, h)
                    if iou > best.2 { best = (kind, size, iou) }
                }
            }
        }
        return ShapeAttributes(color: color, shape: best.0, position: position, size: best.1)
    }

    /// Intersection over union of the ideal shape at (cx, cy) and the detected region.
    static func overlap(_ kind: ShapeKind, _ r: Double, _ cx: Double, _ cy: Double, _ region: Set<Int>, _ count: Int,
                        _ w: Int, _ h: Int) -> Double {
        var intersection = 0, union = count
        let x0 = max(0, Int(cx - r) - 1), x1 = min(w - 1, Int(cx + r) + 1)
        let y0 = max(0, Int(cy - r) - 1), y1 = min(h - 1, Int(cy + r) + 1)
        guard x0 <= x1 && y0 <= y1 else { return 0 }
        for y in y0...y1 {
            for x in x0...x1 where ShapeAttributes.inside(kind, dx: Double(x) + 0.5 - cx, dy: Double(y) + 0.5 - cy, r: r) {
                if region.contains(y * w + x) { intersection += 1 } else { union += 1 }
            }
        }
        return Double(intersection) / Double(union)
    }

    static func distance(_ a: (UInt8, UInt8, UInt8), _ b: (Double, Double, Double)) -> Double {
        let d = (Double(a.0) - b.0, Double(a.1) - b.1, Double(a.2) - b.2)
        return d.0 * d.0 + d.1 * d.1 + d.2 * d.2
    }

    /// Pixel indices of the largest 4-connected true region.
    static func largestComponent(_ mask: [Bool], _ w: Int, _ h: Int) -> [Int]? {
        var seen = [Bool](repeating: false, count: mask.count)
        var best: [Int] = []
        for start in mask.indices where mask[start] && !seen[start] {
            var stack = [start], component: [Int] = []
            seen[start] = true
            while let i = stack.popLast() {
                component.append(i)
                let (x, y) = (i % w, i / w)
                for (nx, ny) in [(x - 1, y), (x + 1, y), (x, y - 1), (x, y + 1)] where nx >= 0 && ny >= 0 && nx < w && ny < h {
                    let j = ny * w + nx
                    if mask[j] && !seen[j] { seen[j] = true; stack.append(j) }
                }
            }
            if component.count > best.count { best = component }
        }
        return best.isEmpty ? nil : best
    }
}
