"""Draw the SketchFind icon with PIL (the shapes of packaging/sketchfind.svg).

    python packaging/icons.py OUT_DIR

writes sketchfind.png (256 px), sketchfind-<N>.png for the hicolor sizes, sketchfind.ico
(Windows) and sketchfind.icns (macOS). The spec calls make_icons() at build time, so only the
SVG and the 256 px PNG are kept in the repository.
"""
from __future__ import annotations

import sys
from pathlib import Path

HICOLOR_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
BLUE, PAPER, INK, ORANGE = (47, 111, 179, 255), (251, 250, 245, 255), (34, 34, 34, 255), (224, 122, 31, 255)

# On a 256 x 256 canvas, as in sketchfind.svg.
SHOE = [(60, 70), (60, 150), (56, 172), (150, 172), (190, 170), (200, 160), (186, 146), (150, 134), (120, 112), (110, 70)]
TOP = [(60, 70), (110, 70)]
LACES = [[(84, 96), (104, 92)], [(84, 116), (106, 112)]]


def draw(size: int):
    """The icon at `size` px (drawn 4x larger, then downsampled for smooth edges)."""
    from PIL import Image, ImageDraw

    scale = 4 * size / 256
    big = 4 * size
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    pen = ImageDraw.Draw(image)

    def p(points):
        return [(x * scale, y * scale) for x, y in points]

    def line(points, width, colour):
        w = max(1, round(width * scale))
        pen.line(p(points), fill=colour, width=w, joint="curve")
        for x, y in p(points):  # round caps
            pen.ellipse((x - w / 2, y - w / 2, x + w / 2, y + w / 2), fill=colour)

    pen.rounded_rectangle((12 * scale, 12 * scale, 244 * scale, 244 * scale), radius=44 * scale, fill=BLUE)
    pen.rounded_rectangle((32 * scale, 32 * scale, 224 * scale, 224 * scale), radius=24 * scale, fill=PAPER)
    line(SHOE, 9, INK)
    line(TOP, 9, INK)
    for lace in LACES:
        line(lace, 6, INK)
    cx, cy, r, w = 170 * scale, 104 * scale, 36 * scale, 12 * scale
    pen.ellipse((cx - r - w / 2, cy - r - w / 2, cx + r + w / 2, cy + r + w / 2), outline=ORANGE, width=round(w))
    line([(196, 130), (226, 160)], 18, ORANGE)
    return image.resize((size, size), Image.Resampling.LANCZOS)


def make_icons(out_dir: str | Path) -> dict[str, Path]:
    """Write every icon file into out_dir; return {'png', 'ico', 'icns', 'svg', <size>: path}."""
    import shutil

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict = {}
    images = {}
    for size in HICOLOR_SIZES:
        images[size] = draw(size)
        paths[size] = out / f"sketchfind-{size}.png"
        images[size].save(paths[size], optimize=True)
    paths["png"] = out / "sketchfind.png"
    images[256].save(paths["png"], optimize=True)
    paths["ico"] = out / "sketchfind.ico"
    images[256].save(paths["ico"], sizes=[(s, s) for s in (16, 24, 32, 48, 64, 128, 256)])
    paths["icns"] = out / "sketchfind.icns"
    draw(1024).save(paths["icns"])
    paths["svg"] = out / "sketchfind.svg"
    shutil.copyfile(Path(__file__).with_name("sketchfind.svg"), paths["svg"])
    return paths


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    for key, path in make_icons(sys.argv[1]).items():
        print(key, path)
