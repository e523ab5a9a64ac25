"""The colours in webapp/static/style.css, in the light and the dark scheme, meet WCAG 2.2 AA:
text 4.5:1 on what it sits on (1.4.3), input and button borders, focus rings, badge
borders and chart lines 3:1 on the surface around them (1.4.11). The stylesheet is parsed
(tinycss2), so lowering any of these colours fails here."""

from __future__ import annotations

from pathlib import Path

import pytest
import tinycss2

STYLESHEET = Path(__file__).resolve().parents[2] / "webapp" / "static" / "style.css"

# (foreground, background, what it is): text first, 4.5:1.
TEXT = [
    ("text", "bg", "body text on the page"),
    ("text", "surface", "body text on a card"),
    ("muted", "surface", "secondary text on a card"),
    ("muted", "bg", "secondary text on the page"),
    ("muted", "subtle-bg", "table headers, notes"),
    ("muted", "code-bg", "plain badges"),
    ("primary", "surface", "links on a card"),
    ("primary", "bg", "links on the page"),
    ("primary", "primary-soft", "the chosen model"),
    ("on-primary", "primary", "primary button label"),
    ("on-primary", "primary-hover", "primary button label, hovered"),
    ("tag-text", "tag-bg", "tag chips"),
    ("tag-text", "tag-bg-hover", "tag chips, hovered"),
    ("ok", "ok-soft", "'available' badges, saved notices"),
    ("bad", "bad-soft", "'not available' badges"),
    ("bad", "surface", "form error messages"),
    ("bad-text", "bad-soft", "an unavailable model's panel"),
    ("text", "warn-soft", "notices"),
    ("header-text", "header-bg", "navigation"),
    ("header-strong", "header-bg", "the brand and the current page"),
]
# Non-text contrast, 3:1.
GRAPHICS = [
    ("border-strong", "surface", "input, select and button borders"),
    ("border-strong", "bg", "buttons on the page"),
    ("focus", "surface", "focus ring on a card"),
    ("focus", "bg", "focus ring on the page"),
    ("bad", "surface", "an invalid field's border"),
    ("ok", "surface", "'available' badge border"),
    ("bad", "surface", "'not available' badge border"),
    *((f"series-{n}", "surface", f"chart colour {n}") for n in range(1, 7)),
]


def custom_properties(rules) -> dict[str, str]:
    found = {}
    for rule in rules:
        if rule.type == "qualified-rule" and tinycss2.serialize(rule.prelude).strip() == ":root":
            for item in tinycss2.parse_blocks_contents(rule.content, skip_whitespace=True, skip_comments=True):
                if item.type == "declaration" and item.name.startswith("--"):
                    found[item.name[2:]] = tinycss2.serialize(item.value).strip()
    return found


def dark_overrides(rules) -> dict[str, str]:
    """The custom properties set inside @media (prefers-color-scheme: dark)."""
    found: dict[str, str] = {}
    for rule in rules:
        is_media = rule.type == "at-rule" and rule.lower_at_keyword == "media" and rule.content is not None
        if is_media and "prefers-color-scheme:dark" in tinycss2.serialize(rule.prelude).replace(" ", ""):
            found.update(custom_properties(tinycss2.parse_rule_list(rule.content, True, True)))
    return found


def stylesheet():
    return tinycss2.parse_stylesheet(STYLESHEET.read_text(), skip_whitespace=True, skip_comments=True)


def schemes() -> dict[str, dict[str, str]]:
    rules = stylesheet()
    light = custom_properties(rules)
    return {"light": light, "dark": light | dark_overrides(rules)}


def luminance(colour: str) -> float:
    """WCAG relative luminance of a #rgb or #rrggbb colour."""
    digits = colour.strip().lstrip("#")
    if len(digits) == 3:
        digits = "".join(digit * 2 for digit in digits)
    assert len(digits) == 6, f"not a hex colour: {colour!r}"
    channels = [int(digits[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(one: str, other: str) -> float:
    lighter, darker = sorted((luminance(one), luminance(other)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_the_formula_gives_the_known_ratios():
    assert contrast("#000", "#fff") == pytest.approx(21.0)
    assert contrast("#fff", "#fff") == pytest.approx(1.0)
    assert contrast("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)  # the classic AA grey


def test_every_colour_has_a_dark_value():
    rules = stylesheet()
    colours = {name for name, value in custom_properties(rules).items() if value.startswith("#")}
    missing = colours - dark_overrides(rules).keys()
    assert colours and not missing, f"colours with no dark value: {sorted(missing)}"


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize(("minimum", "pairs"), [(4.5, TEXT), (3.0, GRAPHICS)], ids=["text", "graphics"])
def test_colours_meet_wcag_aa(scheme, minimum, pairs):
    colours = schemes()[scheme]
    failing = []
    for foreground, background, what in pairs:
        ratio = contrast(colours[foreground], colours[background])
        if ratio < minimum:
            failing.append(f"{what}: --{foreground} on --{background} is {ratio:.2f}:1, needs {minimum}:1")
    assert not failing, "\n".join(failing)
