"""benchmarks/accuracy.py: the "largest reduction within 0.5 points" rule and the file it writes."""

from __future__ import annotations

from benchmarks.accuracy import QUICK, best_within, to_markdown


def _row(method, ratio, acc, base, flops, params, n=3):
    return {"method": method, "ratio": ratio, "recover": "finetune", "n": n, "accuracy": acc, "accuracy_std": 0.02,
            "baseline_accuracy": base, "baseline_accuracy_std": 0.01, "flops_reduction": flops,
            "params_reduction": params, "macs_reduction": flops, "speedup": 2.0}


ROWS = [_row("lfp", 0.5, 0.712, 0.715, 0.75, 0.74),  # -0.3 points: holds
        _row("lfp", 0.9, 0.700, 0.715, 0.98, 0.97),  # -1.5 points: does not hold
        _row("uwmp", 0.9, 0.716, 0.715, 0.0, 0.90)]  # holds, params only


def test_best_within_half_a_point():
    assert best_within(ROWS, "flops_reduction")["method"] == "lfp"
    assert best_within(ROWS, "flops_reduction")["ratio"] == 0.5
    assert best_within(ROWS, "params_reduction")["method"] == "uwmp"
    assert best_within([ROWS[1]], "flops_reduction") is None


def test_markdown_names_the_setting_and_labels_quick(monkeypatch):
    res = {"ccnn-deap": {"table": {"rows": ROWS, "skipped": {}, "failed": {}}, "kg_cells": {}},
           "eegnet-deap": {"table": {"rows": [ROWS[1]], "skipped": {}, "failed": {}}, "kg_cells": {}}}
    text = to_markdown(res, QUICK, True, 120.0, "local", 0)
    assert "**QUICK RUN**" in text and "`python -m benchmarks.accuracy --quick`" in text
    assert "| ccnn-deap | FLOPs | 71.5 ± 1.0 | −75.0% | lfp 0.5 finetune: 71.2 ± 2.0 %" in text
    assert "| ccnn-deap | params | 71.5 ± 1.0 | −90.0% | uwmp 0.9 finetune" in text
    assert "| eegnet-deap | FLOPs | 71.5 ± 1.0 | none within 0.5 points | best accuracy 70.0 ± 2.0 (lfp 0.9" in text


def test_seventy_five_names_the_setting_or_the_best_that_held():
    from benchmarks.accuracy import seventy_five

    res = {"ccnn-deap": {"table": {"rows": ROWS}}}  # lfp 0.5: FLOPs -75.0 %, -0.3 points: holds
    assert seventy_five(res).startswith("**≥ 75 % fewer FLOPs within 0.5 points of the baseline:** ccnn-deap lfp "
                                        "0.5 finetune (FLOPs −75.0%, Δ -0.3 points)")
    low = [_row("lfp", 0.3, 0.715, 0.715, 0.51, 0.5), ROWS[1]]  # -51 % holds, -98 % does not
    text = seventy_five({"eegnet-deap": {"table": {"rows": low}}})
    assert text.startswith("**No setting with ≥ 75 % fewer FLOPs held accuracy within 0.5 points.**")
    assert "eegnet-deap lfp 0.3 finetune (FLOPs −51.0%)" in text


def test_cells_skipped_for_one_reason_are_one_line():
    why = "CCNN has no BatchNorm layers; use --method lfp"
    skipped = {f"nsfp-r{r}-finetune-f{f}": why for r in (0.5, 0.8) for f in range(3)}
    skipped["lfp-r0.8-scratch-f1"] = "out of memory"
    res = {"ccnn-deap": {"table": {"rows": ROWS, "skipped": skipped, "failed": {}}, "kg_cells": {}}}
    lines = [ln for ln in to_markdown(res, QUICK, True, 120.0, "local", 0).splitlines() if ln.startswith("- skipped")]
    assert lines == ["- skipped 6 cells (`nsfp-r0.5-finetune-f0`, `nsfp-r0.5-finetune-f1`, ...): " + why,
                     "- skipped `lfp-r0.8-scratch-f1`: out of memory"]
