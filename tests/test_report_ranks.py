"""The TabArena / AMLB style ranks of ``automux report``: leaderboard, win rate, CD (fast, no runs)."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from automux.bench import report


def _df(rows):
    base = {"fold": 0, "seed": 0, "duration": 1.0, "metric": "auc"}
    return pd.DataFrame([dict(base, **r) for r in rows])


def _grid():
    rows = []
    # 6 data sets; a always best, b second, c fails on d0 and is worst elsewhere
    for i in range(6):
        t = f"d{i}"
        rows.append({"constraint": "t5", "task": t, "framework": "a", "result": 0.9, "status": "ok"})
        rows.append({"constraint": "t5", "task": t, "framework": "b", "result": 0.8, "status": "ok"})
        if i == 0:
            rows.append({"constraint": "t5", "task": t, "framework": "c", "result": float("nan"),
                         "status": "failed"})
        else:
            rows.append({"constraint": "t5", "task": t, "framework": "c", "result": 0.7, "status": "ok"})
    return _df(rows)


def test_leaderboard_counts_failures_and_win_rate():
    df = _grid()
    rk = report.ranks(df)
    lb = report.leaderboard(df, rk).set_index("framework")
    assert list(lb.index) == ["a", "b", "c"]
    assert lb.loc["a", "mean_rank"] == 1 and lb.loc["a", "win_rate"] == 1 and lb.loc["a", "champion"] == 1
    assert lb.loc["b", "win_rate"] == 0.5
    assert lb.loc["c", "win_rate"] == 0 and lb.loc["c", "failed_cells"] == 1
    # the failure is counted as normalised 0 (not dropped): c is 0 everywhere here
    assert lb.loc["c", "mean_normalised"] == 0 and lb.loc["a", "mean_normalised"] == 1
    assert (lb["instances"] == 6).all()


def test_ties_share_win_rate():
    df = _df([{"constraint": "t5", "task": "d", "framework": fw, "result": 0.5, "status": "ok"} for fw in "xy"])
    lb = report.leaderboard(df, report.ranks(df)).set_index("framework")
    assert lb.loc["x", "win_rate"] == 0.5 and lb.loc["x", "champion"] == 1


def test_critical_difference_formula_and_groups():
    df = _grid()
    m = report.rank_matrix(report.ranks(df), "t5")
    cd = report.critical_difference(m)
    assert (cd["n"], cd["k"]) == (6, 3)
    # Demsar 2006, table 5: q_0.05 for k=3 is 2.343 (= 3.314 / sqrt 2)
    assert cd["cd"] == pytest.approx(2.343 * math.sqrt(3 * 4 / (6 * 6)), rel=1e-3)
    assert cd["mean_ranks"] == {"a": 1.0, "b": 2.0, "c": 3.0}
    assert cd["friedman_p"] < 0.05
    # a-b and b-c within CD (1.35), a-c not
    assert cd["groups"] == [["a", "b"], ["b", "c"]]


def test_critical_difference_matches_autorank():
    pytest.importorskip("autorank")
    from autorank._util import _critical_distance

    m = report.rank_matrix(report.ranks(_grid()), "t5")
    assert report.critical_difference(m)["cd"] == pytest.approx(_critical_distance(0.05, 3, 6), rel=1e-5)  # qsturng: an approximation


@pytest.mark.parametrize("with_autorank", [False, True])
def test_rank_blocks_draw_a_cd_diagram(tmp_path, monkeypatch, with_autorank):
    if with_autorank:
        pytest.importorskip("autorank")
    else:
        monkeypatch.setattr(report, "_autorank_available", lambda: False)
    df = _grid()
    blocks = report.rank_blocks(df, report.ranks(df), tmp_path / "plots")
    imgs = [b.content for b in blocks if b.kind == "img"]
    assert imgs == ["plots/cd_t5.png"] and (tmp_path / "plots" / "cd_t5.png").stat().st_size > 1000
    md = report.render_markdown(blocks)
    assert "win_rate" in md and "critical_difference" in md


def test_rank_blocks_without_complete_instances(tmp_path):
    df = _grid()
    blocks = report.rank_blocks(df, report._empty_ranks(), tmp_path)
    assert any("nothing to rank" in str(b.content) for b in blocks)
