/// Tiles images into one grid image (row-major), with a gap of `padding` pixels in `background`; every cell is as
/// large as the largest image, and each image is scaled up by the integer factor `scale` (nearest neighbour), so
/// 32-pixel samples stay readable.
public func imageGrid(_ images: [RGBImage], columns: Int, scale: Int = 1, padding: Int = 2,
                      background: (UInt8, UInt8, UInt8) = (255, 255, 255)) -> RGBImage {
    let columns = max(1, min(columns, max(1, images.count)))
    let rows = max(1, (images.count + columns - 1) / columns)
    let scale = max(1, scale)
    let cellW = (images.map(\.width).max() ?? 1) * scale, cellH = (images.map(\.height).max() ?? 1) * scale
    var grid = RGBImage(width: columns * cellW + (columns + 1) * padding, height: rows * cellH + (rows + 1) * padding,
                        fill: background)
    for (i, img) in images.enumerated() {
        let ox = padding + (i % columns) * (cellW + padding), oy = padding + (i / columns) * (cellH + padding)
        for y in 0..<(img.height * scale) {
            for x in 0..<(img.width * scale) { grid[ox + x, oy + y] = img[x / scale, y / scale] }
        }
    }
    return grid
}
