"""Bad input gets one clear line and exit 2, never a traceback: the table of bad inputs tried.

Each case runs the CLI in this process (``automux.cli.main``) against files made
here; the expected hint is a fragment of what the line must say.
"""
from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from automux.cli import main

GOOD = "sklearn:iris"
RUN = ["run", "--backend", "reference", "--budget-trials", "1", "--no-check"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    ok = pd.DataFrame({"x": np.arange(40, dtype=float), "y": ["a", "b"] * 20})
    ok.to_csv(d / "ok.csv", index=False)
    (d / "binary.csv").write_bytes(bytes(range(256)) * 8)
    with gzip.open(d / "gzipped.csv", "wt") as f:
        ok.to_csv(f, index=False)
    (d / "latin1.csv").write_bytes("x,y\n1,caf\xe9\n2,th\xe9\n".encode("latin-1") * 20)
    ok.to_csv(d / "really_csv.parquet", index=False)
    ok.to_csv(d / "semicolon.csv", index=False, sep=";")
    (d / "empty.csv").write_text("")
    (d / "header_only.csv").write_text("x,y\n")
    ok.assign(x=ok["x"].where(ok.index != 3, np.inf)).to_csv(d / "inf.csv", index=False)
    ok.assign(x=ok["x"].where(ok.index != 5, -np.inf)).to_csv(d / "neginf.csv", index=False)
    ok.assign(y=ok["y"].where(ok.index != 2, None)).to_csv(d / "missing_target.csv", index=False)
    ok.assign(y="a").to_csv(d / "one_class.csv", index=False)
    (d / "dupes.csv").write_text("x,x,y\n" + "1,2,a\n3,4,b\n" * 20)
    (d / "suite_nobackend.yaml").write_text("name: s\ndatasets: [sklearn:iris]\nconstraints: [trials2]\n"
                                            "backends: [no_such_backend]\n")
    (d / "suite_badtimeout.yaml").write_text("name: s\ndatasets: [sklearn:iris]\n"
                                             "constraints: [{name: c, trials: 2, timeout: -1}]\nbackends: [reference]\n")
    (d / "suite_badseconds.yaml").write_text("name: s\ndatasets: [sklearn:iris]\n"
                                             "constraints: [{name: c, seconds: .inf}]\nbackends: [reference]\n")
    return d


def _data(name):
    return lambda d: ["--data", str(d / name)]


# (id, argv builder(files dir) -> list, hint that the one line must contain (case-insensitive))
CASES = [
    # data files
    ("missing-file", lambda d: RUN + ["--data", str(d / "nope.csv")], "not found"),
    ("binary-file", lambda d: RUN + _data("binary.csv")(d), "binary"),
    ("gzip-named-csv", lambda d: RUN + _data("gzipped.csv")(d), "compress"),
    ("latin1", lambda d: RUN + _data("latin1.csv")(d) + ["--target", "y"], "encod"),
    ("csv-named-parquet", lambda d: RUN + _data("really_csv.parquet")(d), "parquet"),
    ("semicolon-separated", lambda d: RUN + _data("semicolon.csv")(d) + ["--target", "y"], "separated"),
    ("empty-file", lambda d: RUN + _data("empty.csv")(d) + ["--target", "y"], "empty"),
    ("header-only", lambda d: RUN + _data("header_only.csv")(d) + ["--target", "y"], "row"),
    ("inf-feature", lambda d: RUN + _data("inf.csv")(d) + ["--target", "y"], "inf"),
    ("neg-inf-feature", lambda d: RUN + _data("neginf.csv")(d) + ["--target", "y"], "inf"),
    ("missing-target", lambda d: RUN + _data("missing_target.csv")(d) + ["--target", "y"], "--drop-missing-target"),
    ("unknown-target", lambda d: RUN + _data("ok.csv")(d) + ["--target", "nope"], "nope"),
    ("no-target", lambda d: RUN + _data("ok.csv")(d), "--target"),
    ("one-class-target", lambda d: RUN + _data("one_class.csv")(d) + ["--target", "y"], "class"),
    ("duplicate-columns", lambda d: RUN + _data("dupes.csv")(d) + ["--target", "y"], "duplicate"),
    ("unknown-bundled", lambda d: RUN + ["--data", "sklearn:no_such_set"], "no_such_set"),
    ("unknown-prefix", lambda d: RUN + ["--data", "nosuchprefix:thing"], "not found"),
    ("drop-unknown", lambda d: RUN + ["--data", GOOD, "--drop", "nope"], "nope"),
    ("drop-target", lambda d: RUN + ["--data", GOOD, "--drop", "target"], "target"),
    ("task-binary-on-3-classes", lambda d: RUN + ["--data", GOOD, "--task", "binary"], "class"),
    ("task-unknown", lambda d: RUN + ["--data", GOOD, "--task", "ranking"], "invalid choice"),
    # budgets
    ("no-budget", lambda d: ["run", "--backend", "reference", "--data", GOOD], "budget"),
    ("trials-zero", lambda d: ["run", "--backend", "reference", "--data", GOOD, "--budget-trials", "0"], "positive"),
    ("trials-negative", lambda d: ["run", "--backend", "reference", "--data", GOOD, "--budget-trials", "-1"],
     "positive"),
    ("trials-text", lambda d: ["run", "--backend", "reference", "--data", GOOD, "--budget-trials", "abc"],
     "invalid int"),
    ("trials-fraction", lambda d: ["run", "--backend", "reference", "--data", GOOD, "--budget-trials", "1.5"],
     "invalid int"),
    ("seconds-zero", lambda d: ["run", "--backend", "reference", "--data", GOOD, "--budget-seconds", "0"],
     "positive"),
    ("seconds-negative", lambda d: ["run", "--backend", "reference", "--data", GOOD, "--budget-seconds", "-3"],
     "positive"),
    ("seconds-inf", lambda d: ["run", "--backend", "reference", "--data", GOOD, "--budget-seconds", "inf"], "finite"),
    ("seconds-nan", lambda d: ["run", "--backend", "reference", "--data", GOOD, "--budget-seconds", "nan"], "finite"),
    ("grace-negative", lambda d: RUN + ["--data", GOOD, "--grace", "-1"], "grace"),
    ("grace-inf", lambda d: RUN + ["--data", GOOD, "--grace", "inf"], "finite"),
    ("timeout-zero", lambda d: RUN + ["--data", GOOD, "--timeout", "0"], "timeout"),
    ("timeout-nan", lambda d: RUN + ["--data", GOOD, "--timeout", "nan"], "finite"),
    ("timeout-inf", lambda d: RUN + ["--data", GOOD, "--timeout", "inf"], "finite"),
    # split, seed, metric
    ("folds-one", lambda d: RUN + ["--data", GOOD, "--folds", "1"], "fold"),
    ("folds-zero", lambda d: RUN + ["--data", GOOD, "--folds", "0"], "fold"),
    ("folds-text", lambda d: RUN + ["--data", GOOD, "--folds", "many"], "invalid int"),
    ("test-size-zero", lambda d: RUN + ["--data", GOOD, "--test-size", "0"], "test"),
    ("test-size-above-one", lambda d: RUN + ["--data", GOOD, "--test-size", "1.5"], "test"),
    ("test-size-negative", lambda d: RUN + ["--data", GOOD, "--test-size", "-0.1"], "test"),
    ("test-size-nan", lambda d: RUN + ["--data", GOOD, "--test-size", "nan"], "test"),
    ("seed-negative", lambda d: RUN + ["--data", GOOD, "--seed", "-1"], "seed"),
    ("seed-text", lambda d: RUN + ["--data", GOOD, "--seed", "x"], "invalid int"),
    ("metric-unknown", lambda d: RUN + ["--data", GOOD, "--metric", "nope"], "metric"),
    ("metric-wrong-task", lambda d: RUN + ["--data", GOOD, "--metric", "rmse"], "rmse"),
    # backends and options
    ("backend-unknown", lambda d: ["run", "--data", GOOD, "--backend", "nope", "--budget-trials", "1"], "nope"),
    ("option-unknown", lambda d: RUN + ["--data", GOOD, "--option", "bogus_key=3"], "bogus_key"),
    ("option-not-pair", lambda d: RUN + ["--data", GOOD, "--option", "novalue"], "KEY=VALUE"),
    ("compare-no-backends", lambda d: ["compare", "--data", GOOD, "--backends", ",", "--budget-trials", "1"],
     "backends"),
    ("compare-unknown-backend", lambda d: ["compare", "--data", GOOD, "--backends", "reference,nope",
                                           "--budget-trials", "1"], "nope"),
    # the store and run ids
    ("show-escaping-id", lambda d: ["runs", "show", "../elsewhere/20261202T000000-00000000"], "not a run id"),
    ("show-unknown-id", lambda d: ["runs", "show", "20261202T000000-00000000"], "no run"),
    ("show-empty-id", lambda d: ["runs", "show", ""], "not a run id"),
    ("verify-escaping-id", lambda d: ["verify", "../x"], "not a run id"),
    ("predict-escaping-id", lambda d: ["predict", "../x", "--data", GOOD], "not a run id"),
    ("promote-escaping-id", lambda d: ["promote", "/etc/passwd"], "not a run id"),
    ("runs-no-subcommand", lambda d: ["runs"], "subcommand"),
    # select
    ("select-negative-seconds", lambda d: ["select", "--data", GOOD, "--budget-seconds", "-1"], "positive"),
    ("select-nan-seconds", lambda d: ["select", "--data", GOOD, "--budget-seconds", "nan"], "finite"),
    ("select-zero-trials", lambda d: ["select", "--data", GOOD, "--budget-trials", "0"], "positive"),
    ("select-missing-file", lambda d: ["select", "--data", str(d / "nope.csv")], "not found"),
    # bench
    ("bench-missing-suite", lambda d: ["bench", str(d / "nope.yaml"), "--out", str(d / "b1")], "nope.yaml"),
    ("bench-unknown-backend", lambda d: ["bench", str(d / "suite_nobackend.yaml"), "--out", str(d / "b2")],
     "no_such_backend"),
    ("bench-bad-timeout", lambda d: ["bench", str(d / "suite_badtimeout.yaml"), "--out", str(d / "b3")], "timeout"),
    ("bench-inf-seconds", lambda d: ["bench", str(d / "suite_badseconds.yaml"), "--out", str(d / "b4")], "finite"),
    ("bench-zero-jobs", lambda d: ["bench", str(d / "suite_badtimeout.yaml"), "--out", str(d / "b5"), "--jobs", "0"],
     ""),
    # check, env, contracts, the parser
    ("check-binary-file", lambda d: ["check", "--data", str(d / "binary.csv")], "binary"),
    ("check-one-fold", lambda d: ["check", "--data", GOOD, "--folds", "1"], "fold"),
    ("env-build-unknown", lambda d: ["env", "build", "no_such_env"], "no_such_env"),
    ("env-build-main", lambda d: ["env", "build", "main"], "main"),
    ("contracts-unknown", lambda d: ["contracts", "no_such_backend"], "no_such_backend"),
    ("unknown-command", lambda d: ["frobnicate"], "invalid choice"),
    ("run-without-data", lambda d: ["run", "--backend", "reference"], "--data"),
]


def test_the_table_is_large_enough():
    assert len(CASES) >= 60


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_exit_2(case, files, tmp_path, capsys):
    name, argv, hint = case
    args = argv(files)
    if args not in (["runs"], ["frobnicate"]) and "--store" not in args:
        args = args + ["--store", str(tmp_path / "runs")]
    rc = main(args)
    err = capsys.readouterr().err
    lines = [line for line in err.strip().splitlines() if not line.startswith("automux: warning")]
    assert rc == 2, f"{name}: exit {rc}, stderr:\n{err}"
    assert len(lines) == 1 and lines[0].startswith("automux: error: "), f"{name}: {err}"
    assert "Traceback" not in err
    assert hint.lower() in lines[0].lower(), f"{name}: the line does not say {hint!r}: {lines[0]}"
