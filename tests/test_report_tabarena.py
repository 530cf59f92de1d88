"""The TabArena-style report: Elo with bootstrap CIs, improvability, failure imputation, the ensemble's
charged time, robust axes, the CD diagram's rules and a self-contained report.html (fast, no runs)."""
from __future__ import annotations

import base64
import html as html_lib
import json
import math
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from automux.bench import report, report_base, report_figures
from automux.bench import report_tabarena as ta

REPO = Path(__file__).resolve().parents[1]
REALDATA = REPO / "benchmarks" / "results" / "realdata"
REALDATA_30S = REPO / "benchmarks" / "results" / "realdata-30s"


def _rows(results, constraint="t5", metric="auc", folds=1):
    """results: {data set: {framework: result or None (failed)}}, same results on each fold."""
    rows = []
    for fold in range(folds):
        for task, by_fw in results.items():
            for fw, r in by_fw.items():
                rows.append({"constraint": constraint, "task": task, "fold": fold, "seed": 0, "repeat": 0,
                             "framework": fw, "result": float("nan") if r is None else r,
                             "status": "failed" if r is None else "ok", "metric": metric, "type": "binary",
                             "duration": 2.0, "training_duration": 1.5, "predict_duration": 0.1})
    return pd.DataFrame(rows)


def _always_wins(n=8):
    rng = np.random.default_rng(1)
    out = {}
    for i in range(n):
        b, c = rng.uniform(0.6, 0.8, 2)
        out[f"d{i}"] = {"champ": 0.95, "reference": float(b), "other": float(c)}
    return out


def test_a_backend_that_always_wins_has_the_top_elo_and_improvability_zero():
    imp, dropped = ta.imputed(_rows(_always_wins()))
    t = ta.elo_table(imp).set_index("framework")
    assert dropped == 0
    assert t["elo"].idxmax() == "champ" and t.loc["champ", "improvability"] == 0
    assert t.loc["reference", "elo"] == 1000 and t.loc["reference", "elo_ci_low"] == 1000
    assert (t["elo_ci_low"] <= t["elo"] + 1e-9).all() and (t["elo"] <= t["elo_ci_high"] + 1e-9).all()
    assert (t["improvability"] > 0).sum() == 2 and (t["instances"] == 8).all() and (t["data_sets"] == 8).all()
    # seeded: the same bootstrap twice
    pd.testing.assert_frame_equal(ta.elo_table(imp), ta.elo_table(imp))


def test_bradley_terry_recovers_known_odds():
    # a beats b 3 times in 4 over many comparisons: Elo gap 400 log10(3) = 190.8
    W = np.array([[0.0, 300.0], [100.0, 0.0]])
    elo = ta.bradley_terry(W, anchor=1)
    assert elo[1] == 1000 and elo[0] - 1000 == pytest.approx(400 * math.log10(3), abs=1.0)
    # equal records: equal ratings; ties count half to each
    assert ta.bradley_terry(np.array([[0.0, 5.0], [5.0, 0.0]]), 0)[1] == pytest.approx(1000)


def test_failures_are_imputed_with_the_reference_result_and_counted():
    df = _rows({"d0": {"reference": 0.7, "x": None, "y": 0.9}, "d1": {"reference": None, "x": 0.6, "y": 0.8},
                "d2": {"reference": None, "x": None, "y": None}})
    imp, dropped = ta.imputed(df)
    got = imp.set_index(["task", "framework"])
    assert got.loc[("d0", "x"), "result"] == 0.7 and bool(got.loc[("d0", "x"), "imputed"])
    # the anchor failed too: the worst ok result of the instance
    assert got.loc[("d1", "reference"), "result"] == 0.6
    assert dropped == 1 and "d2" not in set(imp["task"])
    t = ta.elo_table(imp).set_index("framework")
    assert t.loc["x", "imputed"] == 1 and t.loc["reference", "imputed"] == 1 and t.loc["y", "imputed"] == 0


def test_anchor_without_reference_is_the_first_alphabetically():
    res = {f"d{i}": {"b": 0.8, "a": 0.7} for i in range(3)}
    t = ta.elo_table(ta.imputed(_rows(res))[0]).set_index("framework")
    assert t.loc["a", "elo"] == 1000 and t.loc["b", "elo"] > 1000
    blocks = ta.tabarena_blocks(Path("/nonexistent"), _rows(res), _rows(res), Path("/tmp/unused-plots"))
    assert "`a` pinned at 1000 (no `reference` backend ran" in blocks[1].content


def test_error_and_improvability():
    assert ta.error_of(-0.3, "neg_logloss") == pytest.approx(0.3)
    assert ta.error_of(0.9, "auc") == pytest.approx(0.1)
    imp = ta.imputed(_rows({"d": {"reference": 0.9, "x": 0.8}}))[0]  # errors 0.1 and 0.2
    assert ta.improvability(imp) == pytest.approx({"reference": 0.0, "x": 0.5})


def test_the_ensemble_is_charged_its_instances_backend_runs():
    df = _rows({"d": {"reference": 0.7, "x": None, "ensemble": 0.8}})
    df.loc[df["framework"] == "ensemble", ["duration", "training_duration", "predict_duration"]] = [0.05, np.nan, 0.01]
    charged = report_base.charge_ensemble(df).set_index("framework")
    assert charged.loc["ensemble", "duration"] == pytest.approx(2.0 + 2.0 + 0.05)  # the failed x ran too
    assert charged.loc["ensemble", "training_duration"] == pytest.approx(3.0 + 0.05)  # + its selection
    assert charged.loc["ensemble", "predict_duration"] == pytest.approx(0.21)
    assert charged.loc["x", "duration"] == 2.0
    # a column nobody measured stays unmeasured (no start-up of 0 s made up for the ensemble)
    assert report_base.charge_ensemble(df.assign(startup=np.nan))["startup"].isna().all()


def test_robust_limits_clip_only_a_far_worst_point():
    lims, out = report_base.robust_limits([0.90, 0.91, 0.92, -5.0])
    assert out == [3] and lims[0] > 0.8 and lims[1] < 1.0
    # a far *best* point is never hidden
    lims, out = report_base.robust_limits([0.10, 0.11, 0.12, 5.0])
    assert out == [] and lims[1] > 5.0
    # error bars count as spread: a point within them is no outlier
    assert report_base.robust_limits([0.9, 0.91, 0.92, 0.5], [0.2, 0.2, 0.2, 0.0])[1] == []


def _cd_grid(n_data_sets):
    return report.rank_matrix(report.ranks(_rows(
        {f"d{i}": {"a": 0.9, "b": 0.8, "c": 0.7 + 0.01 * i} for i in range(n_data_sets)})), "t5")


def test_no_cd_diagram_under_three_data_sets(tmp_path):
    df = _rows({f"d{i}": {"a": 0.9, "b": 0.8, "c": 0.7} for i in range(2)})
    blocks = report.rank_blocks(df, report.ranks(df), tmp_path)
    assert not [b for b in blocks if b.kind == "img"]
    assert any("fewer than 3 data sets means nothing" in str(b.content) for b in blocks)


def test_hand_drawn_cd_keeps_bar_and_labels_inside_the_axes(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(0)
    m = pd.DataFrame(rng.random((1, 5)), columns=[f"a_long_backend_name_{c}" for c in "abcde"])
    cd = report.critical_difference(m)
    assert 1 + cd["cd"] > 5  # the CD bar is longer than the rank scale (the old drawing ran off the axes)
    captured = {}
    monkeypatch.setattr(report_figures, "_save", lambda fig, path: captured.setdefault("fig", fig) and "x")
    report_figures.draw_cd(cd, "t", tmp_path / "cd.png")
    fig = captured["fig"]
    fig.canvas.draw()
    ax = fig.axes[0]
    box = ax.get_window_extent()
    assert ax.get_xlim()[1] >= 1 + cd["cd"]
    for t in ax.texts:
        e = t.get_window_extent()
        assert box.x0 <= e.x0 and e.x1 <= box.x1, t.get_text()
    plt.close(fig)


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.imgs, self.tables, self.headers = [], 0, []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.imgs.append(dict(attrs)["src"])
        elif tag == "table":
            self.tables += 1

    def handle_data(self, data):
        self.headers.append(data)


def _bench_dir(tmp_path):
    df = _rows(_always_wins(4), folds=2)
    out = tmp_path / "bench"
    out.mkdir()
    df = df.assign(id="src", type="binary", mode="local", version="", params="", app_version="automux test",
                   utc="", models_count=3, info="", spec_id="", predictions_sha256="", budget_overrun_s=np.nan,
                   cell_id=[f"c{i}" for i in range(len(df))], run_id="", degenerate=False)
    df.to_csv(out / "results.csv", index=False)
    return out


def test_report_html_is_self_contained(tmp_path):
    out = _bench_dir(tmp_path)
    paths = report.make_report(out)
    page = _Page()
    page.feed(Path(paths["html"]).read_text(encoding="utf-8"))
    assert len(page.imgs) >= 5 and page.tables >= 8
    for src in page.imgs:
        assert src.startswith("data:image/png;base64,"), src[:60]
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    md = Path(paths["markdown"]).read_text(encoding="utf-8")
    assert "| data_set | type | metric |" in md and "| task | metric |" not in md
    assert "Elo and improvability" in md and "pareto_t5.png" in md
    assert "## Which tool for which constraint" in md  # no cells here: budgets and profiles unknown, said so


PROBE = """<script>window.addEventListener('load', () => {
  const p = document.createElement('pre'); p.id = 'probe';
  p.textContent = JSON.stringify({imgs: [...document.images].map(i => i.naturalWidth),
                                  tables: document.querySelectorAll('table').length});
  document.body.appendChild(p); });</script>"""


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if shutil.which(name):
            return shutil.which(name)
    return None


@pytest.mark.skipif(_chromium() is None, reason="no headless Chromium installed (apt-get install chromium)")
def test_report_opens_alone_in_headless_chromium(tmp_path):
    out = _bench_dir(tmp_path)
    html_path = Path(report.make_report(out)["html"])
    alone = tmp_path / "alone"
    alone.mkdir()  # the page without its plots/ directory: only embedded images can show
    page = html_path.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>")
    (alone / "report.html").write_text(page, encoding="utf-8")
    r = subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                        "--virtual-time-budget=10000", "--dump-dom", (alone / "report.html").as_uri()],
                       capture_output=True, text=True, timeout=120)
    found = re.search(r'<pre id="probe">(.*?)</pre>', r.stdout, re.S)
    assert found, r.stderr[-2000:]
    probe = json.loads(html_lib.unescape(found.group(1)))
    assert len(probe["imgs"]) >= 5 and all(w > 100 for w in probe["imgs"]), probe
    assert probe["tables"] >= 8


@pytest.mark.skipif(not (REALDATA_30S / "results.csv").is_file(), reason="committed results not in this checkout")
def test_elo_on_the_committed_30s_results_counts_every_failure():
    df = pd.read_csv(REALDATA_30S / "results.csv")
    imp, dropped = ta.imputed(df)
    t = ta.elo_table(imp).set_index("framework")
    not_ok = int((df["status"] != "ok").sum())
    assert dropped == 0 and int(t["imputed"].sum()) == not_ok > 0
    assert t.loc["reference", "elo"] == 1000 and (t["data_sets"] == df["task"].nunique()).all()
    assert ((t["elo_ci_low"] <= t["elo"]) & (t["elo"] <= t["elo_ci_high"])).all()
    # the Elo order agrees with the share of pairwise wins
    wins = {fw: 0.0 for fw in t.index}
    for _, g in imp.groupby(["task", "fold", "seed"]):
        res = dict(zip(g["framework"], g["result"]))
        for a in res:
            wins[a] += sum(ta._outcome(res[a], res[b]) for b in res if b != a)
    assert sorted(wins, key=wins.get) == list(t["elo"].sort_values().index)


@pytest.mark.skipif(not (REALDATA / "results.csv").is_file(), reason="committed results not in this checkout")
def test_the_committed_ensemble_is_not_free():
    df = pd.read_csv(REALDATA / "results.csv")
    charged = report_base.charge_ensemble(df)
    ens = charged[charged["framework"] == "ensemble"]
    singles = df[df["framework"] != "ensemble"]
    assert df[df["framework"] == "ensemble"]["duration"].max() < 1  # selection alone
    per_instance = singles.groupby(["task", "fold", "seed"])["duration"].sum()
    for _, r in ens.head(10).iterrows():
        assert r["duration"] > per_instance[(r["task"], r["fold"], r["seed"])]


def test_pareto_shows_start_up_time_only_where_results_have_it(tmp_path):
    df = _rows(_always_wins(4))
    imp = ta.imputed(df)[0]
    table = ta.elo_table(imp, rounds=20)
    without = ta.time_summary(df, table)
    assert without["startup_s"].isna().all() and (without["search_s"] == 1.5).all()
    withs = ta.time_summary(df.assign(startup=0.4), table)
    assert (withs["startup_s"] == 0.4).all()
    import matplotlib.pyplot as plt

    for summ, panels in ((without, 2), (withs, 3)):
        shown = {}
        orig = plt.subplots

        def spy(*a, **k):
            fig, axes = orig(*a, **k)
            shown["n"] = axes.size
            return fig, axes

        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(plt, "subplots", spy)
            assert report_figures.plot_pareto(summ, "t5", tmp_path) == "plots/pareto_t5.png"
        assert shown["n"] == panels


def test_size_breakdown_uses_the_rows_column_when_results_have_one(tmp_path):
    df = _rows({f"d{i}": {"reference": 0.7, "x": 0.8} for i in range(3)})
    df["rows"] = df["task"].map({"d0": 500, "d1": 5000, "d2": 50000})
    assert ta.dataset_rows(tmp_path, df) == {"d0": 500.0, "d1": 5000.0, "d2": 50000.0}
    md = report.render_markdown(ta.tabarena_blocks(tmp_path, df, df, tmp_path / "plots"))
    assert "| framework | < 1k rows (1 data set) | 1k-10k rows (1 data set) | >= 10k rows (1 data set) |" in md
    assert "from the `rows` column" in md and not (tmp_path / ta.SIZES_FILE).exists()


@pytest.mark.skipif(not (REALDATA / "results.csv").is_file(), reason="committed results not in this checkout")
def test_bradley_terry_matches_the_logistic_regression_fit_arena_and_tabarena_use():
    """Without the virtual ties, our Newton fit is the unpenalised logistic-regression MLE on the battles
    (a row per ordered pair, +1 / -1 features, weight = wins; a tie half to each side)."""
    sklearn_lm = pytest.importorskip("sklearn.linear_model")
    imp = ta.imputed(pd.read_csv(REALDATA / "results.csv"))[0]
    fws = sorted(imp["framework"].unique())
    W = ta.win_matrices(imp, fws)[1].sum(axis=0)
    X, y, w = [], [], []
    for i in range(len(fws)):
        for j in range(len(fws)):
            if i != j and W[i, j] > 0:
                row = np.zeros(len(fws))
                row[i], row[j] = 1.0, -1.0
                X += [row, row]
                y += [1, 0]
                w += [W[i, j], 0.0]  # i beat j W[i, j] times (its losses are j's rows)
    lr = sklearn_lm.LogisticRegression(C=np.inf, fit_intercept=False, tol=1e-10, max_iter=10000)
    lr.fit(np.array(X), np.array(y), sample_weight=np.array(w) + 1e-12)
    theta = lr.coef_[0] * 400 / math.log(10)
    anchor = fws.index("reference")
    expected = 1000 + theta - theta[anchor]
    assert ta.bradley_terry(W, anchor, prior=0.0) == pytest.approx(expected, abs=0.5)
