"""End to end: `localnorm study --smoke` writes the report; headless Chromium opens it, every
figure loads and every section is present; the screenshot lands in the output folder
(out/study-smoke/screenshot.png, or $LOCALNORM_STUDY_ARTIFACTS).

Needs Debian's ``chromium`` package (``.ci/run`` installs it)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from localnorm import cli
from localnorm.study.report import INTRO, SECTIONS

SECTION_IDS = [s[0] for s in SECTIONS]
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


# The report and Chromium's screenshot stay here as CI artifacts (out/ is git-ignored).
ARTIFACTS = Path(os.environ.get("LOCALNORM_STUDY_ARTIFACTS",
                                Path(__file__).resolve().parents[1] / "out" / "study-smoke"))


@pytest.fixture(scope="module")
def study() -> Path:
    """A fresh interpreter, as a user runs it (numba's thread pool is set at its import)."""
    out = ARTIFACTS
    shutil.rmtree(out, ignore_errors=True)
    proc = subprocess.run([sys.executable, "-m", "localnorm", "study", "--smoke", "--jobs", "1",
                           "--no-progress", "--out", str(out)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "report:" in proc.stdout
    return out


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.fail("headless Chromium is required: apt-get install -y chromium (.ci/run does)")
    return exe


class _Dom(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.images: list[dict[str, str | None]] = []
        self.body: dict[str, str | None] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "section":
            self.sections.append(a.get("data-section") or "")
        elif tag == "img":
            self.images.append(a)
        elif tag == "body":
            self.body = a


def test_files_written(study: Path) -> None:
    for name in ["index.html", "results.json"] + [f"{s}.png" for s in SECTION_IDS]:
        assert (study / name).is_file(), name
        assert (study / name).stat().st_size > 0
    assert (study / "activation.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_results_json_has_every_experiment_and_the_run(study: Path) -> None:
    res = json.loads((study / "results.json").read_text())
    assert list(res["experiments"]) == SECTION_IDS
    meta = res["meta"]
    assert meta["versions"]["torch"] and meta["seeds"] == [0, 1] and meta["wall_s"] > 0
    assert set(meta["timings_s"]) >= {"activation", "conditioning", "images", "training"}
    assert not meta["unavailable"]  # LCN, DN, GDN are all in localnorm
    variants = {r["variant"] for r in res["runs"]}
    assert {"lrn_across", "lrn_within", "lcn", "dn", "gdn", "bn", "ln", "none"} <= variants
    sections = res["report"]["sections"]
    assert [s["id"] for s in sections] == SECTION_IDS
    assert all(s["reading"] and s["table"]["rows"] for s in sections)


def _numbers(text: str) -> list[str]:
    return re.findall(r"\d+(?:\.\d+)?(?:e[+-]?\d+)?", text)


def test_every_number_in_the_sections_is_in_results_json(study: Path) -> None:
    page = (study / "index.html").read_text()
    res = json.loads((study / "results.json").read_text())
    stored = json.dumps(res["report"])
    for sec in SECTION_IDS:
        body = re.search(rf'<section id="{sec}".*?</section>', page, re.S)
        assert body is not None, sec
        text = re.sub(r'src="data:image/png;base64,[^"]*"', "", body.group(0))
        text = re.sub(r"<[^>]+>", " ", text).replace("&#x27;", "'")
        for num in _numbers(text):
            assert num in stored, f"{num} in section {sec} is not in results.json"
    assert not re.search(r"\d", INTRO)  # the introduction quotes no numbers


def test_chromium_loads_every_figure_and_section(study: Path, tmp_path: Path) -> None:
    exe = _chromium()
    url = (study / "index.html").resolve().as_uri()
    shot = study / "screenshot.png"
    base = [exe, *CHROMIUM_FLAGS]
    dom = subprocess.run(base + [f"--user-data-dir={tmp_path / 'a'}", "--dump-dom", url],
                         capture_output=True, text=True, timeout=180)
    assert dom.returncode == 0, dom.stderr[-2000:]
    parser = _Dom()
    parser.feed(dom.stdout)
    assert parser.sections == SECTION_IDS
    assert len(parser.images) == len(SECTION_IDS)
    assert all(img.get("data-loaded") == "yes" for img in parser.images), parser.images
    n = len(SECTION_IDS)
    assert parser.body.get("data-images-loaded") == f"{n}/{n}"
    snap = subprocess.run(base + [f"--user-data-dir={tmp_path / 'b'}", f"--screenshot={shot}",
                                  "--window-size=1280,4000", url],
                          capture_output=True, text=True, timeout=180)
    assert snap.returncode == 0, snap.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10000


def test_a_broken_figure_is_detected(study: Path, tmp_path: Path) -> None:
    """The DOM check can fail: a page with a corrupt data URI reports 0 images loaded."""
    exe = _chromium()
    page = (study / "index.html").read_text()
    broken = re.sub(r'src="data:image/png;base64,[^"]*"', 'src="data:image/png;base64,AAAA"',
                    page, count=1)
    bad = tmp_path / "bad.html"
    bad.write_text(broken)
    dom = subprocess.run([exe, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'u'}",
                          "--dump-dom", bad.as_uri()], capture_output=True, text=True,
                         timeout=180)
    parser = _Dom()
    parser.feed(dom.stdout)
    assert [img.get("data-loaded") for img in parser.images].count("no") == 1


def test_cli_errors_name_the_option(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert cli.main(["study", "--data", "imagenet", "--out", str(tmp_path)]) == 2
    assert "--data must be one of" in capsys.readouterr().err
    assert cli.main(["study", "--seeds", "1", "--out", str(tmp_path)]) == 2
    assert "--seeds must be >= 2" in capsys.readouterr().err
    assert cli.main(["study", "--jobs", "-1", "--smoke", "--out", str(tmp_path)]) == 2
    assert "--jobs must be >= 0" in capsys.readouterr().err
    assert cli.main(["study", "--variants", "dropout", "--out", str(tmp_path)]) == 2
    assert "--variants must be among" in capsys.readouterr().err
