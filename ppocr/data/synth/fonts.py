"""Real TrueType fonts found on this machine, so synthetic text looks like printed text without shipping fonts.

matplotlib always carries the DejaVu family; Debian font packages under /usr/share/fonts add more when installed.
"""
from __future__ import annotations

import functools
import glob
import logging
import os
from typing import FrozenSet, Iterable, List, Optional, Sequence

from fontTools.ttLib import TTFont
from PIL import ImageFont

logger = logging.getLogger(__name__)

SYSTEM_FONT_DIRS = ("/usr/share/fonts",)
FONT_EXTENSIONS = (".ttf", ".otf", ".ttc")
# Common Han characters: a font holding all of them can render ordinary Chinese text.
CJK_PROBE = "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年"


def _matplotlib_fonts() -> List[str]:
    try:
        import matplotlib
    except ImportError:
        return []
    return sorted(glob.glob(os.path.join(matplotlib.get_data_path(), "fonts", "ttf", "DejaVu*.ttf")))


def _system_fonts() -> List[str]:
    found = []
    for root in SYSTEM_FONT_DIRS:
        for dirpath, _, filenames in os.walk(root):
            found.extend(os.path.join(dirpath, name) for name in filenames if name.lower().endswith(FONT_EXTENSIONS))
    return sorted(found)


@functools.lru_cache(maxsize=None)
def _codepoints(path: str) -> FrozenSet[int]:
    """Characters the font maps to a glyph; empty when the file cannot be read."""
    try:
        with TTFont(path, fontNumber=0, lazy=True) as font:
            cmap = font.getBestCmap() or {}
        ImageFont.truetype(path, 16)
    except Exception as exc:  # any unreadable font is skipped, whatever the parser raises
        logger.debug("skipping font %s: %s", path, exc)
        return frozenset()
    return frozenset(cmap)


@functools.lru_cache(maxsize=1)
def list_fonts() -> List[str]:
    """Loadable fonts that cover printable ASCII, matplotlib's copies first, each file name once."""
    seen = set()
    fonts = []
    ascii_points = {ord(ch) for ch in map(chr, range(33, 127))}
    for path in _matplotlib_fonts() + _system_fonts():
        name = os.path.basename(path)
        if name in seen:
            continue
        points = _codepoints(path)
        if not points:
            continue
        seen.add(name)
        if ascii_points <= points:
            fonts.append(path)
    return fonts


def font_covers(font_path: str, chars: Iterable[str]) -> bool:
    """True when the font has a glyph for every non-space character."""
    points = _codepoints(font_path)
    return all(ord(ch) in points for ch in chars if not ch.isspace())


def missing_chars(font_path: str, chars: Iterable[str]) -> List[str]:
    points = _codepoints(font_path)
    return sorted({ch for ch in chars if not ch.isspace() and ord(ch) not in points})


def fonts_for_charset(chars: Sequence[str], fonts: Optional[Sequence[str]] = None) -> List[str]:
    """Fonts able to draw every character of ``chars``; a clear error when none can."""
    candidates = list(fonts) if fonts else list_fonts() + _cjk_fonts()
    usable = [path for path in dict.fromkeys(candidates) if font_covers(path, chars)]
    if not usable:
        if not candidates:
            raise FileNotFoundError("no usable TrueType font found (install matplotlib or a Debian fonts package)")
        sample = "".join(missing_chars(candidates[0], chars)[:10])
        raise ValueError(f"no font among {len(candidates)} covers the charset (e.g. {os.path.basename(candidates[0])} "
                         f"lacks {sample!r}); pass fonts= or install a font that has them")
    return usable


@functools.lru_cache(maxsize=1)
def _cjk_fonts() -> List[str]:
    candidates = _matplotlib_fonts() + _system_fonts()
    return [path for path in candidates if font_covers(path, CJK_PROBE)]


def find_cjk_font() -> Optional[str]:
    """A font able to render common Chinese text, or None when the machine has none."""
    fonts = _cjk_fonts()
    return fonts[0] if fonts else None


@functools.lru_cache(maxsize=512)
def load_font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)

