"""The report: DIR/index.html (self-contained, figures as base64 data URIs), DIR/results.json
(every number and every sentence of the report) and one PNG per experiment.

An inline script marks each image ``data-loaded="yes"`` once it has decoded (naturalWidth > 0)
and writes ``data-images-loaded="k/n"`` on <body>, so a headless browser's DOM dump shows
whether every figure loaded.
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import (
    exp_activation,
    exp_conditioning,
    exp_contrast,
    exp_generalization,
    exp_images,
    figures,
)
from .layers import VARIANTS

SECTIONS: list[tuple[str, str, str]] = [
    ("activation", "1. Activation vs normalization",
     "An activation function acts on each unit alone. What does LRN do differently?"),
    ("conditioning", "2. Conditioning",
     "Does normalizing the inputs make the error surface rounder, so that one learning rate "
     "suits every direction?"),
    ("generalization", "3. Generalization",
     "Does LRN help a small CNN generalize, against no normalization, LCN, divisive "
     "normalization, GDN, BatchNorm and LayerNorm, with the same seeds and budget?"),
    ("contrast", "4. Contrast robustness",
     "Trained at normal contrast, which networks keep their accuracy when the test images' "
     "contrast is scaled or a brightness gradient is added?"),
    ("images", "5. Natural-image statistics",
     "Does normalization make oriented-filter responses to natural images less heavy-tailed "
     "and less dependent on their neighbours?"),
]

INTRO = (
    "What is local response normalization (LRN) for, and how is it different from an "
    "activation function? Three answers are usually given: it conditions the error surface "
    "(like whitening, cheaply), it improves generalization (AlexNet's claim, questioned since "
    "BatchNorm), and it is lateral inhibition (a unit is divided by its neighbours' activity, "
    "where an activation looks at the unit alone). Each section below measures one of these "
    "in this run: a figure, a table and a reading written from the numbers. Every number is "
    "also in results.json."
)

_SCRIPT = """<script>
function markImages() {
  var imgs = document.images, ok = 0;
  for (var i = 0; i < imgs.length; i++) {
    var good = imgs[i].complete && imgs[i].naturalWidth > 0;
    imgs[i].setAttribute('data-loaded', good ? 'yes' : 'no');
    if (good) ok++;
  }
  document.body.setAttribute('data-images-loaded', ok + '/' + imgs.length);
}
window.addEventListener('load', markImages);
</script>"""

_CSS = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-top:.6em}
.q{font-style:italic;color:#555}img{max-width:100%;border:1px solid #eee}
table{border-collapse:collapse;font-size:.85em;margin:.8em 0}td,th{border:1px solid #ccc;
padding:3px 7px;text-align:right}td:first-child,th:first-child,td.t{text-align:left}
th{background:#f3f3f3}.reading{background:#f7f9fc;border-left:4px solid #4a7ab5;
padding:.5em 1em}footer{font-size:.8em;color:#555;border-top:1px solid #ccc;margin-top:2em}
code{background:#f3f3f3;padding:0 3px}"""


def _builders(res: dict[str, Any]) -> dict[str, tuple[Callable[..., Any], ...]]:
    labels = {v: label for v, (label, _) in VARIANTS.items()}
    return {
        "activation": (figures.activation, exp_activation.table, exp_activation.reading),
        "conditioning": (figures.conditioning, exp_conditioning.table, exp_conditioning.reading),
        "generalization": (figures.generalization, exp_generalization.table,
                           exp_generalization.reading),
        "contrast": (lambda r, p: figures.contrast(r, labels, p),
                     lambda r: exp_contrast.table(r, labels),
                     lambda r: exp_contrast.reading(r, labels)),
        "images": (figures.images, exp_images.table, exp_images.reading),
    }


def _table_html(t: dict[str, Any]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in t["headers"])
    def cell(c: object) -> str:
        text = str(c)
        numeric = bool(re.fullmatch(r"[0-9.+\-e%\[\], ()/]+", text)) and any(
            ch.isdigit() for ch in text)
        return f"<td{'' if numeric else ' class=t'}>{html.escape(text)}</td>"

    body = "".join("<tr>" + "".join(cell(c) for c in row) + "</tr>" for row in t["rows"])
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _clean(obj: Any) -> Any:
    """JSON-safe copy: NaN and infinities become null."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    return obj


def _footer(meta: dict[str, Any]) -> str:
    versions = ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
    times = ", ".join(f"{k} {v:.1f} s" for k, v in meta["timings_s"].items())
    d = meta["data"]
    return (
        "<footer><h3>How this was run</h3><ul>"
        f"<li>Command: <code>{html.escape(meta['command'])}</code></li>"
        f"<li>Budget: {html.escape(json.dumps(meta['budget']))}</li>"
        f"<li>Training recipe: {html.escape(json.dumps(meta['train']))}</li>"
        f"<li>Data: {html.escape(str(d['description']))}; {d['train']} training and "
        f"{d['test']} test images, shape {d['shape']}</li>"
        f"<li>Seeds: {meta['seeds']}; jobs: {meta['jobs']}; torch.distributed world size: "
        f"{meta['world_size']}; LRN backend: {html.escape(str(meta['lrn_backend']))} "
        f"(NUMBA_NUM_THREADS {html.escape(str(meta['numba_threads']))})</li>"
        f"<li>Wall time: {meta['wall_s']:.1f} s ({times})</li>"
        f"<li>Versions: {html.escape(versions)}; {html.escape(meta['platform'])}, "
        f"{meta['cpus']} CPUs</li>"
        f"<li>Started {html.escape(meta['started'])}</li></ul></footer>"
    )


def write(res: dict[str, Any], out: Path) -> dict[str, Path]:
    """Draw the figures, write index.html and results.json into ``out``; return the paths."""
    out.mkdir(parents=True, exist_ok=True)
    builders = _builders(res)
    parts, report, paths = [], [], {}
    for key, title, question in SECTIONS:
        r = res["experiments"].get(key)
        if r is None:
            continue
        draw, tab, read = builders[key]
        png = draw(r, out / f"{key}.png")
        paths[key] = png
        table, reading = tab(r), read(r)
        report.append({"id": key, "title": title, "question": question, "figure": png.name,
                       "table": table, "reading": reading})
        data = base64.b64encode(png.read_bytes()).decode("ascii")
        parts.append(
            f'<section id="{key}" data-section="{key}"><h2>{html.escape(title)}</h2>'
            f'<p class="q">{html.escape(question)}</p>'
            f'<img alt="{html.escape(title)} figure" src="data:image/png;base64,{data}">'
            f"{_table_html(table)}<p class=\"reading\">{html.escape(reading)}</p></section>")
    res["report"] = {"intro": INTRO, "sections": report}
    page = ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<title>localnorm study: what is LRN for?</title>"
            f"<style>{_CSS}</style>{_SCRIPT}</head><body>"
            "<h1>What is local response normalization for?</h1>"
            f"<p>{html.escape(INTRO)}</p>{''.join(parts)}{_footer(res['meta'])}</body></html>")
    paths["index"] = out / "index.html"
    paths["index"].write_text(page, encoding="utf-8")
    paths["results"] = out / "results.json"
    paths["results"].write_text(json.dumps(_clean(res), indent=1, allow_nan=False),
                                encoding="utf-8")
    return paths
