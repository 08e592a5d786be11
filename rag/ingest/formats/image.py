"""Photos and scans (.png, .jpg, .tif): OCR text; each frame of a multi-page TIFF is a page."""
from __future__ import annotations

import io
import warnings

from rag.errors import FileFailed
from rag.ingest.formats import ocr
from rag.ingest.load import Context, Unit

MAX_PIXELS = 80_000_000  # about an A3 page at 600 dpi; more is a decompression bomb, not a scan
MAX_FRAMES = 500


def open_image(data: bytes):
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            image.size  # noqa: B018  the header is read here; the pixels only when used
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise FileFailed(f"image larger than {MAX_PIXELS // 1_000_000} megapixels (a decompression bomb?)") from None
    except Image.UnidentifiedImageError:
        raise FileFailed("unreadable image (not a PNG, JPEG or TIFF this reader knows)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise FileFailed(f"unreadable image ({str(exc)[:120]})") from None
    return image


def load(data: bytes, context: Context) -> list[Unit]:
    from PIL import ImageSequence

    image = open_image(data)
    frames = getattr(image, "n_frames", 1)
    if frames > MAX_FRAMES:
        raise FileFailed(f"{frames} frames; at most {MAX_FRAMES} are read")
    units = []
    for number, frame in enumerate(ImageSequence.Iterator(image), start=1):
        try:
            text = ocr.read(frame)
        except (OSError, ValueError) as exc:  # a truncated file fails when its pixels are decoded
            raise FileFailed(f"unreadable image ({str(exc)[:120]})") from None
        units.append(Unit(text, page=number if frames > 1 else None, ocr=True))
        context.heartbeat()
    return units
