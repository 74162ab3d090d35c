"""Accuracy always carries its context: data source (synthetic said so), test-set size, a 95% Wilson interval and
the training each side received (issue 17)."""

from __future__ import annotations

import io
import math

import pytest
from rich.console import Console

from eegdeploy.export import ModelCardInfo, render_model_card
from eegdeploy.report.accuracy import accuracy_section, synthetic_warning, wilson_interval
from eegdeploy.report.render import to_markdown, to_table

from .test_render import make_result


@pytest.mark.parametrize("k, n, lo, hi", [
    (0, 10, 0.0, 0.2775),      # textbook values of the Wilson score interval (z = 1.96)
    (5, 10, 0.2366, 0.7634),
    (10, 10, 0.7225, 1.0),
    (81, 100, 0.7222, 0.8749),
])
def test_wilson_interval_matches_published_values(k, n, lo, hi):
    got = wilson_interval(k, n)
    assert got[0] == pytest.approx(lo, abs=5e-4) and got[1] == pytest.approx(hi, abs=5e-4)


def test_wilson_interval_against_a_brute_force_score_test():
    """The Wilson interval is the set of p whose score test does not reject k/n: find its ends by bisection."""
    k, n, z = 37, 90, 1.959963984540054

    def inside(p):
        return abs(k / n - p) <= z * math.sqrt(p * (1 - p) / n)

    def edge(a, b):  # a inside, b outside
        for _ in range(80):
            m = (a + b) / 2
            a, b = (m, b) if inside(m) else (a, m)
        return a

    lo, hi = wilson_interval(k, n)
    assert lo == pytest.approx(edge(k / n, 0.0), abs=1e-9) and hi == pytest.approx(edge(k / n, 1.0), abs=1e-9)


def _result(source="synthetic:own (seed 0)", profile=None):
    r = make_result()
    r.baseline.accuracy, r.slim.accuracy = 0.25, 0.30
    r.extras["accuracy"] = accuracy_section(0.25, 0.30, 20, source, baseline_training="as given",
                                            slim_training="lfp, then finetune for 2 epoch(s)", profile=profile)
    return r


def test_section_in_report_json():
    a = _result().to_dict()["extras"]["accuracy"]
    assert a["synthetic"] is True and a["n_test"] == 20 and a["one_sample_pts"] == 5.0
    assert a["baseline"]["n"] == 20 and a["slim"]["training"] == "lfp, then finetune for 2 epoch(s)"
    # 5 of 20 correct: Wilson 95% interval 11.2%..46.9% (by hand: centre 0.3163, half-width 0.1978)
    assert a["baseline"]["ci95"] == pytest.approx([0.1119, 0.4687], abs=5e-4)
    assert "not a shipped profile" in a["warning"]


def test_no_warning_for_a_profile_or_real_data():
    assert synthetic_warning("synthetic:eegnet-bci (seed 0)", "eegnet-bci") is None
    assert synthetic_warning("/data/mine.npz", None) is None
    assert "warning" not in accuracy_section(0.5, 0.5, 10, "/data/mine.npz", baseline_training="",
                                             slim_training="", profile=None)


def test_terminal_table_and_markdown_carry_the_context():
    buf = io.StringIO()
    Console(file=buf, width=200, color_system=None).print(to_table(_result()))
    text = buf.getvalue()
    assert "test accuracy (synthetic)" in text and "+5.0 pts (1 sample = 5.0)" in text
    assert "11.2–46.9%" in text and "n=20" in text
    assert "SYNTHETIC data (synthetic:own (seed 0)), 20 samples" in text and "baseline: as given" in text
    md = to_markdown(_result())
    assert "## Accuracy in context" in md and "| baseline | 25.0% (95% CI 11.2–46.9%, n=20) | as given |" in md
    assert "**Warning**: no --data" in md


def test_model_card_names_the_data_and_says_synthetic():
    sec = _result().extras["accuracy"]
    md = render_model_card(ModelCardInfo(name="own", arch="m:Own", input_shape=(1, 4, 32), accuracy_baseline=0.25,
                                         accuracy_slim=0.30, accuracy=sec, versions={}))
    assert "| test accuracy, this model | 30.0% (95% CI 14.5–51.9%, n=20) |" in md
    assert "**synthetic** EEG (synthetic:own (seed 0))" in md and "**Synthetic data**" in md
    assert "one sample is 5.0 points" in md and "**Warning**: no --data" in md


def test_report_md_timings_table_has_one_row_per_stage():
    r = make_result()
    r.timings_s = {"baseline": 1.0, "prune": 0.5, "slim": 0.25, "export": 2.0, "bench": 3.0}
    md = to_markdown(r)
    table = md[md.index("| stage | seconds |"):].split("\n\n")[0].splitlines()
    assert table[2:] == ["| baseline | 1.00 |", "| prune | 0.50 |", "| slim | 0.25 |", "| export | 2.00 |",
                         "| bench | 3.00 |"]


def test_speedup_takes_an_int_or_a_str_batch():
    r = make_result()
    assert r.speedup("ort-cpu", 64) == pytest.approx(60.0 / 15.0)
    assert r.speedup("ort-cpu", "64") == r.speedup("ort-cpu", 64)
    assert r.speedup("ort-cpu", 32) is None


def test_sizes_are_binary_units_like_the_card():
    buf = io.StringIO()
    Console(file=buf, width=200, color_system=None).print(to_table(make_result()))
    assert "22.89 MiB" in buf.getvalue()  # 24,000,000 bytes / 1024**2


def test_interval_row_stays_aligned_with_a_pruning_only_column():
    from eegdeploy.report.render import summary_rows
    from eegdeploy.report.schema import StageFigures

    r = _result()
    r.pruned = StageFigures(1_700_000, 21_000_000, 42_000_000, 0.35, 6_100_000, r.slim.latency_ms)
    rows = {row[0]: row for row in summary_rows(r)}
    # 7 of 20 correct: Wilson 95% interval 18.1%..56.7% (centre 0.3742, half-width 0.1930)
    assert rows["  95% interval"][1:4] == ("11.2–46.9%", "18.1–56.7%", "14.5–51.9%")
    assert rows["ONNX size"][2].endswith("MiB") and all(len(v) == 5 for v in rows.values())
