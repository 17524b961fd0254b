"""The diagnosis rules (rundir/diagnosis.py) on synthetic event streams: each kind, the healthy case,
hysteresis, and any event sequence (hypothesis) neither crashes the diagnoser nor changes its answer."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from ftui.rundir.diagnosis import CONFIRM_EVALS, Diagnoser, diagnose
from ftui.rundir.events_schema import check_event
from ftui.rundir.runstate import fold

START = {"type": "run_start", "t": 1, "step": 0, "metric": "accuracy", "labels": ["a", "b", "c"],
         "validation_class_counts": {"a": 50, "b": 30, "c": 20}, "params_total": 1000, "params_trainable": 1000}


def stream(train, evals, accuracy=None, lr=2e-5, grad=1.0, start=START, steps_per_eval=10):
    """run_start, then per evaluation ``steps_per_eval`` step events at ``train[i]`` and one eval."""
    events = [dict(start)]
    for i, (tl, el) in enumerate(zip(train, evals)):
        for s in range(steps_per_eval):
            step = i * steps_per_eval + s + 1
            g = grad[i] if isinstance(grad, list) else grad
            events.append({"type": "step", "t": 2, "step": step, "loss": tl, "lr": lr, "grad_norm": g})
        acc = accuracy[i] if accuracy else 0.8
        events.append({"type": "eval", "t": 3, "step": (i + 1) * steps_per_eval, "metrics": {"loss": el, "accuracy": acc}})
    return events


def kinds(events):
    return [d.kind for d in diagnose(events)[1]]


def test_a_healthy_run_gets_no_diagnosis():
    events = stream([1.0, 0.8, 0.6, 0.5, 0.45, 0.42], [0.9, 0.75, 0.62, 0.55, 0.52, 0.50],
                    accuracy=[0.6, 0.7, 0.75, 0.8, 0.82, 0.83])
    assert diagnose(events) == (None, [])


def test_eval_loss_rising_while_train_falls_is_overfitting_with_its_numbers():
    events = stream([0.5, 0.35, 0.30, 0.25, 0.21], [0.7, 0.41, 0.45, 0.48, 0.52])
    current, changes = diagnose(events)
    assert [c.kind for c in changes] == ["overfitting"]
    assert current.since_step == 20 and current.action == "stop_keep_best"
    assert "eval loss rose 3 evaluations in a row, 0.41 -> 0.52, while train loss fell 0.35 -> 0.21" in current.evidence


def test_a_growing_gap_with_stalled_eval_loss_is_overfitting():
    events = stream([0.9, 0.6, 0.45, 0.30, 0.15], [0.7, 0.50, 0.55, 0.52, 0.53])
    current, _ = diagnose(events)
    assert current.kind == "overfitting" and "gap grew" in current.evidence


def test_frozen_flat_at_baseline_is_underfitting_and_suggests_unfreezing():
    frozen = {**START, "params_trainable": 20}
    events = stream([1.03] * 4, [1.03] * 4, accuracy=[0.5] * 4, start=frozen)
    current, _ = diagnose(events)
    assert current.kind == "underfitting" and current.action == "unfreeze"
    assert "accuracy 0.5 is no better than the majority-class baseline 0.5" in current.evidence
    assert "only 2% of the parameters train" in current.evidence


def test_flat_at_baseline_with_a_tiny_rate_suggests_raising_it():
    current, _ = diagnose(stream([1.03] * 4, [1.03] * 4, accuracy=[0.5] * 4, lr=1e-8))
    assert (current.kind, current.action) == ("underfitting", "raise_lr")


def test_without_class_counts_the_eval_loss_against_the_prior_entropy_decides():
    start = {k: v for k, v in START.items() if k != "validation_class_counts"}  # an older run
    current, _ = diagnose(stream([1.1] * 4, [1.099] * 4, accuracy=[0.9] * 4, start=start))
    assert current.kind == "underfitting" and "class frequencies (1.1)" in current.evidence


def test_a_loss_that_rose_above_its_start_and_stays_at_the_baseline_is_lr_too_high():
    """Too high a rate: the loss jumps above where it began and the model sits at the class prior."""
    current, changes = diagnose(stream([1.03, 1.3, 1.2, 1.15], [1.1, 1.2, 1.12, 1.1], accuracy=[0.5] * 4, lr=0.1))
    assert [c.kind for c in changes] == ["lr_too_high"] and current.action == "lower_lr"
    assert current.since_step == 10  # said at the third evaluation, the first the rule may speak at
    assert ("accuracy 0.5 is no better than the majority-class baseline 0.5; the train loss rose to 1.3 from "
            "the first logged 1.03 and has not fallen below it since (1.2 now), at lr 0.1") == current.evidence


def test_a_loss_that_came_back_below_its_start_is_not_lr_too_high():
    """The same rise, then learning: below the first loss again, the model is on its way."""
    assert "lr_too_high" not in kinds(stream([1.03, 1.3, 0.9, 0.6, 0.4], [1.1, 1.2, 0.9, 0.6, 0.45],
                                             accuracy=[0.5, 0.5, 0.6, 0.7, 0.8], lr=0.1))


def test_a_model_that_fits_its_training_data_no_better_than_the_prior_is_not_overfitting():
    """Eval loss rising while train loss falls, but the train loss never gets below the class prior's
    entropy (1.03): nothing was fitted, so nothing is overfitted. Below it, the same eval curve is."""
    rising_eval = [1.1, 1.12, 1.15, 1.2, 1.25]
    assert "overfitting" not in kinds(stream([1.2, 1.15, 1.1, 1.06, 1.05], rising_eval, accuracy=[0.5] * 5))
    assert "overfitting" in kinds(stream([1.2, 0.9, 0.6, 0.4, 0.3], rising_eval, accuracy=[0.5] * 5))


def test_a_loss_spike_is_diverging_at_once():
    current, changes = diagnose(stream([1.0, 0.9, 4.0], [0.9, 0.85, 3.5]))
    assert [c.kind for c in changes] == ["diverging"] and current.since_step == 30
    assert "4.0x the first logged loss 1" in current.evidence and current.action == "lower_lr"


def test_a_nan_loss_is_diverging():
    current, _ = diagnose(stream([1.0, math.nan], [0.9, math.nan]))
    assert current.kind == "diverging" and "non-finite" in current.evidence


def test_a_sustained_grad_norm_spike_is_diverging():
    current, _ = diagnose(stream([1.0, 0.9, 0.9], [0.9, 0.8, 0.75], grad=[1.0, 1.1, 30.0]))
    assert current.kind == "diverging" and "median grad norm 30" in current.evidence
    # the same gradients on a falling loss are a model learning (memorising, perhaps), not diverging
    assert diagnose(stream([1.0, 0.9, 0.8], [0.9, 0.8, 0.75], grad=[1.0, 1.1, 30.0])) == (None, [])


def test_a_steady_rise_short_of_a_spike_is_lr_too_high():
    current, _ = diagnose(stream([0.8, 0.9, 1.0, 1.1], [0.8, 0.8, 0.8, 0.8]))
    assert current.kind == "lr_too_high" and "0.8 -> 1.1" in current.evidence


def test_flat_loss_with_a_tiny_rate_off_the_baseline_is_lr_too_low():
    current, _ = diagnose(stream([0.5] * 4, [0.5] * 4, accuracy=[0.8] * 4, lr=1e-7))
    assert (current.kind, current.action) == ("lr_too_low", "raise_lr")


def test_no_improvement_for_four_evaluations_is_a_plateau():
    events = stream([0.5] * 6, [0.40, 0.39, 0.39, 0.40, 0.39, 0.40], accuracy=[0.84, 0.85, 0.85, 0.845, 0.85, 0.85])
    current, _ = diagnose(events)
    assert current.kind == "plateau" and "accuracy has not improved on 0.85 for 4 evaluations" in current.evidence


def test_a_kind_changes_only_after_holding_for_confirm_evals():
    """Overfitting, then one healthy-looking evaluation: still overfitting; it ends only once healthy holds."""
    d = Diagnoser()
    for e in stream([0.9, 0.6, 0.40, 0.30, 0.21], [0.7, 0.41, 0.45, 0.48, 0.52]):
        d.feed(e)
    assert d.current.kind == "overfitting"
    said = []
    for i, el in enumerate([0.40, 0.35]):
        for e in ({"type": "step", "t": 1, "step": 60 + i * 10, "loss": 0.2},
                  {"type": "eval", "t": 1, "step": 60 + i * 10, "metrics": {"loss": el, "accuracy": 0.8}}):
            said.append(d.feed(e))
    changes = [c for c in said if c is not None]
    assert CONFIRM_EVALS == 2 and [c.kind for c in changes] == ["healthy"]
    assert said[1] is None and d.current is None  # the first healthy verdict alone changed nothing


def test_run_state_folds_diagnosis_events_and_computes_one_for_older_runs():
    events = stream([0.9, 0.6, 0.40, 0.30, 0.21], [0.7, 0.41, 0.45, 0.48, 0.52])
    computed = fold(events).diagnosis
    assert computed["kind"] == "overfitting" and computed["computed"]
    written = {"type": "diagnosis", "t": 9, "step": 50, "kind": "plateau", "since_step": 30, "evidence": "e",
               "suggestion": "s", "action": "stop_keep_best"}
    assert fold(events + [written]).diagnosis["kind"] == "plateau"
    healthy = {**written, "kind": "healthy", "action": "none"}
    assert fold(events + [written, healthy]).diagnosis is None


def test_every_diagnosis_is_a_valid_event():
    for events in (stream([1.0, 0.9, 4.0], [0.9, 0.85, 3.5]), stream([0.5] * 4, [0.5] * 4, lr=1e-7)):
        for change in diagnose(events)[1]:
            check_event({"type": "diagnosis", "t": 1, "step": 1, **change.fields()})


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                    max_leaves=8)
NUM = st.floats(allow_nan=True, allow_infinity=True) | st.integers(-5, 10**6) | st.sampled_from(["nan", "inf"])
EVENT = st.one_of(
    st.fixed_dictionaries({"type": st.just("step"), "t": st.just(1), "step": st.integers(0, 1000)},
                          optional={"loss": NUM, "lr": NUM, "grad_norm": NUM}),
    st.fixed_dictionaries({"type": st.just("eval"), "t": st.just(1), "step": st.integers(0, 1000),
                           "metrics": st.dictionaries(st.sampled_from(["loss", "accuracy", "f1"]), NUM)}),
    st.fixed_dictionaries({"type": st.just("run_start"), "t": st.just(1), "step": st.integers(0, 1000)},
                          optional={"metric": st.sampled_from(["accuracy", "loss", "f1_macro"]),
                                    "labels": st.lists(st.text(max_size=3), max_size=4),
                                    "validation_class_counts": st.dictionaries(st.text(max_size=3), st.integers(0, 9)),
                                    "params_total": st.integers(0, 99), "params_trainable": st.integers(0, 99),
                                    "resumed_from": st.text(max_size=3)}),
    JSON,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(EVENT, max_size=40))
def test_any_event_sequence_never_crashes_and_is_deterministic(events):
    first, again = diagnose(events), diagnose(events)
    assert first == again
    for change in first[1]:
        check_event({"type": "diagnosis", "t": 1, "step": 1, **change.fields()})


def test_runs_json_carries_the_last_diagnosis(tmp_path):
    """`ftui runs --json`'s row: the summary's diagnosis; for a run that wrote none, the computed one."""
    from ftui.rundir.events import EventLog
    from ftui.rundir.layout import RunDir
    from ftui.rundir.summary import summarize

    old, new = tmp_path / "old", tmp_path / "new"
    for run in (old, new):
        run.mkdir()
        log = EventLog(run / "events.jsonl")
        for e in stream([0.5, 0.35, 0.30, 0.25, 0.21], [0.7, 0.41, 0.45, 0.48, 0.52]):
            log.emit(e.pop("type"), e.pop("step"), **{k: v for k, v in e.items() if k != "t"})
        if run == new:
            last = {"kind": "plateau", "since_step": 30, "evidence": "e", "suggestion": "s", "action": "stop_keep_best"}
            log.emit("diagnosis", 50, **last)
            log.emit("summary", 50, status="finished", diagnosis=last)
        log.close()
    assert summarize(RunDir(new))["diagnosis"]["kind"] == "plateau"
    computed = summarize(RunDir(old))["diagnosis"]
    assert computed["kind"] == "overfitting" and set(computed) == {"kind", "since_step", "evidence", "suggestion", "action"}
