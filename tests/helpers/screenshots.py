"""Screenshots saved by the browser tests, at the widths people use: any browser test can call
``save_screenshots(driver, "name")`` after bringing a page to the state worth showing.

They go to ``screenshots/`` at the repository root (git ignores it), or to the folder
``TAGSMITH_SCREENSHOTS`` names; each file is ``<name>-<size>.png``. The run prints where.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}


def screenshot_folder() -> Path:
    folder = Path(os.environ.get("TAGSMITH_SCREENSHOTS") or ROOT / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def save_screenshots(driver, name: str, sizes: Iterable[str] = ("desktop", "phone"), show=None) -> list[Path]:
    """The page as it is now at each size, then the window back to its size before. The page
    is not reloaded: what JavaScript did stays on it. ``show`` (an element) is scrolled to the
    middle of the viewport first; otherwise the page stays scrolled as it is."""
    before = driver.get_window_size()
    saved = []
    try:
        for size in sizes:
            width, height = SIZES[size]
            set_viewport(driver, width, height)
            if show is not None:
                driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", show)
            path = screenshot_folder() / f"{name}-{size}.png"
            driver.save_screenshot(str(path))
            saved.append(path)
    finally:
        driver.set_window_size(before["width"], before["height"])
    print("screenshots: " + ", ".join(str(path) for path in saved))
    return saved


def set_viewport(driver, width: int, height: int) -> None:
    """Make the page's viewport (not the window, which has borders) this size."""
    driver.set_window_size(width, height)
    inner = driver.execute_script("return [window.innerWidth, window.innerHeight]")
    driver.set_window_size(width + (width - inner[0]), height + (height - inner[1]))


def save_full_page(driver, name: str) -> Path:
    """The whole page, beyond the viewport, as ``<name>.png`` (DevTools' capture: the page
    keeps the viewport and colour scheme the test emulates)."""
    path = screenshot_folder() / f"{name}.png"
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
        },
    )
    path.write_bytes(base64.b64decode(shot["data"]))
    return path
