"""Diagnosis of a run from its events: overfitting, underfitting, diverging, lr_too_low/high, plateau.

Pure and deterministic (standard library only): feed events in order to ``Diagnoser.feed``; after
each ``eval`` event it judges the run again and returns a ``Diagnosis`` when the diagnosed kind
changes ("healthy" ends an earlier one). The trainer's callback writes each change as a
``diagnosis`` event; readers (RunState) can run the same code over an older run's events.

Every rule looks at the train loss between evaluations (the mean of the step losses logged since
the previous evaluation: one noisy step never decides), the eval loss and the task metric, and
says in ``evidence`` the numbers it saw. The thresholds below are named and say why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .events_schema import DIAGNOSES as KINDS, DIAGNOSIS_ACTIONS as ACTIONS, Event, Invalid, check_event

# Evaluations in a row a trend must hold: two could be noise, three rarely are on a validation split.
TREND_EVALS = 3
# A train-loss window mean this many times the run's first logged loss is a spike: fine-tuning starts
# from the untrained head's loss, and a sound run never climbs far above where it began.
SPIKE_RATIO = 3.0
# Median grad norm since the last evaluation this many times the median of all earlier ones, while the
# train loss did not fall: the median ignores one odd batch, and a tenfold sustained rise that buys
# nothing is an optimizer thrown off course (memorising a training set also grows the norm, on a
# falling loss).
GRAD_SPIKE_RATIO = 10.0
# Grad norms seen before the rule above trusts their median.
GRAD_HISTORY_MIN = 5
# Relative fall of the train loss, from the first window to the latest, below which it is "flat".
FLAT_DROP = 0.05
# Evaluations before flat-loss rules (underfitting, lr_too_low, plateau) may speak: early windows are short.
FLAT_EVALS = 3
# The metric within this of the majority-class predictor's (accuracy: the largest class's share) is
# "at the baseline": the model has learned nothing a class count would not tell.
BASELINE_MARGIN = 0.05
# The eval loss at or above this share of the class prior's entropy is at the baseline too (the
# cross-entropy of always predicting the class frequencies is that entropy).
ENTROPY_SHARE = 0.95
# A rate at or below this is too low to fine-tune with: typical rates are 1e-5 to 5e-5 (and far
# higher for small heads), so 1e-6 is at least ten times below any of them.
LR_LOW = 1e-6
# A trainable share below this means most of the model is frozen: unfreezing is the suggestion.
FROZEN_SHARE = 0.10
# Train loss rising this much (relative) over TREND_EVALS windows, short of a spike, or above the first
# logged loss in a run that sits at the baseline: the rate is too high.
RISE_MIN = 0.10
# A train/eval gap below this (in loss units) is not worth calling overfitting however it grows.
GAP_MIN = 0.10
# Eval loss this far (relative) above its best while the train loss is below where it was then: the
# model kept fitting the training data and lost the validation data (this keeps a diagnosis standing
# while the eval loss wobbles near its new high rather than rising every evaluation).
OVERFIT_ABOVE_BEST = 0.20
# Plateau: no evaluation among the last PLATEAU_EVALS beat the best before them by this (relative).
PLATEAU_EVALS = 4
PLATEAU_DELTA = 0.01
# A verdict that replaces a diagnosis (or ends one) must hold this many evaluations in a row, so the
# diagnosis does not flap between kinds each evaluation; diverging is said at once (it costs the run).
CONFIRM_EVALS = 2

SUGGESTIONS = {
    "overfitting": ("stop_keep_best", "stop and keep the best checkpoint (s then q, or early_stopping.patience)"),
    "diverging": ("lower_lr", "lower the learning rate (L, x0.1) or resume from the best checkpoint with a lower train.lr"),
    "lr_too_high": ("lower_lr", "lower the learning rate (L, x0.3)"),
    "lr_too_low": ("raise_lr", "raise the learning rate (L, x10)"),
    "plateau": ("stop_keep_best", "stop and keep the best checkpoint, or lower the learning rate (L) to settle further"),
    "healthy": ("none", ""),
}
UNDERFIT_SUGGESTIONS = {
    "unfreeze": "unfreeze more of the model (train.strategy = \"full\", or fewer frozen layers)",
    "raise_lr": "raise the learning rate (L, x10)",
    "more_epochs": "train for more epochs (train.epochs) or with a larger model",
}


@dataclass(frozen=True)
class Diagnosis:
    kind: str
    since_step: int
    evidence: str
    suggestion: str
    action: str

    def fields(self) -> dict:
        """The ``diagnosis`` event's (and the summary's) fields."""
        return {"kind": self.kind, "since_step": self.since_step, "evidence": self.evidence,
                "suggestion": self.suggestion, "action": self.action}


@dataclass
class _Point:
    """One evaluation: its step, eval loss, metric, and the train loss / grad norms of the window before it."""
    step: int
    eval_loss: float | None
    metric: float | None
    train_loss: float | None
    grad_norm: float | None


@dataclass
class Diagnoser:
    """Folds events into evaluation points and judges the run after each one."""

    points: list = field(default_factory=list)
    current: Diagnosis | None = None       # None: healthy, never diagnosed or ended
    metric: str = "accuracy"
    greater_is_better: bool = True
    baseline: float | None = None          # the majority-class predictor's metric
    prior_entropy: float | None = None     # the eval loss of predicting the class frequencies
    trainable_share: float | None = None
    first_loss: float | None = None
    lr: float | None = None
    _window: list = field(default_factory=list)    # train losses since the last evaluation
    _grads: list = field(default_factory=list)     # grad norms since the last evaluation
    _old_grads: list = field(default_factory=list)  # every earlier grad norm
    _pending: tuple | None = None          # (verdict, evaluations it has held)
    _spike: tuple = ((), ())               # (grad norms of the latest window, all earlier ones), sorted

    def feed(self, event) -> Diagnosis | None:
        """Takes one event (a malformed one changes nothing); returns the new diagnosis when it changed."""
        if not isinstance(event, Event):
            try:
                event = check_event(event)
            except Invalid:
                return None
        handler = getattr(self, f"_on_{event['type']}", None)
        return handler(event) if handler is not None else None

    # --- folding ---------------------------------------------------------------------------
    def _on_run_start(self, e: dict) -> None:
        if e.get("resumed_from"):  # steps after the checkpoint will be redone
            self.points = [p for p in self.points if p.step <= e["step"]]
        self.metric = e.get("metric", self.metric)
        self.greater_is_better = self.metric != "loss"
        counts = e.get("validation_class_counts") or {k: 1 for k in e.get("labels", [])}
        total = sum(counts.values())
        if total and self.metric == "accuracy" and len(counts) > 1:
            self.baseline = max(counts.values()) / total
        if total and len(counts) > 1:
            self.prior_entropy = -sum(c / total * math.log(c / total) for c in counts.values() if c)
        if e.get("params_total") and e.get("params_trainable") is not None:
            self.trainable_share = e["params_trainable"] / e["params_total"]

    def _on_step(self, e: dict) -> None:
        loss, grad = e.get("loss"), e.get("grad_norm")
        if loss is not None:
            self._window.append(loss)
            if self.first_loss is None and math.isfinite(loss):
                self.first_loss = loss
        if grad is not None:
            self._grads.append(grad)
        if e.get("lr") is not None:
            self.lr = e["lr"]

    def _on_eval(self, e: dict) -> Diagnosis | None:
        metrics = e["metrics"]
        window = self._window or ([self.points[-1].train_loss] if self.points and self.points[-1].train_loss is not None else [])
        grads = sorted(self._grads)
        self.points.append(_Point(e["step"], metrics.get("loss"), metrics.get(self.metric),
                                  _mean(window), grads[len(grads) // 2] if grads else None))
        self._spike = (grads, sorted(self._old_grads))
        self._old_grads += self._grads
        self._window, self._grads = [], []
        return self._settle(self.judge())

    # --- deciding --------------------------------------------------------------------------
    def judge(self) -> Diagnosis:
        """The raw verdict at the latest evaluation: the first rule that holds, else healthy."""
        for rule in (self._diverging, self._overfitting, self._lr_too_high, self._underfitting,
                     self._lr_too_low, self._plateau):
            found = rule()
            if found is not None:
                return found
        step = self.points[-1].step if self.points else 0
        return _make("healthy", step, "no rule holds: the losses and the metric move as they should")

    def _settle(self, verdict: Diagnosis) -> Diagnosis | None:
        """Hysteresis: a first diagnosis and diverging are said at once; a change of kind, or the end
        of a diagnosis, only once the verdict has held CONFIRM_EVALS evaluations in a row."""
        current = self.current.kind if self.current else "healthy"
        if verdict.kind == current:
            self._pending = None
            return None
        held = self._pending[1] + 1 if self._pending and self._pending[0] == verdict.kind else 1
        self._pending = (verdict.kind, held)
        if current != "healthy" and verdict.kind != "diverging" and held < CONFIRM_EVALS:
            return None
        self._pending = None
        self.current = None if verdict.kind == "healthy" else verdict
        return verdict

    def _diverging(self) -> Diagnosis | None:
        p = self.points[-1]
        if any(v is not None and not math.isfinite(v) for v in (p.train_loss, p.eval_loss, p.grad_norm)):
            return _make("diverging", p.step, f"a non-finite loss or grad norm by step {p.step} "
                         f"(train loss {_f(p.train_loss)}, eval loss {_f(p.eval_loss)}, grad norm {_f(p.grad_norm)})")
        if self.first_loss and p.train_loss is not None and p.train_loss >= SPIKE_RATIO * self.first_loss:
            return _make("diverging", p.step, f"train loss {_f(p.train_loss)} since the last evaluation is "
                         f"{p.train_loss / self.first_loss:.1f}x the first logged loss {_f(self.first_loss)}")
        recent, earlier = self._spike
        rising = len(self.points) > 1 and None not in (p.train_loss, self.points[-2].train_loss) \
            and p.train_loss >= self.points[-2].train_loss  # large gradients on a falling loss are learning
        if rising and recent and len(earlier) >= GRAD_HISTORY_MIN:
            now, before = recent[len(recent) // 2], earlier[len(earlier) // 2]
            if before > 0 and now >= GRAD_SPIKE_RATIO * before:
                return _make("diverging", p.step, f"median grad norm {_f(now)} since the last evaluation is "
                             f"{now / before:.0f}x the earlier median {_f(before)}")
        return None

    def _overfitting(self) -> Diagnosis | None:
        pts = self._last(TREND_EVALS + 1, "eval_loss", "train_loss")
        if pts is None or not self._fits_training_data(pts[-1].train_loss):
            return None
        ev, tr = [p.eval_loss for p in pts], [p.train_loss for p in pts]
        if _rising(ev) and tr[-1] < tr[0]:
            return _make("overfitting", pts[0].step, f"eval loss rose {TREND_EVALS} evaluations in a row, "
                         f"{_f(ev[0])} -> {_f(ev[-1])}, while train loss fell {_f(tr[0])} -> {_f(tr[-1])}")
        best = min((p for p in self.points if p.eval_loss is not None and p.train_loss is not None),
                   key=lambda p: p.eval_loss)
        if best.eval_loss > 0 and ev[-1] >= (1 + OVERFIT_ABOVE_BEST) * best.eval_loss and tr[-1] < best.train_loss:
            return _make("overfitting", best.step, f"eval loss {_f(ev[-1])} is {ev[-1] / best.eval_loss - 1:.0%} above "
                         f"its best {_f(best.eval_loss)} (step {best.step}), while train loss fell "
                         f"{_f(best.train_loss)} -> {_f(tr[-1])}")
        gaps = [e - t for e, t in zip(ev, tr)]
        best_eval = best.eval_loss
        if _rising(gaps) and gaps[-1] >= GAP_MIN and ev[-1] > best_eval and tr[-1] < tr[0]:
            return _make("overfitting", pts[0].step, f"the eval-train loss gap grew {TREND_EVALS} evaluations "
                         f"in a row, {_f(gaps[0])} -> {_f(gaps[-1])}, while eval loss stalled above its best "
                         f"{_f(best_eval)}")
        return None

    def _lr_too_high(self) -> Diagnosis | None:
        pts = self._last(TREND_EVALS + 1, "train_loss")
        if pts is not None:
            tr = [p.train_loss for p in pts]
            if _rising(tr) and tr[-1] >= (1 + RISE_MIN) * tr[0]:
                return _make("lr_too_high", pts[0].step, f"train loss rose {TREND_EVALS} evaluations in a row, "
                             f"{_f(tr[0])} -> {_f(tr[-1])}, at lr {_f(self.lr)}")
        return self._stuck_above_start()

    def _stuck_above_start(self) -> Diagnosis | None:
        """At the baseline after FLAT_EVALS evaluations, with a train loss that rose RISE_MIN above the first
        logged loss and has not come back below it: too high a rate throws the weights about the class
        prior (a loss that merely stays flat from the start is underfitting, below)."""
        losses = [p.train_loss for p in self.points if p.train_loss is not None]
        baseline = self._at_baseline()
        if len(losses) < FLAT_EVALS or not self.first_loss or baseline is None:
            return None
        peak, floor = max(losses), (1 - FLAT_DROP) * self.first_loss
        if peak < (1 + RISE_MIN) * self.first_loss or min(losses) < floor:
            return None
        return _make("lr_too_high", self.points[0].step, f"{baseline}; the train loss rose to {_f(peak)} from "
                     f"the first logged {_f(self.first_loss)} and has not fallen below it since "
                     f"({_f(losses[-1])} now), at lr {_f(self.lr)}")

    def _fits_training_data(self, train_loss: float) -> bool:
        """Whether the train loss is below the class prior's entropy: a model that fits its training data no
        better than class frequencies has nothing to overfit with, whatever its eval loss does."""
        return self.prior_entropy is None or train_loss < ENTROPY_SHARE * self.prior_entropy

    def _flat(self) -> tuple | None:
        """(first, latest) train-loss window means when the loss is flat after FLAT_EVALS evaluations."""
        if len(self.points) < FLAT_EVALS:
            return None
        losses = [p.train_loss for p in self.points if p.train_loss is not None]
        if len(losses) < FLAT_EVALS or losses[0] <= 0:
            return None
        return (losses[0], losses[-1]) if (losses[0] - losses[-1]) / losses[0] < FLAT_DROP else None

    def _at_baseline(self) -> str | None:
        """Words saying the model is no better than predicting the majority class, or None."""
        p = self.points[-1]
        if self.baseline is not None and p.metric is not None and p.metric <= self.baseline + BASELINE_MARGIN:
            return f"{self.metric} {_f(p.metric)} is no better than the majority-class baseline {_f(self.baseline)}"
        if self.prior_entropy and p.eval_loss is not None and p.eval_loss >= ENTROPY_SHARE * self.prior_entropy:
            return (f"eval loss {_f(p.eval_loss)} is no better than predicting the class frequencies "
                    f"({_f(self.prior_entropy)})")
        return None

    def _underfitting(self) -> Diagnosis | None:
        flat, baseline = self._flat(), self._at_baseline()
        if flat is None or baseline is None:
            return None
        if self.trainable_share is not None and self.trainable_share < FROZEN_SHARE:
            action, why = "unfreeze", f"; only {100 * self.trainable_share:.2g}% of the parameters train"
        elif self.lr is not None and self.lr <= LR_LOW:
            action, why = "raise_lr", f"; lr {_f(self.lr)}"
        else:
            action, why = "more_epochs", ""
        evidence = f"train loss flat, {_f(flat[0])} -> {_f(flat[1])}, and {baseline}{why}"
        return Diagnosis("underfitting", self.points[0].step, evidence, UNDERFIT_SUGGESTIONS[action], action)

    def _lr_too_low(self) -> Diagnosis | None:
        flat = self._flat()
        if flat is None or self.lr is None or self.lr > LR_LOW:
            return None
        return _make("lr_too_low", self.points[0].step, f"train loss flat, {_f(flat[0])} -> {_f(flat[1])}, "
                     f"at lr {_f(self.lr)} (at or below {LR_LOW:g})")

    def _plateau(self) -> Diagnosis | None:
        if self._flat() is None or len(self.points) <= PLATEAU_EVALS:
            return None
        name, sign = (self.metric, 1) if self.greater_is_better else ("loss", -1)
        values = [p.metric if name == self.metric else p.eval_loss for p in self.points]
        if any(v is None for v in values):
            return None
        before, recent = values[:-PLATEAU_EVALS], values[-PLATEAU_EVALS:]
        best = max(sign * v for v in before)
        if max(sign * v for v in recent) > best + PLATEAU_DELTA * abs(best):
            return None
        return _make("plateau", self.points[-PLATEAU_EVALS].step, f"{name} has not improved on "
                     f"{_f(sign * best)} for {PLATEAU_EVALS} evaluations and train loss is flat")

    def _last(self, n: int, *names: str) -> list | None:
        """The last ``n`` points when each has the named values (finite), else None."""
        pts = self.points[-n:]
        if len(pts) < n or any(getattr(p, k) is None or not math.isfinite(getattr(p, k)) for p in pts for k in names):
            return None
        return pts


def diagnose(events) -> tuple[Diagnosis | None, list[Diagnosis]]:
    """The current diagnosis (None: healthy) of an event sequence, and every change on the way."""
    diagnoser, changes = Diagnoser(), []
    for event in events:
        change = diagnoser.feed(event)
        if change is not None:
            changes.append(change)
    return diagnoser.current, changes


def diagnosis_line(e: dict) -> str:
    """A diagnosis event as a person reads it (headless and the log pane):
    ``diagnosis: overfitting since step 120 — <evidence>; suggestion: <suggestion>``."""
    if e.get("kind") == "healthy":
        return f"diagnosis: healthy again at step {e.get('step')} — {e.get('evidence', '')}"
    return (f"diagnosis: {e.get('kind')} since step {e.get('since_step', e.get('step'))} — {e.get('evidence', '')}; "
            f"suggestion: {e.get('suggestion', '')}")


def _make(kind: str, since_step: int, evidence: str) -> Diagnosis:
    action, suggestion = SUGGESTIONS[kind]
    return Diagnosis(kind, since_step, evidence, suggestion, action)


def _rising(values: list) -> bool:
    return all(b > a for a, b in zip(values, values[1:]))


def _mean(values: list) -> float | None:
    return sum(values) / len(values) if values else None


def _f(value) -> str:
    """A number as evidence prints it: three significant digits (1e-06 stays readable)."""
    return "?" if value is None else f"{value:.3g}"
