"""`ftui predict BUNDLE texts... | --file F [--json]`: label texts with an export bundle, torch-free."""

from __future__ import annotations


def run(args) -> int:
    """Prints one line per text; bad bundles and empty input raise PredictorError (one line, exit 2)."""
    from .predictor import Predictor, format_result, read_texts

    texts = read_texts(args.texts, args.file)
    for result in Predictor(args.bundle).predict(texts):
        print(format_result(result, args.json))
    return 0
