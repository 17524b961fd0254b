"""The pass/fail checks an export must meet; each names itself so a failure says which gate."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Gate:
    name: str
    passed: bool
    detail: str

    def to_dict(self) -> dict:
        return asdict(self)


def tokenization_gate(check: dict) -> Gate:
    """The bundle's tokenizer must give the ids training used (the HF tokenizer of the checkpoint)."""
    same = check["texts"] - check["mismatches"]
    detail = f"{same}/{check['texts']} texts tokenized as the checkpoint's tokenizer does"
    if check["mismatches"]:
        detail += f"; first difference: {check['first_mismatch']!r}"
    return Gate("tokenization", not check["mismatches"], detail)


def atol_gate(variant: str, max_abs_diff: float, atol: float) -> Gate:
    ok = max_abs_diff <= atol
    return Gate(f"{variant} atol", ok, f"max |Δlogit| {max_abs_diff:.2e} {'<=' if ok else '>'} atol {atol:.0e}")


def accuracy_gate(variant: str, drop_pts: float, max_drop: float, metric: str = "accuracy") -> Gate:
    ok = drop_pts <= max_drop
    return Gate(f"{variant} accuracy drop", ok,
                f"{metric} drop {drop_pts:.2f} pts {'<=' if ok else '>'} {max_drop:.2f} pts")


def shape_gate(variant: str, check: dict) -> Gate:
    detail = f"{check['input']} -> logits {check['output_shape']}"
    if check["static_axes"]:
        detail += f"; fixed axes: {', '.join(check['static_axes'])}"
    return Gate(f"{variant} dynamic axes", check["ok"], detail)
