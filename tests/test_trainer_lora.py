"""LoRA fine-tuning (peft): only the adapters and the new head train; every checkpoint is also a
plain HF model (adapters merged in) that export and `from_pretrained` load without peft; a run
resumes from its adapters; bad targets are one line before a run dir exists; the cockpit and the
console say what trains."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fake_trainer import FakeTrainer
from tui_pilot import open_cockpit, screen_text, wait_for, widget_text

from conftest import events_of, ftui, tiny_recipe

R, ALPHA = 8, 16.0
QUERY = "bert.encoder.layer.0.attention.self.query"
TEXTS = ["I love this so much", "worst day ever, everything broke", "the meeting is at noon"]


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory, tiny_model_dir, tiny_csv):
    """One 40-step LoRA run of the tiny BERT, checkpoints at steps 20 and 40 (stdout kept)."""
    tmp = tmp_path_factory.mktemp("lora")
    recipe = tiny_recipe(tmp, tiny_model_dir, tiny_csv,
                         train={"strategy": "lora", "lora_r": R, "lora_alpha": ALPHA, "max_steps": 40,
                                "lr": 2e-2, "eval_every": 20, "logging_steps": 5},
                         checkpoint={"keep": 3})
    result = ftui("train", recipe, "--headless")
    assert result.returncode == 0, result.stderr[-3000:]
    return tmp / "runs" / "tiny", result.stdout


def recipe_with(tmp_path, model, train_data, data: dict, **sections) -> Path:
    """tiny_recipe with more [data] keys (its own ``data`` argument is the training file)."""
    import tomllib

    import tomli_w

    path = tiny_recipe(tmp_path, model, train_data, **sections)
    recipe = tomllib.loads(path.read_text())
    recipe["data"].update(data)
    path.write_text(tomli_w.dumps(recipe))
    return path


def _load(path):
    from safetensors.torch import load_file

    return load_file(str(path))


def test_lora_trains_only_adapters_and_head(lora_run, tiny_model_dir):
    import torch

    run, stdout = lora_run
    start = events_of(run, "run_start")[0]
    adapters = 2 * 2 * (R * 32 + 32 * R)          # query and value of 2 layers, A (r x 32) and B (32 x r)
    head = 32 * 3 + 3                             # the new classifier trains in full
    assert start["strategy"] == "lora" and start["params_trainable"] == adapters + head
    assert start["params_trainable"] < start["params_total"] / 100
    assert f"lora: {adapters + head:,}/{start['params_total']:,} params trainable" in stdout

    checkpoint = run / "checkpoints" / "checkpoint-40"
    base, merged = _load(tiny_model_dir / "model.safetensors"), _load(checkpoint / "model.safetensors")
    adapter = _load(checkpoint / "adapter" / "adapter_model.safetensors")
    # Frozen weights are the pretrained ones, bit for bit; a targeted one is base + B @ A * alpha / r.
    for name in ("encoder.layer.0.attention.self.key.weight", "encoder.layer.1.output.dense.weight",
                 "embeddings.word_embeddings.weight"):
        assert torch.equal(merged[f"bert.{name}"], base[name]), name
    a, b = adapter[f"base_model.model.{QUERY}.lora_A.weight"], adapter[f"base_model.model.{QUERY}.lora_B.weight"]
    assert b.abs().max() > 0, "lora_B starts at zero: it must have trained"
    expected = base[QUERY.removeprefix("bert.") + ".weight"] + (b @ a) * (ALPHA / R)
    assert torch.allclose(merged[f"{QUERY}.weight"], expected, atol=1e-6)
    assert not any("lora" in k or "base_layer" in k or "modules_to_save" in k for k in merged)
    head_key = next(k for k in adapter if k.endswith("classifier.weight"))
    assert torch.equal(merged["classifier.weight"], adapter[head_key])


def test_lora_learns_on_pretrained_minilm(tmp_path, tiny_csv):
    """The tiny BERT's random features give LoRA nothing to adapt; MiniLM's do, within 20 steps."""
    recipe = recipe_with(tmp_path, "minilm-l6", tiny_csv, {"max_validation_rows": 90},
                         train={"strategy": "lora", "max_steps": 20, "lr": 5e-3, "eval_every": 5,
                                "logging_steps": 10})
    result = ftui("train", recipe, "--headless")
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "runs" / "tiny"
    start = events_of(run, "run_start")[0]
    assert start["params_trainable"] < start["params_total"] / 100
    first, last = (e["metrics"] for e in events_of(run, "eval")[::len(events_of(run, "eval")) - 1])
    assert last["loss"] < first["loss"] and last["accuracy"] > first["accuracy"] + 0.1, (first, last)


PLAIN_LOGITS = """
import json, sys
sys.modules["peft"] = None  # prove the checkpoint needs no peft
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer
folder, texts = sys.argv[1], json.loads(sys.argv[2])
model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
assert type(model).__name__ == "BertForSequenceClassification", type(model)
batch = AutoTokenizer.from_pretrained(folder)(texts, padding=True, return_tensors="pt")
with torch.no_grad():
    print(json.dumps({"logits": model(**batch).logits.tolist(), "labels": model.config.id2label}))
"""


def test_checkpoint_is_a_plain_model_with_the_peft_models_logits(lora_run, tiny_model_dir):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    run, _ = lora_run
    checkpoint = run / "checkpoints" / "checkpoint-40"
    result = subprocess.run([sys.executable, "-c", PLAIN_LOGITS, str(checkpoint), json.dumps(TEXTS)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    plain = json.loads(result.stdout.strip().splitlines()[-1])
    assert list(plain["labels"].values()) == ["negative", "neutral", "positive"]

    base = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=3)
    peft_model = PeftModel.from_pretrained(base, checkpoint / "adapter").eval()
    batch = AutoTokenizer.from_pretrained(checkpoint)(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        wrapped = peft_model(**batch).logits
    assert torch.allclose(torch.tensor(plain["logits"]), wrapped, atol=1e-5)


def test_resume_continues_from_the_adapters(lora_run, tmp_path):
    """A crash after checkpoint-20: the resumed run redoes steps 21..40 exactly as the first did."""
    import torch

    original, _ = lora_run
    run = tmp_path / "tiny"
    shutil.copytree(original, run, ignore=shutil.ignore_patterns("export"))
    shutil.rmtree(run / "checkpoints" / "checkpoint-40")
    (run / "checkpoints" / "best.json").write_text(json.dumps(
        {"checkpoint": "checkpoint-20", "metric": "accuracy", "value": 0.0, "step": 20}))
    before = [(e["step"], e["loss"]) for e in events_of(run, "step") if e["step"] > 20]

    result = ftui("train", "--resume", run, "--headless")
    assert result.returncode == 0, result.stderr[-3000:]
    start = events_of(run, "run_start")[-1]
    assert start["resumed_from"].endswith("checkpoint-20") and start["step"] == 20
    again = [(e["step"], e["loss"]) for e in events_of(run, "step") if e["t"] >= start["t"]]
    assert [s for s, _ in again] == [s for s, _ in before]
    assert [loss for _, loss in again] == pytest.approx([loss for _, loss in before], abs=2e-4), \
        "optimizer, scheduler, RNG and adapters must resume"
    redone = _load(run / "checkpoints" / "checkpoint-40" / "model.safetensors")
    first = _load(original / "checkpoints" / "checkpoint-40" / "model.safetensors")
    assert all(torch.allclose(redone[k], first[k], atol=1e-5) for k in first)


def test_export_and_predict_need_no_peft(lora_run, tmp_path):
    run, _ = lora_run
    out = tmp_path / "export"
    result = ftui("export", run, "--onnx", "--no-benchmark", "--output", out, "--threads", "1")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    bundle = next(p.parent for p in out.rglob("bundle.json"))
    report = json.loads((bundle / "report.json").read_text())
    assert report["passed"] and report["failed_gates"] == []
    best = json.loads((run / "checkpoints" / "best.json").read_text())["checkpoint"]
    assert report["checkpoint"].endswith(best)
    assert not list(bundle.rglob("adapter*")), "the bundle is a plain model"
    answer = ftui("predict", bundle, "I love this so much", "--json")
    assert answer.returncode == 0, answer.stderr[-2000:]
    line = json.loads(answer.stdout.strip().splitlines()[0])
    assert line["label"] in ("negative", "neutral", "positive")


def assert_one_line_error(result, *fragments):
    assert result.returncode == 2, (result.returncode, result.stdout[-500:], result.stderr[-2000:])
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ftui: "), result.stderr[-2000:]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


@pytest.mark.parametrize("targets,fragments", [
    ("query,qkv_proj,bogus", ("no module named qkv_proj, bogus", "query", "value")),
    ("LayerNorm", ("LayerNorm", "not a Linear, Conv or Embedding layer")),
])
def test_bad_lora_targets_are_one_line_before_a_run_dir(make_recipe, tmp_path, targets, fragments):
    result = ftui("train", make_recipe(train={"strategy": "lora", "lora_targets": targets}), "--headless")
    assert_one_line_error(result, "train.lora_targets", *fragments)
    assert not (tmp_path / "runs").exists(), "bad input must not leave a run directory"


def test_bad_targets_of_a_hub_model_in_the_local_cache_are_refused_before_a_run_dir(make_recipe, tiny_model_dir,
                                                                                     tmp_path):
    """A hub id whose weights sit in the HF cache is checked from the cached safetensors header, offline."""
    cache = tmp_path / "hf-cache"
    repo = cache / "models--someorg--tiny-bert"
    shutil.copytree(tiny_model_dir, repo / "snapshots" / "0123abc")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abc")
    recipe = make_recipe(model={"name": "someorg/tiny-bert"}, train={"strategy": "lora", "lora_targets": "bogus"})
    env = {**os.environ, "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-m", "ftui.tui.cli", "train", str(recipe), "--headless"],
                            capture_output=True, text=True, env=env, timeout=120)
    assert_one_line_error(result, "train.lora_targets", "no module named bogus", "someorg/tiny-bert")
    assert not (tmp_path / "runs").exists(), "bad input must not leave a run directory"


def test_targets_are_checked_on_the_loaded_model_too(tiny_model_dir):
    """A model whose weights cannot be read ahead (hub, .bin) is checked when it loads."""
    from transformers import AutoModelForSequenceClassification

    from ftui.trainer.errors import RecipeError
    from ftui.trainer.recipe import TrainSection
    from ftui.trainer.engine.strategies import apply_strategy, default_targets, head_modules

    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=3)
    assert default_targets(model) == ["query", "value"] and head_modules(model) == ["classifier"]
    with pytest.raises(RecipeError, match="no module named nope in the bert model"):
        apply_strategy(model, TrainSection(strategy="lora", lora_targets="value,nope"))
    wrapped = apply_strategy(model, TrainSection(strategy="lora", lora_targets="attention.self.key,dense"))
    trained = {n for n, p in wrapped.named_parameters() if p.requires_grad}
    assert any("attention.self.key.lora_A" in n for n in trained)
    assert any("output.dense.lora_B" in n for n in trained)
    assert not any("query" in n or "word_embeddings" in n for n in trained)


@pytest.mark.parametrize("kind", ["vit", "resnet"])
def test_image_models_get_adapters_and_a_trained_head(kind, tmp_path):
    """Image classification: no peft task type; the head is saved in full, the merge is plain."""
    import torch
    from transformers import (ResNetConfig, ResNetForImageClassification, ViTConfig,
                              ViTForImageClassification)

    from ftui.trainer.recipe import TrainSection
    from ftui.trainer.engine.strategies import apply_strategy, default_targets, save_merged

    torch.manual_seed(0)
    if kind == "vit":
        model = ViTForImageClassification(ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2,
                                                    num_attention_heads=2, intermediate_size=64, num_labels=3))
    else:
        model = ResNetForImageClassification(ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1],
                                                          layer_type="basic", num_labels=3))
    assert default_targets(model) == (["query", "value"] if kind == "vit" else ["convolution"])
    wrapped = apply_strategy(model, TrainSection(strategy="lora"), "image-classification")
    trained = {n for n, p in wrapped.named_parameters() if p.requires_grad}
    assert any(".modules_to_save." in n and "classifier" in n for n in trained)
    assert all("lora_" in n or ".modules_to_save." in n for n in trained)
    pixels, labels = torch.randn(2, 3, 32, 32), torch.tensor([0, 2])
    wrapped(pixel_values=pixels, labels=labels).loss.backward()
    torch.optim.SGD([p for p in wrapped.parameters() if p.requires_grad], lr=0.5).step()  # B moves off 0
    assert any(p.abs().max() > 0 for n, p in wrapped.named_parameters() if "lora_B" in n)
    save_merged(wrapped, tmp_path)
    plain = type(model).from_pretrained(tmp_path).eval()
    with torch.no_grad():
        assert torch.allclose(plain(pixel_values=pixels).logits, wrapped.eval()(pixel_values=pixels).logits, atol=1e-5)


def test_token_classification_lora(tmp_path, tiny_model_dir):
    """NER with LoRA: peft's TOKEN_CLS wrapping, a plain merged checkpoint that exports."""
    pytest.importorskip("ftui.trainer.tasks.ner")
    recipe = recipe_with(tmp_path, tiny_model_dir, "demo:wnut16", {"max_train_rows": 320},
                         task={"type": "token-classification"},
                         train={"strategy": "lora", "max_steps": 12, "eval_every": 12})
    result = ftui("train", recipe, "--headless")
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "runs" / "tiny"
    start = events_of(run, "run_start")[0]
    assert start["strategy"] == "lora" and start["params_trainable"] < start["params_total"] / 50
    checkpoint = run / "checkpoints" / "checkpoint-12"
    config = json.loads((checkpoint / "config.json").read_text())
    assert config["architectures"] == ["BertForTokenClassification"]
    assert (checkpoint / "adapter" / "adapter_model.safetensors").is_file()
    assert not any("lora" in k for k in _load(checkpoint / "model.safetensors"))
    if Path(__file__).parent.parent.joinpath("export", "task_ner.py").is_file():
        result = ftui("export", run, "--onnx", "--no-benchmark", "--threads", "1")
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        assert json.loads((run / "export" / "bundle" / "report.json").read_text())["passed"]


# --- what the person sees -------------------------------------------------------------------

def test_trainable_words():
    from ftui.tui.run_header import trainable_words

    lora = {"strategy": "lora", "params_total": 23_013_216, "params_trainable": 300_000}
    assert trainable_words(lora) == "lora · 0.30M / 23.0M trainable (1.3%)"
    assert trainable_words(lora, short=True) == "lora 0.30M/23.0M 1.3%"
    frozen = {"strategy": "frozen", "params_total": 22_714_371, "params_trainable": 1_155}
    assert trainable_words(frozen) == "frozen · 1.2k / 22.7M trainable (0.01%)"
    assert trainable_words({"strategy": "full", "params_total": 950, "params_trainable": 950}) == \
        "full · 950 / 950 trainable (100%)"
    assert trainable_words({}) == ""


class LoraFake(FakeTrainer):
    """The scripted trainer, announcing a LoRA run of MiniLM."""

    def start(self):
        super().start()
        self.log.emit("run_start", 0, run=self.name, model="minilm-l6", task="sequence-classification",
                      labels=["neg", "pos"], metric="accuracy", train_rows=1000, validation_rows=200,
                      total_steps=self.total_steps, epochs=self.epochs, batch_size=16,
                      params_total=23_013_216, params_trainable=300_000, strategy="lora",
                      precision="fp32", device="cpu", resumed_from=None)
        return self


@pytest.mark.parametrize("size,words", [
    ((80, 24), "lora 0.30M/23.0M 1.3%"),
    ((160, 48), "lora · 0.30M / 23.0M trainable (1.3%)"),
])
async def test_cockpit_header_shows_what_trains(tmp_path, size, words):
    fake = LoraFake(tmp_path / "minilm-l6-tweets-20250101-120000", total_steps=200).claim_process().start()
    fake.write_history(120, eval_every=30)
    app = open_cockpit(fake.run)
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: words in widget_text(app, "#header"), what=words)
        header = widget_text(app, "#header").splitlines()
        assert len(header) == 2 and "minilm-l6-tweets-20250101-120000" in header[0]
        assert "step 120/200" in header[1] and "ETA" in header[1]
        for pane in ("#chart", "#metrics", "#hardware", "#checkpoints", "#log", "#commands"):
            region = app.screen.query_one(pane).region
            assert region.width > 0 and region.height > 0 and region.right <= size[0], pane
        assert "best acc" in widget_text(app, "#metrics")
        assert len(screen_text(app).splitlines()) == size[1]
