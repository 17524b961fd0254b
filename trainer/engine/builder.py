"""Builds the HF Trainer for a recipe: model, strategy, tokenized data, arguments, callback."""

from __future__ import annotations

import math
import os
from collections import Counter
from pathlib import Path

import torch
from transformers import TrainingArguments
from transformers.trainer_callback import PrinterCallback, ProgressCallback

from ftui.models.loading import count_parameters

from .accelerate_config import accelerate_precision
from .callback import FtuiCallback
from .distributed import world_size
from .ftui_trainer import FtuiTrainer
from .hf_args import check_names_and_types
from .strategies import apply_strategy
from ..tasks import TASKS, task_module
from .trackers import check_installed, parse_report_to, set_env_defaults


def pick_precision(requested: str) -> str:
    """auto on GPU: `accelerate config`'s mixed_precision if it set one, else bf16 where the GPU
    supports it, else fp16; fp32 on CPU."""
    if requested != "auto":
        return requested
    if not torch.cuda.is_available():
        return "fp32"
    configured = accelerate_precision()
    if configured == "bf16" and not torch.cuda.is_bf16_supported():
        configured = None  # accelerate would fail on this GPU: ftui's own choice instead
    return configured or ("bf16" if torch.cuda.is_bf16_supported() else "fp16")


def build_trainer(run, recipe, model_ref, data, events):
    t = recipe.train
    if t.threads:
        torch.set_num_threads(t.threads)
    torch.manual_seed(recipe.run.seed)
    parts = task_module(recipe.task.type).build(model_ref, recipe, data)
    model = apply_strategy(parts.model, t, recipe.task.type)
    precision = pick_precision(t.precision)
    set_env_defaults(run.path, t.report_to)
    args = training_arguments(run, recipe, precision, group_by_length=t.group_by_length and parts.group_by_length)
    callback = FtuiCallback(run.path, events=events, metric=recipe.early_stopping.metric,
                            patience=recipe.early_stopping.patience, min_delta=recipe.early_stopping.min_delta,
                            tokens_per_sample=parts.tokens_per_sample, standalone=False)
    trainer = FtuiTrainer(
        model=model, args=args, train_dataset=parts.train_set, eval_dataset=parts.val_set,
        data_collator=parts.collator, processing_class=parts.processing_class,
        compute_metrics=parts.compute_metrics,
        callbacks=[callback], events=events, strategy=t.strategy, llrd_decay=t.llrd_decay,
        keep_checkpoints=recipe.checkpoint.keep, task=recipe.task.type,
    )
    for noisy in (PrinterCallback, ProgressCallback):
        trainer.remove_callback(noisy)
    callback.trainer = trainer
    total, trainable = count_parameters(model)
    info = {
        "model": recipe.model.name, "model_source": model_ref.source, "task": recipe.task.type,
        "labels": data.label_names, "metric": recipe.early_stopping.metric,
        "train_rows": len(parts.train_set), "validation_rows": len(parts.val_set), **parts.info,
        "total_steps": _total_steps(trainer, len(parts.train_set), t),
        "epochs": planned_epochs(len(parts.train_set), t, args.world_size),
        "batch_size": t.batch_size, "grad_accum": t.grad_accum,
        "params_total": total, "params_trainable": trainable, "strategy": t.strategy,
        "precision": precision, "device": str(args.device), "world_size": args.world_size,
        **validation_class_counts(data.validation),
    }
    return trainer, callback, info


def validation_class_counts(validation) -> dict:
    """{"validation_class_counts": {label: rows}} of a classification split: the majority-class baseline
    the diagnosis compares the metric with (rundir/diagnosis.py); {} for NER's per-token tags."""
    labels = getattr(validation, "labels", None) or []
    if not labels or not all(isinstance(label, str) for label in labels):
        return {}
    return {"validation_class_counts": dict(sorted(Counter(labels).items()))}


def training_arguments(run, recipe, precision: str, group_by_length: bool | None = None) -> TrainingArguments:
    check_names_and_types(recipe.training_args)  # again: a resumed run's recipe.toml may have been edited
    check_installed(recipe.train.report_to)  # and the machine it resumes on may lack a tracker
    return TrainingArguments(**training_kwargs(run.path, recipe, precision, group_by_length))


def training_kwargs(run_path, recipe, precision: str, group_by_length: bool | None = None) -> dict:
    """ftui's TrainingArguments for a run in ``run_path``, then the recipe's [training_args]."""
    t, c = recipe.train, recipe.checkpoint
    eval_kwargs = {"eval_strategy": "steps", "eval_steps": t.eval_every} if t.eval_every else {"eval_strategy": "epoch"}
    if c.every:
        save_kwargs = {"save_strategy": "steps", "save_steps": c.every}
    else:
        save_kwargs = {"save_strategy": eval_kwargs["eval_strategy"], "save_steps": t.eval_every or 500}
    report_to = parse_report_to(t.report_to)
    ftui_args = dict(
        output_dir=str(Path(run_path) / "checkpoints"), logging_dir=str(Path(run_path) / "logs"),
        run_name=recipe.run.name or None, report_to=report_to or "none",
        num_train_epochs=t.epochs, max_steps=t.max_steps,
        learning_rate=t.lr, per_device_train_batch_size=t.batch_size,
        per_device_eval_batch_size=t.eval_batch_size, gradient_accumulation_steps=t.grad_accum,
        warmup_ratio=t.warmup_ratio, lr_scheduler_type=t.scheduler, weight_decay=t.weight_decay,
        label_smoothing_factor=t.label_smoothing,
        max_grad_norm=t.max_grad_norm, bf16=precision == "bf16", fp16=precision == "fp16",
        group_by_length=t.group_by_length if group_by_length is None else group_by_length, logging_strategy="steps", logging_steps=t.logging_steps,
        logging_first_step=True, logging_nan_inf_filter=False,  # ftui shows NaN, never hides it
        seed=recipe.run.seed, data_seed=recipe.run.seed, disable_tqdm=True,
        save_only_model=False, save_safetensors=True,
        dataloader_num_workers=default_dataloader_workers(recipe.task.type),
        dataloader_pin_memory=torch.cuda.is_available(),
        # Several CPU processes (torchrun without GPUs): accelerate's MULTI_CPU mode, gloo backend.
        use_cpu=world_size() > 1 and not torch.cuda.is_available(), ddp_find_unused_parameters=False,
        **eval_kwargs, **save_kwargs,
    )
    return {**ftui_args, **recipe.training_args}


def default_dataloader_workers(task: str, cuda: bool | None = None, cpus: int | None = None) -> int:
    """Worker processes that decode and augment images while the model trains: on a GPU, up to 4
    (2 cores each: a worker and the loop's own threads); on CPU none, since the loop's threads
    already use every core and a worker only competes with them (benchmarks/task_image.py measures
    both). Text is tokenized once up front and needs none."""
    cuda = torch.cuda.is_available() if cuda is None else cuda
    cpus = (os.cpu_count() or 1) if cpus is None else cpus
    if TASKS[task].inputs != "image" or not cuda:  # text is tokenized once, up front
        return 0
    return max(0, min(4, cpus // 2 - 1))


def _total_steps(trainer, train_rows: int, t) -> int:
    return total_steps(train_rows, t.batch_size, t.grad_accum, t.epochs, t.max_steps, trainer.args.world_size)


def planned_epochs(train_rows: int, t, world_size: int = 1) -> float:
    """The epochs the run will cover: train.epochs, or what train.max_steps amounts to."""
    if t.max_steps <= 0:
        return t.epochs
    return round(t.max_steps / steps_per_epoch(train_rows, t.batch_size, t.grad_accum, world_size), 2)


def total_steps(train_rows: int, batch_size: int, grad_accum: int, epochs: float, max_steps: int,
                world_size: int = 1) -> int:
    """The optimizer steps HF Trainer will take (its own arithmetic)."""
    if max_steps > 0:
        return max_steps
    return math.ceil(epochs * steps_per_epoch(train_rows, batch_size, grad_accum, world_size))


def steps_per_epoch(train_rows: int, batch_size: int, grad_accum: int, world_size: int = 1) -> int:
    """Optimizer steps in one epoch: batches over all ranks, per accumulation, at least one."""
    return max(math.ceil(train_rows / (batch_size * world_size)) // grad_accum, 1)
