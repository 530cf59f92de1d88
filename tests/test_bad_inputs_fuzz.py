"""A property-based fuzz of the boundary (issue 24): generated values, frames and file contents.

Whatever is generated, the answer is either success or a ``UserError`` whose
message is one line; never another exception, never a traceback from the CLI.
Hypothesis runs derandomized (a fixed seed) with a bounded number of examples,
so CI time stays flat.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from automux.cli import main  # noqa: E402
from automux.core.errors import UserError  # noqa: E402

FUZZ = settings(max_examples=40, derandomize=True, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

JSONISH = st.recursive(st.none() | st.booleans() | st.integers(-2 ** 70, 2 ** 70)
                       | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=8),
                       lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                                     max_size=3), max_leaves=6)


def _one_line(e: BaseException) -> None:
    assert isinstance(e, UserError), f"{type(e).__name__}: {e}"
    assert str(e) and "\n" not in str(e), repr(str(e))


@FUZZ
@given(backend=st.sampled_from(["reference", "flaml", "tpot"]), key=st.sampled_from(
    ["n_jobs", "estimator_list", "population_size", "search_space"]), value=JSONISH)
def test_option_values_are_accepted_or_refused_in_one_line(backend, key, value):
    from automux.core.registry import get_adapter

    adapter = get_adapter(backend)
    try:
        adapter.check_options({key: value})
    except Exception as e:  # noqa: BLE001 - the property: only a one-line UserError
        _one_line(e)
        return
    assert key in adapter.option_rules  # accepted: a declared option whose rule the value meets


@FUZZ
@given(seed=JSONISH, timeout=JSONISH, share=JSONISH)
def test_validators_accept_or_refuse_in_one_line(seed, timeout, share):
    from automux.core.inputs import check_seconds, check_seed, check_share

    for check, value in ((check_seed, seed), (check_seconds, timeout), (check_share, share)):
        try:
            out = check(value)
        except Exception as e:  # noqa: BLE001
            _one_line(e)
            assert isinstance(e, ValueError)
            continue
        if check is check_seed:
            assert 0 <= out < 2 ** 32
        elif out is not None:
            assert out > 0 and math.isfinite(out) and (check is check_seconds or out < 1)


@FUZZ
@given(argv=st.lists(st.sampled_from(["--seed", "--timeout", "--test-size", "--folds", "--budget-trials", "-1",
                                      "0", "nan", "inf", "1e400", str(2 ** 64), "x", "", "--option", "n_jobs=0",
                                      "=", "--data", "sklearn:nope", "--backend", "reference"]),
                     max_size=6))
def test_cli_garbage_is_one_line(argv, tmp_path_factory, capsys):
    store = tmp_path_factory.mktemp("fuzzstore")
    rc = main(["run", "--backend", "reference", "--no-check", *argv, "--store", str(store)])
    err = capsys.readouterr().err
    assert rc == 2, err  # with no --data and budget, every combination is a usage error
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("automux: error: ") and "Traceback" not in err, err
    assert not any(p.is_dir() for p in store.iterdir())  # no run directory


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    import automux

    store = tmp_path_factory.mktemp("fuzzrun") / "runs"
    frame = pd.DataFrame({"num": np.linspace(0, 1, 60), "cat": ["a", "b", "c"] * 20, "y": [0, 1] * 30})
    record = automux.run(frame, "y", "reference", budget_trials=1, store=str(store), readiness=False)
    assert record.status == "ok", record.error
    from automux.core.run.store import RunStore
    return RunStore(store).run_dir(record.run_id)


CELLS = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 5), st.text(max_size=3),
                  st.booleans())


@FUZZ
@given(names=st.lists(st.sampled_from(["num", "cat", "y", "extra", "num "]), min_size=0, max_size=4),
       rows=st.integers(0, 4), data=st.data())
def test_new_frames_are_aligned_or_refused_in_one_line(names, rows, data, trained):
    from automux.core.run.predict import align_features

    cols = {f"c{i}": data.draw(st.lists(CELLS, min_size=rows, max_size=rows)) for i in range(len(names))}
    frame = pd.DataFrame(cols)
    frame.columns = names
    try:
        X, dropped = align_features(frame, "y", trained)
    except Exception as e:  # noqa: BLE001
        _one_line(e)
        return
    assert len(X) == rows > 0 and list(X.columns) and all(c not in ("y",) for c in dropped)
    numeric = X.select_dtypes("number").to_numpy(dtype=float)
    assert not np.isinf(numeric).any()


@FUZZ
@given(content=st.binary(max_size=200) | st.text(alphabet=st.sampled_from(list("ab,;\t\n\"1.e-x")), max_size=120))
def test_generated_file_contents_are_read_or_refused_in_one_line(content, tmp_path_factory):
    from automux.core.experiment.data import load_data

    path = tmp_path_factory.mktemp("fuzzfile") / "data.csv"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    try:
        load_data(str(path), "a")
    except Exception as e:  # noqa: BLE001
        _one_line(e)
