"""ftui reads the hub's settings the way huggingface_hub does: HF_HUB_OFFLINE's spellings, and the
cache under HF_HOME, HF_HUB_CACHE or XDG_CACHE_HOME. huggingface_hub reads its environment when it
is imported, so every case runs the real `ftui` in a subprocess with its own environment."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

HUB_ID = "google-bert/bert-base-uncased"  # the bert-base preset's hub id: `ftui models` lists it
REVISION = "0123456789abcdef0123456789abcdef01234567"
HUB_VARS = ("HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "XDG_CACHE_HOME", "HF_HUB_OFFLINE",
            "TRANSFORMERS_OFFLINE", "TRANSFORMERS_CACHE", "PYTORCH_TRANSFORMERS_CACHE", "PYTORCH_PRETRAINED_BERT_CACHE")
# Runs the CLI with the network cut off and says, at exit, whether torch was imported.
GUARDED_CLI = """
import atexit, socket, sys
def refuse(*args, **kwargs):
    sys.stderr.write("network attempt\\n")
    raise OSError("no network in this test")
socket.socket.connect = refuse
atexit.register(lambda: print("torch loaded" if "torch" in sys.modules else "torch not loaded"))
from ftui.tui.cli import main
sys.exit(main(sys.argv[1:]))
"""


def hub_cache(cache: Path, hub_id: str, model_dir: Path) -> Path:
    """``model_dir`` laid out as huggingface_hub stores a download: blobs, a snapshot of links, refs/main."""
    repo = cache / ("models--" + hub_id.replace("/", "--"))
    snapshot = repo / "snapshots" / REVISION
    (repo / "blobs").mkdir(parents=True)
    snapshot.mkdir(parents=True)
    for file in sorted(Path(model_dir).iterdir()):
        data = file.read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        (snapshot / file.name).symlink_to(os.path.relpath(blob, snapshot))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(REVISION)
    return repo


def hub_env(tmp_path: Path, **settings) -> dict:
    """The test's environment without any hub setting of its own, HOME in tmp, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if k not in HUB_VARS}
    env.update(HOME=str(tmp_path / "home"), **{k: str(v) for k, v in settings.items()})
    return env


def run_ftui(env: dict, *args, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", GUARDED_CLI, *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=timeout)


# (the variable set, the hub cache it implies under its value)
CACHE_SETTINGS = [
    ("XDG_CACHE_HOME", lambda root: root / "huggingface" / "hub"),
    ("HF_HOME", lambda root: root / "hub"),
    ("HF_HUB_CACHE", lambda root: root),
]


@pytest.mark.parametrize("variable,cache_of", CACHE_SETTINGS, ids=[v for v, _ in CACHE_SETTINGS])
def test_a_model_in_the_hub_cache_is_found_offline(tmp_path, tiny_model_dir, make_recipe, variable, cache_of):
    root = tmp_path / "cache-root"
    hub_cache(cache_of(root), HUB_ID, tiny_model_dir)
    env = hub_env(tmp_path, HF_HUB_OFFLINE="1", **{variable: root})

    listed = run_ftui(env, "models", timeout=60)
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if line.startswith("bert-base "))
    assert "offline (HF cache)" in row, row
    assert f"HF cache {cache_of(root)}" in listed.stdout and "torch not loaded" in listed.stdout

    recipe = make_recipe()
    trained = run_ftui(env, "train", recipe, "--headless", "--model", HUB_ID, "--max-steps", "1")
    assert trained.returncode == 0, trained.stdout[-2000:] + trained.stderr[-3000:]
    assert "network attempt" not in trained.stderr
    assert (tmp_path / "runs" / "tiny" / "checkpoints").is_dir()


@pytest.mark.parametrize("value", ["ON", "1", "true"])
def test_offline_and_not_cached_is_one_line_before_a_run_dir(tmp_path, tiny_csv, value):
    env = hub_env(tmp_path, HF_HUB_OFFLINE=value, HF_HOME=tmp_path / "empty-hf-home")
    started = time.monotonic()
    result = run_ftui(env, "--runs-dir", tmp_path / "runs", "train", "--headless", "--model",
                      "someorg/not-downloaded", "--data", tiny_csv, "--max-steps", "1", timeout=120)
    elapsed = time.monotonic() - started
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ftui: "), result.stderr[-2000:]
    assert "someorg/not-downloaded" in lines[0] and "HF_HUB_OFFLINE" in lines[0]
    assert str(tmp_path / "empty-hf-home" / "hub") in lines[0], "the message names the cache it looked in"
    assert not (tmp_path / "runs").exists(), "refused before a run directory exists"
    assert "torch not loaded" in result.stdout, "refused by the cheap checks, before torch loads"
    assert elapsed < 12, f"{elapsed:.1f}s: the refusal must not wait for the hub"


@pytest.mark.parametrize("value", ["ON", "yes", "1"])
def test_offline_preset_not_cached_is_refused_too(tmp_path, tiny_csv, value):
    env = hub_env(tmp_path, HF_HUB_OFFLINE=value, XDG_CACHE_HOME=tmp_path / "xdg")
    result = run_ftui(env, "--runs-dir", tmp_path / "runs", "train", "--headless", "--model", "distilbert",
                      "--data", tiny_csv, timeout=120)
    assert result.returncode == 2 and "not available offline" in result.stderr, result.stderr[-2000:]
    assert not (tmp_path / "runs").exists()


def test_models_lists_other_cached_hub_models(tmp_path, tiny_model_dir):
    hub_cache(tmp_path / "xdg" / "huggingface" / "hub", "someorg/tiny-bert", tiny_model_dir)
    result = run_ftui(hub_env(tmp_path, XDG_CACHE_HOME=tmp_path / "xdg"), "models", timeout=60)
    assert result.returncode == 0, result.stderr
    assert "someorg/tiny-bert" in result.stdout and "needs download" in result.stdout


def test_an_invalid_hub_id_is_in_no_cache():
    from ftui.models.hub import cached_file, in_hub_cache

    assert cached_file("bad id/with space", "config.json") is None
    assert not in_hub_cache("org/" + "x" * 200)
