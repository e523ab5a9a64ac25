"""Screenshots the browser tests save, for people to look at: under screenshots/ (or the
folder TAGSMITH_SCREENSHOTS names), one PNG per page and width."""

from __future__ import annotations

import os
from pathlib import Path

from ml.paths import PROJECT_ROOT

DESKTOP = (1280, 800)
PHONE = (390, 844)


def folder() -> Path:
    path = Path(os.environ.get("TAGSMITH_SCREENSHOTS") or PROJECT_ROOT / "screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def save(driver, name: str, size: tuple[int, int]) -> Path:
    """The page at ``size`` (width, height of the window's viewport) as ``name-WxH.png``."""
    width, height = size
    driver.set_window_size(width, height)
    # The window is larger than its viewport by the browser's frame: grow it by the difference.
    inner = driver.execute_script("return [window.innerWidth, window.innerHeight]")
    driver.set_window_size(width + (width - inner[0]), height + (height - inner[1]))
    path = folder() / f"{name}-{width}x{height}.png"
    driver.save_screenshot(str(path))
    return path
