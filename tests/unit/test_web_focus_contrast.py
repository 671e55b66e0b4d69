"""The focus ring of the web pages stands out (WCAG 1.4.11: 3:1) on every background it can sit on: the light
page, cards, table heads, notices and badges with --focus, the dark top bar (and its current and hovered
items) with --focus-on-dark. The colours are read from the stylesheet itself, so changing one re-checks it."""

from __future__ import annotations

import re
from pathlib import Path

import dsar.api.web

CSS = (Path(dsar.api.web.__file__).parent / "static" / "web.css").read_text(encoding="utf-8")
LIGHT = ("#ffffff", "#f5f6f8", "#f9fafb", "#f0f2f5", "#f8fafc", "#e7f6ec", "#fdecec", "#fff4e0", "#e8eefc", "#eef0f3")
DARK = ("#0f172a", "#1e3a8a", "#1e293b")


def _var(name: str) -> str:
    found = re.search(rf"--{name}:\s*(#[0-9a-fA-F]{{6}})\s*;", CSS)
    assert found, f"--{name} is not a #rrggbb colour in web.css"
    return found.group(1)


def _luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_contrast_formula_gives_the_known_figures() -> None:
    assert round(contrast("#000000", "#ffffff"), 1) == 21.0
    assert round(contrast("#f59e0b", "#ffffff"), 2) == 2.15  # the old amber ring: too faint on white


def test_the_focus_ring_has_3_to_1_on_every_background_it_sits_on() -> None:
    for background in LIGHT:
        assert contrast(_var("focus"), background) >= 3, background
        assert background in CSS, f"{background} is no longer used: update LIGHT"
    for background in DARK:
        assert contrast(_var("focus-on-dark"), background) >= 3, background
    assert re.search(r"\.topbar :focus-visible[^{]*\{\s*outline-color: var\(--focus-on-dark\)", CSS)
