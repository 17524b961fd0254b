"""The `ftui` command line.

Only argparse and the standard library at import time: `ftui --help` and `ftui runs` answer
without importing torch, transformers or Textual. Each command imports what it needs.
"""

from __future__ import annotations

import argparse
import importlib
import math
import sys

from ftui.rundir.errors import EXIT_BAD_INPUT, FtuiError
from ftui.rundir.tasks import DEFAULT_TASK, TASKS

# command -> "module:function" taking the parsed args and returning an exit code
HANDLERS = {
    None: "ftui.tui.commands:home",
    "train": "ftui.tui.commands:train",
    "watch": "ftui.tui.commands:watch",
    "sweep": "ftui.tui.sweep_cli:sweep",
    "runs": "ftui.tui.commands:runs",
    "models": "ftui.tui.commands:models",
    "init": "ftui.tui.commands:init",
    "export": "ftui.export.cli:run",
    "predict": "ftui.export.predict_cli:run",
    "plot": "ftui.tui.plot:run",
    "completion": "ftui.tui.completion:run",
}

RUNS_DIR_HELP = "where runs live (default: ./runs, or the recipe's run.output_dir)"
# What a shell completes for an argument (shtab reads ``action.complete``; no import of it here).
FILE = {"bash": "_shtab_compgen_files", "zsh": "_files", "tcsh": "f"}
DIRECTORY = {"bash": "_shtab_compgen_dirs", "zsh": "_files -/", "tcsh": "d"}


class OneLineParser(argparse.ArgumentParser):
    """A parser whose usage errors are one line, `ftui train: --epochs: invalid number 'abc'
    (ftui train --help)`, and exit 2, instead of argparse's usage block."""

    def error(self, message: str):
        message = " ".join(message.split())
        if message.startswith("argument "):  # "argument --epochs: ..." -> "--epochs: ..."
            message = message[len("argument "):]
        print(f"{self.prog}: {message} ({self.prog} --help)", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)


def number(kind: type = float, low: float | None = None, high: float | None = None, above: bool = False):
    """An argparse ``type`` for a finite number in [low, high] (``above``: strictly above ``low``)."""
    word = "whole number" if kind is int else "number"

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid {word} {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        if low is not None and (value < low or above and value == low):
            raise argparse.ArgumentTypeError(f"must be {'above' if above else 'at least'} {_bound(low)}, not {text}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"must be at most {_bound(high)}, not {text}")
        return value

    parse.__name__ = word
    return parse


def _bound(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


class VersionAction(argparse.Action):
    """`ftui --version`: the installed distribution's version, looked up only when asked."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from importlib.metadata import PackageNotFoundError, version

        try:
            print(f"ftui {version('ftui')}")
        except PackageNotFoundError:
            print("ftui (version unknown: not installed as a distribution)")
        parser.exit()


def completes(action: argparse.Action, kind: dict) -> argparse.Action:
    """Marks what the shell should offer for ``action`` (files or directories) in `ftui completion`."""
    action.complete = kind
    return action


def runs_dir_option(p: argparse.ArgumentParser) -> None:
    """``--runs-dir`` after the command too (`ftui runs --runs-dir X`); not given, the one before it stands."""
    completes(p.add_argument("--runs-dir", default=argparse.SUPPRESS, help=RUNS_DIR_HELP), DIRECTORY)


POSITIVE = number(float, 0, above=True)
COUNT = number(int, 1)  # batch sizes, steps, rows, processes, threads


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="ftui",
        description="Fine-tune pretrained models from the terminal and ship them to the edge as ONNX.",
        epilog="Run `ftui` alone for the home screen. `ftui COMMAND --help` for a command's options.",
    )
    completes(parser.add_argument("--runs-dir", help=RUNS_DIR_HELP), DIRECTORY)
    parser.add_argument("--version", action=VersionAction, help="print ftui's version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_train(sub)
    p = sub.add_parser("watch", help="attach the cockpit to a live run, or review a finished one; "
                       "several runs (or a sweep folder) open the compare screen")
    completes(p.add_argument("run", nargs="*", metavar="RUN",
                             help="run directory (default: the newest run); several, or a folder of runs "
                                  "(a sweep), compare them"), DIRECTORY)
    runs_dir_option(p)
    p = sub.add_parser("runs", help="list runs: status, step, best metric")
    p.add_argument("--json", action="store_true", help="one JSON object per run")
    runs_dir_option(p)
    p = sub.add_parser("models", help="list model presets, tasks and demo data, and whether each is available offline")
    p.add_argument("--json", action="store_true", help="one JSON object per preset, task and demo data set")
    p = sub.add_parser("init", help="write a commented recipe template")
    completes(p.add_argument("path", nargs="?", default="recipe.toml", help="where to write it (default: recipe.toml)"),
              FILE)
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    _add_sweep(sub)
    _add_export(sub)
    _add_predict(sub)
    _add_plot(sub)
    p = sub.add_parser("completion", help="print a shell completion script: eval \"$(ftui completion bash)\"")
    p.add_argument("shell", choices=("bash", "zsh"), help="the shell to complete for")
    return parser


def _add_train(sub) -> None:
    p = sub.add_parser("train", help="fine-tune: the cockpit, or plain log lines with --headless")
    completes(p.add_argument("recipe", nargs="?", help="recipe TOML (default: the embedded minilm-l6 on demo:tweets)"),
              FILE)
    p.add_argument("--headless", action="store_true", help="no TUI: a log line per step (nohup, Slurm, CI)")
    p.add_argument("--json", action="store_true", help="with --headless: print events as JSON lines")
    completes(p.add_argument("--resume", metavar="RUN", help="continue a run from its newest good checkpoint"),
              DIRECTORY)
    p.add_argument("--name", help="run name (default: <model>-<data>-<time>)")
    runs_dir_option(p)
    o = p.add_argument_group("recipe overrides")
    o.add_argument("--task", choices=tuple(TASKS), help=f"what to fine-tune for (default: {DEFAULT_TASK})")
    o.add_argument("--model", help="preset name, local HF folder or hub id")
    completes(o.add_argument("--data", help="training data: a file, an image folder or demo:* (see ftui models)"),
              FILE)
    completes(o.add_argument("--validation", help="validation data file (default: a stratified split)"), FILE)
    o.add_argument("--epochs", type=POSITIVE, help="passes over the training data (fractions allowed)")
    o.add_argument("--lr", type=POSITIVE, help="peak learning rate")
    o.add_argument("--batch-size", type=COUNT, help="examples per device per step")
    o.add_argument("--max-steps", type=COUNT, help="stop after this many optimizer steps (overrides --epochs)")
    o.add_argument("--max-train-rows", type=COUNT, help="train on at most this many rows (a sample)")
    o.add_argument("--seed", type=number(int, 0, 2**32 - 1), help="random seed for the split, sampling and init")
    o.add_argument("--strategy", choices=("full", "frozen", "llrd", "lora"),
                   help="what trains: every weight (full), the new head only (frozen), every weight with "
                        "layer-wise lr decay (llrd), or LoRA adapters (lora)")
    o.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="any recipe value, e.g. --set train.warmup_ratio=0.1 (repeatable)")
    g = p.add_argument_group("several processes (torchrun, DDP)")
    g.add_argument("--nproc", type=COUNT, help="processes on this node, one per GPU (default: 1, or accelerate "
                   "config's num_processes)")
    g.add_argument("--nnodes", type=COUNT, help="nodes in the job (default: 1, or accelerate config's num_machines)")
    g.add_argument("--node-rank", type=number(int, 0), help="this node's rank; node 0 prepares the run "
                   "(default: 0, or accelerate config's machine_rank)")
    g.add_argument("--master-addr", help="node 0's address, multi-node (default: 127.0.0.1, or accelerate "
                   "config's main_process_ip)")
    g.add_argument("--master-port", type=number(int, 1, 65535),
                   help="node 0's rendezvous port, multi-node (default: 29500, or accelerate config's "
                        "main_process_port)")


def _add_sweep(sub) -> None:
    p = sub.add_parser("sweep", help="train candidates (models x strategies x lrs x --set values) as runs, ranked")
    completes(p.add_argument("recipe", nargs="?", help="base recipe TOML, optionally with a [sweep] section "
                             "(default: the embedded minilm-l6 on demo:tweets)"), FILE)
    p.add_argument("--model", metavar="M1,M2", help="models to try: presets, local HF folders or hub ids")
    p.add_argument("--strategy", metavar="S1,S2", help="strategies to try: full, frozen, llrd, lora")
    p.add_argument("--lr", metavar="LR1,LR2", help="peak learning rates to try")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=V1,V2",
                   help="any recipe key as an axis, e.g. --set train.warmup_ratio=0,0.1 (repeatable)")
    p.add_argument("--budget", metavar="STEPS|Nm", help="per candidate: optimizer steps (200) or minutes (10m)")
    p.add_argument("--halving", action="store_true", help="successive halving: drop the worst half at each "
                   "rung, resume the rest (needs --budget in steps)")
    p.add_argument("--name", help="the sweep folder's name (default: sweep-<time>)")
    runs_dir_option(p)
    p.add_argument("--headless", action="store_true", help="a line per candidate, then the leaderboard (the "
                   "default: `ftui watch <sweep folder>` shows them live)")
    p.add_argument("--json", action="store_true", help="headless: a JSON line per ended candidate, then the "
                   "leaderboard")
    o = p.add_argument_group("shared by every candidate")
    o.add_argument("--task", choices=tuple(TASKS), help=f"what to fine-tune for (default: {DEFAULT_TASK})")
    completes(o.add_argument("--data", help="training data: a file, an image folder or demo:*"), FILE)
    o.add_argument("--max-train-rows", type=COUNT, help="train on at most this many rows (a sample)")
    o.add_argument("--seed", type=number(int, 0, 2**32 - 1), help="random seed for the split, sampling and init")


def _add_export(sub) -> None:
    p = sub.add_parser("export", help="checkpoint -> ONNX, validated on real data, benchmarked, bundled")
    completes(p.add_argument("source", nargs="?", help="a run directory (its best checkpoint) or an HF checkpoint "
                             "folder (default: the newest run)"), DIRECTORY)
    runs_dir_option(p)
    p.add_argument("--onnx", action="store_true", required=True, help="export to ONNX (the only format)")
    p.add_argument("--optimize", choices=("O1", "O2"), help="onnxruntime graph optimization level")
    p.add_argument("--quantize", choices=("int8",), help="int8 quantization (static, calibrated on training rows, "
                   "and dynamic), gated on accuracy")
    p.add_argument("--atol", type=number(float, 0), default=1e-4, help="max |logit difference| fp32 may show")
    p.add_argument("--max-accuracy-drop", type=number(float, 0, 100), default=1.0,
                   help="max accuracy drop of any variant, in percentage points")
    completes(p.add_argument("--data", help="validation file (default: the split saved with the run)"), FILE)
    completes(p.add_argument("--output", help="output folder (default: <run>/export)"), DIRECTORY)
    p.add_argument("--no-benchmark", action="store_true", help="skip the latency benchmark")
    p.add_argument("--threads", type=COUNT, help="intra-op threads for the benchmark (default: all cores)")
    completes(p.add_argument("--calibration", help="static int8's calibration sample: training rows in the validation "
                             "format (default: the run's data/calibration.jsonl)"), FILE)
    p.add_argument("--fallback-budget", type=number(int), default=4,
                   help="when int8 fails the accuracy gate: attempts at returning its costliest blocks to fp32 "
                        "(default 4, at least 1)")


def _add_predict(sub) -> None:
    p = sub.add_parser("predict", help="predict with an exported bundle: texts, or image paths (onnxruntime only, no torch)")
    completes(p.add_argument("bundle", help="an export bundle folder"), DIRECTORY)
    completes(p.add_argument("texts", nargs="*", metavar="inputs",
                             help="texts to label or tag, or image files (image bundles)"), FILE)
    completes(p.add_argument("--file", help="a file of inputs, one a line ('-' for stdin)"), FILE)
    p.add_argument("--json", action="store_true", help="JSON lines with all scores (and entity spans for NER)")


def _add_plot(sub) -> None:
    p = sub.add_parser("plot", help="loss, eval metric and learning rate against step, as PNG or SVG (matplotlib)")
    completes(p.add_argument("runs", nargs="+", metavar="RUN", help="run directories, overlaid in one figure"),
              DIRECTORY)
    completes(p.add_argument("-o", "--output", default="curves.png",
                             help="the figure: a .png or .svg file (default: curves.png)"), FILE)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command == "predict" and not any(x.startswith("-") for x in extra):
        args.texts += extra  # `ftui predict BUNDLE --json "text"`: texts after an option
    elif extra:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        sub.choices.get(args.command, parser).error(f"unrecognized arguments: {' '.join(extra)}")
    return args


# Commands whose work is all on disk when they return (an export's bundle is renamed into place) and
# whose process holds torch, transformers and onnxruntime: tearing those down at interpreter exit
# took 0.8 s of a 9 s export and frees nothing the OS would not, so the console script skips it.
FAST_EXIT = ("export",)


def main(argv: list[str] | None = None) -> int:
    return run(parse_args(argv))


def entry() -> None:
    """The `ftui` console script: main(), then for FAST_EXIT commands an exit without the interpreter's
    teardown, once logging and both streams are flushed."""
    args = parse_args(None)
    code = run(args)
    if args.command in FAST_EXIT:
        import logging
        import os

        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)
    sys.exit(code)


def run(args: argparse.Namespace) -> int:
    handler = _load(HANDLERS[args.command])
    try:
        code = handler(args)
    except KeyboardInterrupt:
        print("ftui: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `ftui runs | head`: the reader left; say nothing, as cat does
        _silence_stdout()
        return 141
    except FtuiError as e:  # user errors are one line; anything else is a bug and keeps its traceback
        print(f"ftui: {e}", file=sys.stderr)
        return e.exit_code
    return int(code or 0)


def _silence_stdout() -> None:
    """Points stdout at /dev/null so the interpreter's final flush cannot raise again."""
    import os

    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _load(spec: str):
    module, func = spec.split(":")
    return getattr(importlib.import_module(module), func)


if __name__ == "__main__":
    entry()
