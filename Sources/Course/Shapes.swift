import Datasets
import Foundation

// The built-in captioned-shapes data: one coloured shape on a black background, captioned with its colour, kind,
// size and position ("a small red circle at the top left"). Small enough to learn on a laptop CPU in minutes,
// compositional enough to test whether a model follows its caption (6 colours × 4 shapes × 9 positions × 2 sizes).

public enum ShapeColor: String, CaseIterable, Codable, Sendable {
    case red, green, blue, yellow, purple, orange
    public var rgb: (UInt8, UInt8, UInt8) {
        switch self {
        case .red: (230, 40, 40)
        case .green: (40, 190, 60)
        case .blue: (50, 90, 240)
        case .yellow: (240, 220, 40)
        case .purple: (170, 60, 210)
        case .orange: (250, 140, 20)
        }
    }
    public var chinese: String {
        switch self {
        case .red: "红色"
        case .green: "绿色"
        case .blue: "蓝色"
        case .yellow: "黄色"
        case .purple: "紫色"
        case .orange: "橙色"
        }
    }
}

public enum ShapeKind: String, CaseIterable, Codable, Sendable {
    case circle, square, triangle, cross
    public var chinese: String {
        switch self {
        case .circle: "圆形"
        case .square: "正方形"
        case .triangle: "三角形"
        case .cross: "十字"
        }
    }
}

public enum ShapeSize: String, CaseIterable, Codable, Sendable {
    case small, large
    public var chinese: String { self == .small ? "小" : "大" }
    /// Half-extent as a fraction of a grid cell.
    var radius: Double { self == .small ? 0.3 : 0.45 }
}

/// One of the 3×3 positions.
public struct GridPosition: Hashable, Codable, Sendable, CaseIterable {
    public let row: Int, column: Int
    public init(row: Int, column: Int) {
        self.row = row
        self.column = column
    }
    public static let allCases = (0..<3).flatMap { r in (0..<3).map { GridPosition(row: r, column: $0) } }

    /// "top left", "center", "bottom right", ...
    public var name: String {
        let rows = ["top", "middle", "bottom"], columns = ["left", "center", "right"]
        if row == 1 && column == 1 { return "center" }
        return "\(rows[row]) \(columns[column])"
    }
    public var englishPhrase: String { row == 1 && column == 1 ? "in the center" : "at the \(name)" }
    public var chinese: String {
        ["左上角", "上方中间", "右上角", "左侧中间", "正中间", "右侧中间", "左下角", "下方中间", "右下角"][row * 3 + column]
    }
    public init?(name: String) {
        guard let p = GridPosition.allCases.first(where: { $0.name == name }) else { return nil }
        self = p
    }
}

/// What one image shows, and its caption.
public struct ShapeAttributes: Hashable, Codable, Sendable {
    public var color: ShapeColor
    public var shape: ShapeKind
    public var position: GridPosition
    public var size: ShapeSize

    public init(color: ShapeColor, shape: ShapeKind, position: GridPosition, size: ShapeSize) {
        self.color = color
        self.shape = shape
        self.position = position
        self.size = size
    }

    public static var all: [ShapeAttributes] {
        ShapeColor.allCases.flatMap { c in
            ShapeKind.allCases.flatMap { s in
                GridPosition.allCases.flatMap { p in ShapeSize.allCases.map { ShapeAttributes(color: c, shape: s, position: p, size: $0) } }
            }
        }
    }

    public func caption(chinese: Bool = false) -> String {
        chinese ? "\(position.chinese)的一个\(size.chinese)\(color.chinese)\(shape.chinese)"
            : "a \(size.rawValue) \(color.rawValue) \(shape.rawValue) \(position.englishPhrase)"
    }

    /// Parses an English caption written by `caption()`.
    public init?(caption: String) {
        let words = caption.lowercased().split(separator: " ").map(String.init)
        guard words.count >= 5, words[0] == "a", let size = ShapeSize(rawValue: words[1]),
              let color = ShapeColor(rawValue: words[2]), let shape = ShapeKind(rawValue: words[3]) else { return nil }
        let rest = words.dropFirst(4).joined(separator: " ")
        let name = rest == "in the center" ? "center" : rest.hasPrefix("at the ") ? String(rest.dropFirst(7)) : ""
        guard let position = GridPosition(name: name) else { return nil }
        self.init(color: color, shape: shape, position: position, size: size)
    }

    /// Whether pixel centre (x + ½, y + ½) of a `side`-pixel image lies inside the shape.
    func covers(x: Int, y: Int, side: Int) -> Bool {
        let cell = Double(side) / 3
        let cx = (Double(position.column) + 0.5) * cell, cy = (Double(position.row) + 0.5) * cell
        return ShapeAttributes.inside(shape, dx: Double(x) + 0.5 - cx, dy: Double(y) + 0.5 - cy, r: size.radius * cell)
    }

    static func inside(_ shape: ShapeKind, dx: Double, dy: Double, r: Double) -> Bool {
        switch shape {
        case .circle: return dx * dx + dy * dy <= r * r
        case .square: return abs(dx) <= r * 0.85 && abs(dy) <= r * 0.85
        case .triangle: return dy >= -r && dy <= r && abs(dx) <= (dy + r) / 2  // apex up
        case .cross: return (abs(dx) <= r && abs(dy) <= r * 0.4) || (abs(dy) <= r && abs(dx) <= r * 0.4)
        }
    }

    public func render(side: Int = 32) -> RGBImage {
        var img = RGBImage(width: side, height: side, fill: (0, 0, 0))
        for y in 0..<side { for x in 0..<side where covers(x: x, y: y, side: side) { img[x, y] = color.rgb } }
        return img
    }
}
