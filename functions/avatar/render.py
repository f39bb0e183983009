"""Drawing avatars with Pillow: pure functions of (name, size, type), so the same inputs give the same bytes."""
from __future__ import annotations

import colorsys
import hashlib
import io
import re

from PIL import Image, ImageDraw

from core import validation
from core.errors import invalid

TYPES = ("github", "identicon")
MIN_SIZE, MAX_SIZE, DEFAULT_SIZE = 16, 512, 128
NAME = re.compile(r"[A-Za-z0-9_.@+-]{1,128}")
BACKGROUND = (240, 240, 240)


def check(name, size, kind) -> tuple[str, int, str]:
    """Validated (name, size, type), or invalid_request naming what is wrong."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise invalid("avatar names are 1-128 characters of A-Z a-z 0-9 _ . @ + -")
    size = validation.integer(size, "size", minimum=MIN_SIZE, maximum=MAX_SIZE)
    if not isinstance(kind, str) or kind not in TYPES:
        raise invalid(f"type must be one of {', '.join(TYPES)}")
    return name, size, kind


def render(name: str, size: int, kind: str) -> bytes:
    """The PNG bytes of the avatar (call ``check`` first)."""
    digest = hashlib.sha256(f"{kind}:{name}".encode()).digest()
    image = _github(digest, size) if kind == "github" else _identicon(digest, size)
    out = io.BytesIO()
    # fixed encoder settings and no metadata chunks: the bytes depend only on the pixels
    image.save(out, format="PNG", optimize=False, compress_level=9)
    return out.getvalue()


def _colour(byte_hue: int, byte_sat: int, lightness: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hls_to_rgb(byte_hue / 255, lightness, 0.45 + 0.35 * byte_sat / 255)
    return round(r * 255), round(g * 255), round(b * 255)


def _edges(size: int, cells: int) -> list[int]:
    """Integer cell boundaries inside a margin, mirror images of each other so the grid is exactly symmetric."""
    margin = size // 12
    inner = size - 2 * margin
    half = [margin + inner * i // cells for i in range(cells // 2 + 1)]
    return half + [size - edge for edge in reversed(half[: cells + 1 - len(half)])]


def _github(digest: bytes, size: int) -> Image.Image:
    """GitHub's style: a 5x5 grid mirrored left-right, one colour on a light background."""
    image = Image.new("RGB", (size, size), BACKGROUND)
    draw = ImageDraw.Draw(image)
    colour = _colour(digest[0], digest[1], 0.5)
    edges = _edges(size, 5)
    bits = int.from_bytes(digest[2:6], "big")
    for row in range(5):
        for col in range(3):
            if bits >> (row * 3 + col) & 1:
                for c in {col, 4 - col}:
                    draw.rectangle([edges[c], edges[row], edges[c + 1] - 1, edges[row + 1] - 1], fill=colour)
    return image


# each identicon cell is one of these shapes, in unit-square coordinates
_SHAPES = (
    [(0, 0), (1, 0), (1, 1), (0, 1)],            # full square
    [(0, 0), (1, 0), (0, 1)],                    # triangles, four ways
    [(0, 0), (1, 0), (1, 1)],
    [(1, 0), (1, 1), (0, 1)],
    [(0, 0), (1, 1), (0, 1)],
    [(0.5, 0), (1, 0.5), (0.5, 1), (0, 0.5)],    # diamond
    [(0, 0), (1, 0), (1, 0.5), (0, 0.5)],        # half bars
    [(0, 0), (0.5, 0), (0.5, 1), (0, 1)],
)


def _identicon(digest: bytes, size: int) -> Image.Image:
    """A 6x6 quilt of triangles, bars and diamonds in two colours, mirrored both ways (four-fold symmetry)."""
    colours = (_colour(digest[0], digest[1], 0.42), _colour((digest[0] + 96) % 256, digest[2], 0.62))
    # draw the top-left quadrant, then mirror the pixels: polygons do not rasterise symmetrically by themselves
    half = (size + 1) // 2
    quadrant = Image.new("RGB", (half, half), (255, 255, 255))
    draw = ImageDraw.Draw(quadrant)
    margin = size // 12
    edges = [margin + (half - margin) * i // 3 for i in range(4)]
    for row in range(3):
        for col in range(3):
            byte = digest[3 + row * 3 + col]
            if byte % 5 == 0:
                continue  # some blank cells give the figure its holes
            shape, colour = _SHAPES[byte % len(_SHAPES)], colours[(byte >> 3) & 1]
            x0, x1, y0, y1 = edges[col], edges[col + 1] - 1, edges[row], edges[row + 1] - 1
            draw.polygon([(x0 + px * (x1 - x0), y0 + py * (y1 - y0)) for px, py in shape], fill=colour)
    image = Image.new("RGB", (size, size))
    # for an odd size the middle row and column are shared by both halves (they are the quadrant's last ones)
    image.paste(quadrant, (0, 0))
    image.paste(quadrant.transpose(Image.Transpose.FLIP_LEFT_RIGHT), (size - half, 0))
    image.paste(quadrant.transpose(Image.Transpose.FLIP_TOP_BOTTOM), (0, size - half))
    image.paste(quadrant.transpose(Image.Transpose.ROTATE_180), (size - half, size - half))
    return image
