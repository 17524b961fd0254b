"""HF ``Trainer`` with what ftui adds to the loop itself.

- A per-step NaN/inf check (HF's ``logging_nan_inf_filter`` hides non-finite losses).
- Real-token counting for tokens/s, kept on the device until a log step reads it.
- Atomic checkpoints: written under ``checkpoints/.staging`` and renamed into place, so a kill
  or a full disk during a save leaves the previous checkpoint whole.
- Layer-wise learning-rate decay param groups, and "evaluating"/"saving" status events.
- LoRA: a checkpoint holds the adapters in ``adapter/`` (what resume loads) and, at its top,
  the adapters merged into a plain HF model (config.json + model.safetensors: what export and
  ``from_pretrained`` load), both written in staging before the rename.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from transformers import Trainer

from ftui.rundir.layout import list_checkpoints

from .callback import CHECKPOINT_STATE, FtuiCallback
from .reference_logits import RecordingSampler, dataset_digests, ordered_logits, why_not_fp32, write_reference
from .sampling import EpochSeededLengthGroupedSampler
from .strategies import finish_checkpoint, is_peft, load_adapter

STAGING = ".staging"


class FtuiTrainer(Trainer):
    def __init__(self, *args, events=None, strategy: str = "full", llrd_decay: float = 0.9,
                 keep_checkpoints: int = 2, task: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.task = task  # with it, a checkpoint saved at an evaluation's step keeps its fp32 logits
        self._eval_sampler, self._eval_logits, self._eval_digests = None, None, None
        self.events = events
        self.strategy = strategy
        self.llrd_decay = llrd_decay
        self.keep_checkpoints = keep_checkpoints
        self.nonfinite_loss: float | None = None
        self.tokens_seen = torch.zeros((), dtype=torch.long, device=self.args.device)
        self._staging = False

    def train(self, resume_from_checkpoint=None, *args, **kwargs):
        if isinstance(resume_from_checkpoint, (str, os.PathLike)):
            for callback in self._ftui_callbacks():
                callback.restore_checkpoint_state(resume_from_checkpoint)
        return super().train(resume_from_checkpoint, *args, **kwargs)

    def _ftui_callbacks(self) -> list[FtuiCallback]:
        return [c for c in self.callback_handler.callbacks if isinstance(c, FtuiCallback)]

    # --- the step -------------------------------------------------------------------------
    def training_step(self, model, inputs, num_items_in_batch=None):
        if "attention_mask" in inputs:
            self.tokens_seen += inputs["attention_mask"].sum().to(self.tokens_seen.device)
        loss = super().training_step(model, inputs, num_items_in_batch)
        # One host sync a step: the same one HF's logging_nan_inf_filter already pays.
        if not torch.isfinite(loss).item():
            self.nonfinite_loss = float(loss.item())
        return loss

    # --- batches --------------------------------------------------------------------------
    def _get_train_sampler(self, train_dataset=None):
        """Length-grouped batches seeded per epoch, so a resume in any epoch draws the same ones."""
        dataset = train_dataset if train_dataset is not None else self.train_dataset
        if not self.args.group_by_length or dataset is None:
            return super()._get_train_sampler(train_dataset)
        seed = self.args.data_seed if self.args.data_seed is not None else self.args.seed
        names = getattr(self.processing_class, "model_input_names", None)
        return EpochSeededLengthGroupedSampler(self.args.train_batch_size * self.args.gradient_accumulation_steps,
                                               dataset, seed, model_input_name=names[0] if names else None)

    # --- optimizer ------------------------------------------------------------------------
    def create_optimizer(self):
        if self.strategy != "llrd" or self.optimizer is not None:
            return super().create_optimizer()
        groups = llrd_param_groups(self.model, self.args.learning_rate, self.args.weight_decay, self.llrd_decay)
        optimizer_cls, optimizer_kwargs = self.get_optimizer_cls_and_kwargs(self.args, self.model)
        optimizer_kwargs.pop("lr", None)
        self.optimizer = optimizer_cls(groups, lr=self.args.learning_rate, **optimizer_kwargs)
        return self.optimizer

    # --- evaluation -----------------------------------------------------------------------
    def evaluate(self, *args, **kwargs):
        self._status("evaluating")
        try:
            with rng_untouched():
                return super().evaluate(*args, **kwargs)
        finally:
            self._status("running")

    def _get_eval_sampler(self, eval_dataset):
        sampler = super()._get_eval_sampler(eval_dataset)
        self._eval_sampler = None if sampler is None else RecordingSampler(sampler)
        return self._eval_sampler

    def evaluation_loop(self, dataloader, description, prediction_loss_only=None, ignore_keys=None,
                        metric_key_prefix="eval"):
        """HF's loop; keeps its logits (in dataset order) when they are export's fp32 reference."""
        output = super().evaluation_loop(dataloader, description, prediction_loss_only, ignore_keys, metric_key_prefix)
        self._eval_logits = None
        if self.task and metric_key_prefix == "eval" and why_not_fp32(self, self.task) is None:
            logits = ordered_logits(output.predictions, self._eval_sampler, len(self.eval_dataset))
            if logits is not None:
                self._eval_logits = (self.state.global_step, logits)
        return output

    def _write_reference_logits(self, folder: Path) -> None:
        """The evaluation's logits into the checkpoint of the same step (rundir/reference_logits.py)."""
        kept = self._eval_logits
        if kept is None or kept[0] != self.state.global_step:
            return
        try:
            if self._eval_digests is None:  # the validation set does not change: hashed once a run
                self._eval_digests = dataset_digests(self.eval_dataset, self.model) or False
            if self._eval_digests:
                write_reference(folder, self.task, kept[0], kept[1], *self._eval_digests)
        except (OSError, ValueError, TypeError, KeyError):
            pass  # no reuse, export computes its reference: never a reason to lose the checkpoint

    # --- checkpoints ----------------------------------------------------------------------
    def _get_output_dir(self, trial):
        root = super()._get_output_dir(trial)
        return os.path.join(root, STAGING) if self._staging else root

    def _save_checkpoint(self, model, trial):
        if self.nonfinite_loss is not None:
            return  # never write non-finite weights over the last good checkpoint
        self._status("saving")
        root = Path(super()._get_output_dir(trial))
        staging = root / STAGING
        if self.args.should_save:
            shutil.rmtree(staging, ignore_errors=True)
        self.accelerator.wait_for_everyone()  # every rank writes its RNG state into staging
        self._staging = True
        name = f"checkpoint-{self.state.global_step}"
        try:
            super()._save_checkpoint(model, trial)
            if self.args.should_save and is_peft(self.model):
                finish_checkpoint(self.model, staging / name)  # adapter/ + merged plain weights
            if self.args.should_save:
                for callback in self._ftui_callbacks()[:1]:  # early stopping and best, for resume
                    state = callback.checkpoint_state(self.state.global_step)
                    (staging / name / CHECKPOINT_STATE).write_text(json.dumps(state), encoding="utf-8")
                self._write_reference_logits(staging / name)
        except BaseException:
            # A full disk or a crash mid-save: drop the partial copy, keep every finished checkpoint.
            if self.args.should_save:
                shutil.rmtree(staging, ignore_errors=True)
            raise
        finally:
            self._staging = False
        self.accelerator.wait_for_everyone()  # ... before rank 0 renames it into place
        if self.args.should_save:
            _fix_state_paths(staging / name, str(staging), str(root))
            _fsync_tree(staging / name)
            final = root / name
            if final.exists():  # a save at a step that already has one (e.g. stop after eval)
                shutil.rmtree(final)
            os.replace(staging / name, final)
            _fsync_dir(root)
            if self.state.best_model_checkpoint:
                self.state.best_model_checkpoint = self.state.best_model_checkpoint.replace(str(staging), str(root))
            shutil.rmtree(staging, ignore_errors=True)
        self._status("running")

    def _load_from_checkpoint(self, resume_from_checkpoint, model=None):
        """A LoRA checkpoint resumes from its adapters; HF would load its merged plain weights
        into the wrapped model instead (a key mismatch it only warns about)."""
        model = self.model if model is None else model
        if is_peft(model):
            return load_adapter(model, Path(resume_from_checkpoint))
        return super()._load_from_checkpoint(resume_from_checkpoint, model)

    def rotate(self, protect: set[str]) -> None:
        """Keeps the newest ``keep_checkpoints`` checkpoints plus the protected (best) ones."""
        found = list_checkpoints(Path(self.args.output_dir))
        for old in found[: max(0, len(found) - self.keep_checkpoints)]:
            if old.name not in protect:
                shutil.rmtree(old, ignore_errors=True)

    def _status(self, status: str) -> None:
        if self.events is not None and self.is_world_process_zero():
            self.events.emit("status", self.state.global_step, status=status, message="")


def llrd_param_groups(model, lr: float, weight_decay: float, decay: float) -> list[dict]:
    """Param groups whose lr shrinks by ``decay`` per level from the head down to the embeddings.

    A transformer's level is a numbered block (``encoder.layer.3.``); a conv net's is a stage, the
    blocks that share an output width (ResNet's ``stages.1``, MobileNetV2's bottleneck groups), with
    its stem (``embedder``, ``conv_stem``) at level 0."""
    layer_of = re.compile(r"\.(?:layer|layers|h|block|blocks)\.(\d+)\.")
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    blocks: list[str] = []  # block prefixes, in the order the model holds them
    for name, _ in named:
        if (match := layer_of.search(name)) and name[:match.end()] not in blocks:
            blocks.append(name[:match.end()])
    levels = block_levels(model, blocks)  # block prefix -> level, 1 = the one nearest the input
    depth = max(levels.values(), default=0)
    groups: dict[tuple[int, bool], dict] = {}
    for name, param in named:
        match = layer_of.search(name)
        if match:
            level = levels[name[:match.end()]]
        elif "embed" in name or "stem" in name:  # BERT's embeddings, ResNet's embedder, MobileNet's conv_stem
            level = 0
        else:
            level = depth + 1  # head and pooler: the full learning rate
        no_decay = param.ndim < 2 or "LayerNorm" in name or "layer_norm" in name
        key = (level, no_decay)
        group = groups.setdefault(key, {
            "params": [], "lr": lr * decay ** (depth + 1 - level),
            "weight_decay": 0.0 if no_decay else weight_decay,
        })
        group["params"].append(param)
    return list(groups.values())


@contextmanager
def rng_untouched():
    """Evaluation draws from the global RNGs (its DataLoader takes a base seed). Restoring them keeps
    training's random stream independent of when, and whether, evaluations run (one at a stop,
    say), so a checkpoint's RNG state is the same on either side of its step's evaluation."""
    python, numpy = random.getstate(), np.random.get_state()
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    try:
        with torch.random.fork_rng(devices=devices):
            yield
    finally:
        random.setstate(python)
        np.random.set_state(numpy)


def block_levels(model, blocks: list[str]) -> dict[str, int]:
    """A level per block; conv blocks share one per stage: the ``stages.N`` they sit in, else a run
    of consecutive blocks with the same output channels."""
    stage_of = re.compile(r"\.stages\.(\d+)\.")
    levels: dict[str, int] = {}
    previous = None
    for prefix in blocks:
        stage = _conv_stage(model, prefix, stage_of)
        if stage is None or stage != previous or not levels:
            levels[prefix] = len(set(levels.values())) + 1
        else:
            levels[prefix] = levels[blocks[blocks.index(prefix) - 1]]
        previous = stage
    return levels


def _conv_stage(model, prefix: str, stage_of) -> object | None:
    """What names the conv stage of the block at ``prefix`` (None for a block without a Conv2d)."""
    try:
        block = model.get_submodule(prefix.rstrip("."))
    except AttributeError:
        return None
    convs = [m for m in block.modules() if isinstance(m, torch.nn.Conv2d)]
    if not convs:
        return None
    match = stage_of.search(prefix)
    return prefix[:match.end()] if match else convs[-1].out_channels


def _fix_state_paths(checkpoint: Path, staging: str, root: str) -> None:
    state = checkpoint / "trainer_state.json"
    if state.is_file():
        text = state.read_text()
        if staging in text:
            data = json.loads(text)
            if data.get("best_model_checkpoint"):
                data["best_model_checkpoint"] = data["best_model_checkpoint"].replace(staging, root)
            state.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def _fsync_tree(folder: Path) -> None:
    for f in folder.iterdir():
        if f.is_dir():
            _fsync_tree(f)  # a LoRA checkpoint's adapter/
        elif f.is_file():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
