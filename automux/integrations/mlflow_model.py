"""An automux run as an MLflow model: a pyfunc that predicts through automux's own predict path.

:func:`save_pyfunc` writes an ``mlflow.pyfunc`` model directory for a stored run
whose status is ok. Its artifact ``store`` is a small run store holding that run
(and, for an ensemble, its members): record, spec, job, model files and a
zero-row template of the training columns, never the training rows. Loaded with
``mlflow.pyfunc.load_model(uri)``, ``predict(frame)`` calls
:func:`automux.predict` on that store: the model is loaded by its adapter in a
worker, in the env that trained it (an isolated env is found in the env cache or
rebuilt from its lock), exactly as ``automux predict`` does. The model is logged as MLflow "models from code"
(``automux_pyfunc.py`` imports :class:`AutomuxPyfunc`; nothing is pickled). So
the process that loads the pyfunc needs automux installed (``pip_requirements``
name it), plus the backend where the run used the main env.

``predict`` takes a frame with the user's column names (the training features)
and returns one float column per class label, in the record's class order, for
classification, or one ``prediction`` column for regression: the numbers
``automux predict`` writes to its ``predictions.csv``.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional

import mlflow.pyfunc

from .._version import __version__
from ..core.run import jobfiles as jf

if TYPE_CHECKING:  # pragma: no cover
    from ..core.experiment.record import RunRecord
    from ..core.run.store import RunStore

#: Rows of the training features kept as the model's input example.
EXAMPLE_ROWS = 5
#: The model's code (MLflow "models from code"): loading imports automux, no pickled object is stored.
MODEL_CODE = ("import mlflow.models\n\nfrom automux.integrations.mlflow_model import AutomuxPyfunc\n\n"
              "mlflow.models.set_model(AutomuxPyfunc())\n")
#: What a run's copy leaves out: scratch space and earlier predict / probe jobs.
SKIP_DIRS = ("scratch", "predict", "oof-probe")


def predictions_table(pred: Any, task: str, classes: List[Any]) -> Any:
    """The predictions as ``automux predict`` writes them: a column per class label, or ``prediction``."""
    import pandas as pd

    if task == "regression":
        return pd.DataFrame({"prediction": pred})
    return pd.DataFrame({str(label): pred[:, k] for k, label in enumerate(classes)})


class AutomuxPyfunc(mlflow.pyfunc.PythonModel):
    """An automux run behind MLflow's pyfunc interface (see the module docstring)."""

    def load_context(self, context: Any) -> None:
        meta = json.loads(Path(context.artifacts["meta"]).read_text(encoding="utf-8"))
        self.run_id, self.task, self.classes = meta["run_id"], meta["task"], meta["classes"]
        self.store = Path(context.artifacts["store"])

    def predict(self, context, model_input, params=None):  # no type hints: MLflow would read them as a schema
        import pandas as pd

        from ..api import predict

        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        out = predict(self.run_id, frame, store=self.store)
        if out["status"] != "ok":
            raise RuntimeError(f"automux run {self.run_id} failed to predict: {out['error']}")
        pred = jf.predictions_array(jf.read_arrow(Path(out["predictions_arrow"])), self.task)
        return predictions_table(pred, self.task, self.classes)


def _copy_run(store: "RunStore", run_id: str, dest_root: Path) -> None:
    """Copy run ``run_id`` into ``dest_root/run_id``, with its training columns as a zero-row template."""
    src = store.run_dir(run_id)
    dest = dest_root / run_id
    shutil.copytree(src, dest, ignore=lambda d, names: [n for n in names if Path(d) == src and n in SKIP_DIRS])
    if (src / jf.TRAIN).exists() or (src / getattr(jf, "TRAIN_ROWS", jf.TRAIN)).exists():  # not an ensemble
        template = jf.read_arrow(src / jf.TRAIN).iloc[:0]  # assembled from the store when the run references it
        jf.write_arrow(template, dest / jf.TRAIN)


def input_example(store: "RunStore", record: "RunRecord") -> Any:
    """The first training rows' features under the user's column names (categories as strings)."""
    import pandas as pd

    run_dir = store.run_dir(_first_model_run(store, record))
    train = jf.read_arrow(run_dir / jf.TRAIN).drop(columns=[jf.TARGET_COL, jf.FOLD_COL]).head(EXAMPLE_ROWS)
    names = jf.read_json(run_dir / jf.JOB).get("feature_names") or {
        "original": list(train.columns), "safe": list(train.columns)}
    frame = train[list(names["safe"])].set_axis([str(c) for c in names["original"]], axis=1)
    for col in frame.columns:
        if isinstance(frame[col].dtype, pd.CategoricalDtype):
            frame[col] = frame[col].astype(object).where(frame[col].notna(), None)
    return frame.reset_index(drop=True)


def _members(store: "RunStore", record: "RunRecord") -> List[str]:
    from ..governance.ensemble import ENSEMBLE_BACKEND, ensemble_info

    if record.backend != ENSEMBLE_BACKEND:
        return []
    return [m["run_id"] for m in ensemble_info(record, store)["members"]]


def _first_model_run(store: "RunStore", record: "RunRecord") -> str:
    members = _members(store, record)
    return members[0] if members else record.run_id


def requirements_of(store: "RunStore", record: "RunRecord") -> "tuple[List[str], Dict[str, str]]":
    """The model's pip requirements and the env locks it predicts with (``{artifact name: lock text}``).

    automux itself, plus the declared requirements of every adapter that ran in
    the main env (they must be importable where the pyfunc is loaded); an
    isolated env's lock travels as an artifact (``env_lock_NAME``): its worker
    runs in that env, rebuilt from the lock where it is not cached.
    """
    from ..core.env.cache import built_envs
    from ..core.registry import get_adapter

    reqs: List[str] = [f"automux=={__version__}"]
    locks: Dict[str, str] = {}
    for run_id in [record.run_id] + _members(store, record):
        rec = record if run_id == record.run_id else store.load(run_id)
        used = (rec.env or {}).get("automux_env") or {}
        if used.get("isolated"):
            for env in built_envs(used.get("name")):
                if env.fingerprint == used.get("fingerprint") and (env.path / "env-lock.txt").is_file():
                    locks[f"env_lock_{env.name}"] = (env.path / "env-lock.txt").read_text(encoding="utf-8")
            continue
        try:
            extra = list(get_adapter(rec.backend).environment.requirements)
        except Exception:  # an ensemble, or an adapter no longer installed: automux's own requirement stays
            extra = []
        reqs += [r for r in extra if r not in reqs]
    return reqs, locks


def save_pyfunc(record: "RunRecord", store: "RunStore", path: Path,
                pip_requirements: Optional[List[str]] = None) -> Path:
    """Write the pyfunc model of an ok run to the new directory ``path``; returns ``path``.

    Signature: the training features (user names) in, the prediction columns out;
    input example: the first :data:`EXAMPLE_ROWS` training rows; requirements and
    env locks: :func:`requirements_of`.
    """
    import tempfile

    import numpy as np
    from mlflow.models import infer_signature

    classes = list(record.spec.data.get("classes") or [])
    example = input_example(store, record)
    width = 0 if record.spec.task == "regression" else len(classes)
    dummy = np.zeros((len(example),) if not width else (len(example), width))
    signature = infer_signature(example, predictions_table(dummy, record.spec.task, classes))
    with tempfile.TemporaryDirectory(prefix="automux-pyfunc-") as tmp:
        bundle = Path(tmp) / "store"
        bundle.mkdir()
        for run_id in [record.run_id] + _members(store, record):
            _copy_run(store, run_id, bundle)
        meta = Path(tmp) / "automux-model.json"
        meta.write_text(json.dumps({"run_id": record.run_id, "task": record.spec.task, "classes": classes,
                                    "backend": record.backend, "automux_version": __version__}), encoding="utf-8")
        code = Path(tmp) / "automux_pyfunc.py"  # models from code: the class is imported, never unpickled
        code.write_text(MODEL_CODE, encoding="utf-8")
        reqs, locks = requirements_of(store, record)
        artifacts = {"store": str(bundle), "meta": str(meta)}
        for name, text in locks.items():
            (Path(tmp) / f"{name}.txt").write_text(text, encoding="utf-8")
            artifacts[name] = str(Path(tmp) / f"{name}.txt")
        mlflow.pyfunc.save_model(str(path), python_model=str(code), artifacts=artifacts,
                                 signature=signature, input_example=example,
                                 pip_requirements=pip_requirements or reqs,
                                 metadata={"automux_run_id": record.run_id, "automux_backend": record.backend})
    return Path(path)
