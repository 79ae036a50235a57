/// Tiles images into one grid image (row-major), with a gap of `padding` pixels in `background`; every cell is as
/// large as the largest image, and each image is scaled up by the integer factor `scale` (nearest neighbour), so
/// 32-pixel samples stay readable. With `labels`, each image gets its label (e.g. the prompt) written below it in a
/// small bitmap font, wrapped to the cell's width.
public func imageGrid(_ images: [RGBImage], columns: Int, scale: Int = 1, padding: Int = 2,
                      background: (UInt8, UInt8, UInt8) = (255, 255, 255), labels: [String]? = nil) -> RGBImage {
    let columns = max(1, min(columns, max(1, images.count)))
    let rows = max(1, (images.count + columns - 1) / columns)
    let scale = max(1, scale)
    let cellW = (images.map(\.width).max() ?? 1) * scale, cellH = (images.map(\.height).max() ?? 1) * scale
    let textColumns = max(1, cellW / (BitmapFont.width + 1))
    let wrapped = labels.map { $0.map { BitmapFont.wrap($0, columns: textColumns) } }
    let labelH = wrapped.map { lines in (lines.map(\.count).max() ?? 0) * (BitmapFont.height + 2) + 2 } ?? 0
    let rowH = cellH + labelH
    var grid = RGBImage(width: columns * cellW + (columns + 1) * padding, height: rows * rowH + (rows + 1) * padding,
                        fill: background)
    for (i, img) in images.enumerated() {
        let ox = padding + (i % columns) * (cellW + padding), oy = padding + (i / columns) * (rowH + padding)
        if let lines = wrapped?[safe: i] {
            for (l, line) in lines.enumerated() {
                BitmapFont.draw(line, into: &grid, x: ox, y: oy + cellH + 2 + l * (BitmapFont.height + 2), color: (0, 0, 0))
            }
        }
        for y in 0..<(img.height * scale) {
            for x in 0..<(img.width * scale) { grid[ox + x, oy + y] = img[x / scale, y / scale] }
        }
    }
    return grid
}

extension Array {
    subscript(safe i: Int) -> Element? { indices.contains(i) ? self[i] : nil }
}
