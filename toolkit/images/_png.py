"""PNG bytes that depend on the pixels only, and the placeholder shown when there is no crop."""

from __future__ import annotations

import io

__all__ = ["png_bytes", "placeholder_png", "PLACEHOLDER_WORDS", "BACKGROUND"]

#: Grey of the placeholder and of the margins around a letterboxed photo.
BACKGROUND = (217, 217, 217)
_SILHOUETTE = (196, 196, 196)
_BORDER = (180, 180, 180)
_INK = (85, 85, 85)

#: What a placeholder says, per status.
PLACEHOLDER_WORDS = {
    "no-image-root": "no image\nroot",
    "no-uri": "no URI",
    "missing": "missing",
    "unreadable": "unreadable",
}


def png_bytes(image) -> bytes:
    """``image`` as PNG with fixed options and no ancillary chunks (no time, ICC, dpi, EXIF)."""
    # Crops inherit the photo's info (ICC profile, dpi, EXIF), which PIL would write out.
    image.info = {}
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=6, optimize=False)
    return buffer.getvalue()


def _fitting_font(draw, text: str, max_width: float, max_height: float, start: int):
    from PIL import ImageFont

    for points in range(start, 5, -1):
        font = ImageFont.load_default(size=points)
        left, top, right, bottom = draw.multiline_textbbox((0, 0), text, font=font,
                                                           align="center", spacing=1)
        if right - left <= max_width and bottom - top <= max_height:
            return font
    return None


def placeholder_png(status: str, size: int) -> bytes:
    """A ``size`` x ``size`` grey square with a head-and-shoulders outline and why, in words."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (size, size), BACKGROUND)
    draw = ImageDraw.Draw(image)
    # The silhouette fills the upper part; the words go below it.
    head = size * 0.14
    cx, cy = size / 2.0, size * 0.27
    draw.ellipse((cx - head, cy - head, cx + head, cy + head), fill=_SILHOUETTE)
    # The upper half of an ellipse: shoulders ending flat at 0.65 of the height.
    draw.chord((cx - 2.3 * head, cy + 1.15 * head, cx + 2.3 * head, cy + 4.3 * head), 180, 360,
               fill=_SILHOUETTE)
    draw.rectangle((0, 0, size - 1, size - 1), outline=_BORDER)
    text = PLACEHOLDER_WORDS.get(status, status)
    font = _fitting_font(draw, text, 0.9 * size, 0.3 * size, max(6, size // 7))
    if font is not None:
        draw.multiline_text((cx, size * 0.82), text, fill=_INK, font=font, anchor="mm",
                            align="center", spacing=1)
    return png_bytes(image)
