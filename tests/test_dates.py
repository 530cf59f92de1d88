"""Dates and wide categoricals (issue 25): date text read as dates and expanded into numeric parts at
load, the same parts at predict, fingerprints of tables without dates unchanged, the readiness warning
for high-cardinality columns, and a one-hot encoder whose width is capped."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import automux
from automux.core.experiment.data import load_data
from automux.core.experiment.dates import date_format
from automux.governance.readiness import check_data

OLD_RECORD = next((Path(__file__).parent / "data" / "record_4c80c37").glob("*/record.json"))


def _flights(n: int = 4500, seed: int = 0) -> pd.DataFrame:
    """A small flights table: a departure timestamp, a date, a 4,000-level tail number, weather with gaps."""
    rng = np.random.default_rng(seed)
    dep = pd.Timestamp("2013-01-01") + pd.to_timedelta(rng.integers(0, 365 * 24 * 60, n), unit="min")
    levels = min(n, 4000)
    tail = np.array([f"N{i:04d}" for i in range(levels)] + [f"N{i:04d}" for i in rng.integers(0, levels, n - levels)])
    wind = rng.normal(10, 4, n)
    wind[rng.random(n) < 0.3] = np.nan
    late = ((dep.hour >= 17) ^ (rng.random(n) < 0.1)).astype(int)
    frame = pd.DataFrame({"dep_time": dep.strftime("%Y-%m-%dT%H:%M:%S"), "day": dep.strftime("%Y-%m-%d"),
                          "tail": tail[rng.permutation(n)], "wind": wind, "late": late})
    frame.loc[[3, 7], "day"] = None
    return frame


def test_date_format_is_strict():
    assert date_format(["2024-01-02", "2024-03-04T10:00:00Z", "2023-12-31 23:59"]) == "ISO8601"
    assert date_format(["01/13/2024", "02/01/2024"]) == "%m/%d/%Y"
    assert date_format(["01/02/2024", "02/01/2024"]) is None  # month or day first: ambiguous
    assert date_format(["2024", "1999"]) is None  # numbers are never dates
    assert date_format(["March the first", "N123"]) is None  # no guessing on free text
    assert date_format(["2024-01-02", "tomorrow"]) is None  # every value must parse


def test_dates_become_numeric_parts_recorded_in_the_spec(tmp_path):
    frame = _flights(600)
    ds = load_data(frame, "late")
    ts = ["year", "month", "day", "dayofweek", "dayofyear", "hour", "minute", "epoch"]
    assert ds.date_columns["dep_time"] == {"format": "ISO8601", "features": [f"dep_time__{p}" for p in ts]}
    assert ds.date_columns["day"]["features"] == [f"day__{p}" for p in ts if p not in ("hour", "minute")]
    assert list(ds.X.columns[:8]) == [f"dep_time__{p}" for p in ts]  # in place of the column
    assert "tail" in ds.X.columns and isinstance(ds.X["tail"].dtype, pd.CategoricalDtype)
    assert ds.X["day__year"].isna().sum() == 2 and ds.X["day__epoch"].dtype == np.float64
    first = pd.Timestamp(frame.loc[0, "dep_time"])
    assert ds.X.loc[0, "dep_time__hour"] == first.hour and ds.X.loc[0, "dep_time__dayofweek"] == first.day_of_week
    assert ds.X.loc[0, "dep_time__epoch"] == (first - pd.Timestamp(0)).total_seconds()
    assert ds.describe()["dates"] == ds.date_columns
    # the same dates as a Parquet datetime column give the same features, hence the same fingerprint
    typed = frame.assign(dep_time=pd.to_datetime(frame["dep_time"]), day=pd.to_datetime(frame["day"]))
    typed.to_parquet(tmp_path / "f.parquet")
    again = load_data(str(tmp_path / "f.parquet"), "late")
    assert again.fingerprint == ds.fingerprint and again.date_columns["day"]["format"] == "datetime64"
    kept = load_data(frame, "late", parse_dates=False)
    assert kept.date_columns == {} and isinstance(kept.X["day"].dtype, pd.CategoricalDtype)


@pytest.mark.parametrize("source", ["sklearn:iris", "sklearn:breast_cancer", "sklearn:wine", "sklearn:diabetes"])
def test_tables_without_dates_keep_their_fingerprint_and_spec(source):
    ds = load_data(source)
    plain = load_data(source, parse_dates=False)
    assert ds.fingerprint == plain.fingerprint and "dates" not in ds.describe()
    assert ds.describe() == plain.describe()
    recorded = json.loads(OLD_RECORD.read_text())["spec"]["data"]
    if source == recorded["source"]:  # a record written at 4c80c37
        assert ds.fingerprint == recorded["fingerprint"]


def test_readiness_warns_of_wide_categoricals_and_dates_kept_as_text():
    frame = _flights(4500)
    dep = pd.to_datetime(frame["dep_time"])  # days 1..12 only: day or month first is ambiguous, so kept as text
    frame["ambiguous"] = [f"{t.month:02d}/{(t.day - 1) % 12 + 1:02d}/{t.year} {t.hour:02d}:{t.minute:02d}" for t in dep]
    rep = check_data(frame, "late", leakage=True)
    wide = [w for w in rep.warnings if w["kind"] == "high_cardinality"]
    assert [w["column"] for w in wide] == ["tail"]
    n_train = len(frame) - round(len(frame) * 0.25)
    assert f"distinct values on {n_train} training rows" in wide[0]["reason"] and "--drop tail" in wide[0]["reason"]
    assert rep.stats["dates"]["dep_time"]["format"] == "ISO8601"
    about = {w["column"]: w for w in rep.warnings if w["column"] == "ambiguous"}
    assert about and "row name or key" not in about["ambiguous"]["reason"]
    assert "dates as text" in about["ambiguous"]["reason"]


def test_one_hot_width_is_capped():
    from automux.core.sklearn_kit import MAX_ONEHOT_LEVELS, preprocessor, to_sklearn_frame

    X = load_data(_flights(4500), "late").X
    out = preprocessor(X).fit_transform(to_sklearn_frame(X))
    assert out.shape[1] <= X.shape[1] - 1 + MAX_ONEHOT_LEVELS


def test_a_flights_csv_runs_with_reference_and_predicts_new_rows(tmp_path):
    frame = _flights(4500)
    csv = tmp_path / "flights.csv"
    frame.to_csv(csv, index=False)
    store = str(tmp_path / "store")
    rec = automux.run(str(csv), "late", "reference", budget_trials=3, seed=1, store=store, readiness=False)
    assert rec.status == "ok", rec.error
    assert "dep_time__hour" in rec.spec.data["features"] and rec.spec.data["dates"]["day"]["format"] == "ISO8601"
    pred = automux.load(rec.run_id, store=store)
    imp = pred.feature_importance(n_repeats=1)
    assert imp["feature"].iloc[0] == "dep_time__hour"  # lateness follows the hour of departure
    new = frame.drop(columns=["late"]).head(5).copy()
    new.loc[0, "dep_time"] = "not a date"
    out = automux.predict(rec.run_id, new, store=store)
    assert out["status"] == "ok" and out["rows"] == 5
    assert out["unseen_categories"] == {"dep_time": 1}
    again = automux.verify(rec.run_id, store=store)  # re-reads the CSV's dates as the record says
    assert again["verdict"] == "identical", again
