"""The HTML report renders in a real browser (Debian's chromium, headless)."""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from polyrank._cli import main
from tests.conftest import FIXTURES

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


@pytest.fixture(scope="module")
def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: `make test` installs Debian's chromium package")
        pytest.skip("chromium not installed (make test installs it)")
    return path


@pytest.mark.browser
def test_html_report_renders_in_chromium(chromium: str, tmp_path: Path) -> None:
    html = tmp_path / "report.html"
    code = main(
        [
            "eval",
            str(FIXTURES / "mini_suite.yaml"),
            "--store",
            str(tmp_path / "s"),
            "--html",
            str(html),
        ]
    )
    assert code == 0
    profile = tmp_path / "profile"
    base = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}"]
    dom = subprocess.run(
        [*base, "--dump-dom", html.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert "polyrank eval · mini · PASS" in dom
    heatmap = dom[dom.index('id="heatmap"') : dom.index("</table>", dom.index('id="heatmap"'))]
    assert len(re.findall(r"<tr[ >]", heatmap)) == 1 + 2  # header + one row per case
    assert 'id="case-boots"' in dom and 'lang="ja"' in dom
    shot = tmp_path / "report.png"
    subprocess.run(
        [*base, f"--screenshot={shot}", "--window-size=1200,900", html.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000  # a page, not a blank


WIDE_VARIANTS = {
    "en": "hiking boots", "de": "Wanderschuhe", "ja": "登山靴", "zh": "登山鞋", "ko": "등산화",
    "hi": "लंबी पैदल यात्रा के जूते", "es": "botas de montaña", "fr": "chaussures de randonnée",
    "it": "scarponi da trekking", "pt": "botas de caminhada", "ru": "туристические ботинки",
    "ar": "أحذية المشي لمسافات طويلة", "tr": "yürüyüş botları", "nl": "wandelschoenen",
}  # fmt: skip


def _page(chromium: str, tmp_path: Path, html: Path, *flags: str) -> str:
    base = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    return subprocess.run([*base, *flags, "--dump-dom", html.as_uri()], capture_output=True,
                          text=True, timeout=120, check=True).stdout  # fmt: skip


@pytest.mark.browser
def test_report_marks_zero_scores_and_fits_1400_px(chromium: str, tmp_path: Path) -> None:
    """Was: a case that met every expectation but scored 0.00 looked like any other, and 14
    languages made the page wider than the window."""
    import yaml

    suite = yaml.safe_load((FIXTURES / "mini_suite.yaml").read_text())
    suite["catalog"] = str(FIXTURES / "small_catalog.jsonl")
    suite["cases"].append({
        "name": "a-case-with-a-rather-long-name-about-boots-and-music", "variants": WIDE_VARIANTS,
        "relevant": {"m1": 3}, "filters": {"domains": ["products"]},  # m1 is music: never shown
    })  # fmt: skip
    path = tmp_path / "wide.yaml"
    path.write_text(yaml.safe_dump(suite, allow_unicode=True))
    html = tmp_path / "wide.html"
    assert main(["eval", str(path), "--store", str(tmp_path / "s"), "--html", str(html)]) == 0
    dom = _page(chromium, tmp_path, html, "--window-size=1400,900")
    width = re.search(r'data-scroll-width="(\d+)"', dom)
    assert width is not None and int(width[1]) <= 1400
    zero_cells = re.findall(r'<td class="cell zero"[^>]*title="scores 0.00 in (\w+)"', dom)
    assert sorted(zero_cells) == sorted(WIDE_VARIANTS)  # every language of that case
    assert "⚠ ndcg@3 0.00 in" in dom and "although no expectation failed" in dom
    assert dom.count('class="cell zero"') == len(WIDE_VARIANTS)  # and no other case


def _shot(chromium: str, tmp_path: Path, body: str, style: str, name: str) -> bytes:
    page = tmp_path / f"{name}.html"
    page.write_text(f'<!doctype html><meta charset="utf-8"><style>{style}</style>'
                    f"<body>{body}</body>", encoding="utf-8")  # fmt: skip
    shot = tmp_path / f"{name}.png"
    base = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    subprocess.run([*base, f"--screenshot={shot}", "--window-size=400,120", page.as_uri()],
                   capture_output=True, timeout=120, check=True)  # fmt: skip
    return shot.read_bytes()


@pytest.mark.browser
@pytest.mark.parametrize(
    ("lang", "text"),
    [
        ("ja", "登山靴とラーメン"),
        ("zh", "登山鞋和拉面"),
        ("ko", "등산화와 라면"),
        ("hi", "योग सीखना"),
    ],
)
def test_the_reports_fonts_draw_cjk_hangul_and_devanagari(
    chromium: str, tmp_path: Path, lang: str, text: str
) -> None:
    """Glyphs, not only the DOM: the text drawn with the report's own font stack must not
    look like the same number of unassigned code points (each drawn as the same box)."""
    html = (Path(__file__).parent.parent / "evals" / "templates" / "report.html.j2").read_text()
    style = html[html.index("<style>") + 7 : html.index("</style>")]
    real = _shot(chromium, tmp_path, f'<p lang="{lang}">{text}</p>', style, "real")
    boxes = "".join(chr(0x0378) if not ch.isspace() else " " for ch in text)  # unassigned
    tofu = _shot(chromium, tmp_path, f'<p lang="{lang}">{boxes}</p>', style, "tofu")
    other = "".join(chr(0x0379) if not ch.isspace() else " " for ch in text)
    assert _shot(chromium, tmp_path, f'<p lang="{lang}">{other}</p>', style, "tofu2") == tofu
    assert real != tofu


def test_the_colour_scale_is_ordered_in_lightness() -> None:
    """Colour-blind readers (and a grey print) see the order when the scale's lightness
    rises steadily from 0 to 1 (viridis); the old red-to-green hue scale had none."""
    from polyrank.evals._report import colour

    def luminance(hex_colour: str) -> float:
        r, g, b = (int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
        lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    values = [luminance(colour(n / 20)) for n in range(21)]
    assert all(b > a for a, b in itertools.pairwise(values))
    assert colour(-1) == colour(0) and colour(2) == colour(1)


@pytest.mark.browser
def test_report_shows_the_language_matrix_and_filters_and_sorts_cases(
    chromium: str, tmp_path: Path
) -> None:
    """Was: no picture of consistency between languages, and 78 cases in one long list."""
    html = tmp_path / "mini.html"
    store = str(tmp_path / "s")
    assert main(["eval", str(FIXTURES / "mini_suite.yaml"), "--store", store,
                 "--html", str(html)]) == 0  # fmt: skip
    dom = _page(chromium, tmp_path, html, "--window-size=1400,900")
    matrix = dom[dom.index('id="matrix"') : dom.index("</table>", dom.index('id="matrix"'))]
    assert matrix.count('class="m"') == 9  # de, en, ja x de, en, ja
    assert 'title="de / ja: RBO 0.95"' in matrix and "background: #" in matrix
    assert dom.count("languages × languages (RBO)") == 2  # each case has its own

    def rows(query: str) -> list[tuple[str, bool]]:
        page = _page_url(chromium, tmp_path, html.as_uri() + query)
        found = re.findall(r'<tr data-case="([\w-]+)" data-passed="\d"( style="display: none;")?',
                           page)  # fmt: skip
        return [(name, not hidden) for name, hidden in found]

    assert rows("") == [("boots", True), ("books", True)]
    assert rows("?filter=ook") == [("boots", False), ("books", True)]
    assert rows("?failed=1") == [("boots", False), ("books", False)]
    assert rows("?sort=ja") == [("boots", True), ("books", True)]  # books has no ja: last
    assert rows("?sort=case") == [("books", True), ("boots", True)]


def _page_url(chromium: str, tmp_path: Path, url: str) -> str:
    base = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    command = [*base, "--window-size=1400,900", "--dump-dom", url]
    return subprocess.run(command, capture_output=True, text=True, timeout=120,
                          check=True).stdout  # fmt: skip
