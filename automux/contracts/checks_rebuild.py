"""The rebuild check: an adapter that declares explicit rebuilds must give sources that reproduce its candidates.

Applies to adapters that override :meth:`automux.core.adapter.Adapter.candidate_source`.
On the suite's base run it takes the chosen candidate and up to
``MAX_CANDIDATES - 1`` other scored ones, skips those the adapter refuses
(``rebuild_refusal``, see :func:`automux.core.run.revalidate.rebuild_refusal`), and
runs each source exactly as ``automux promote`` does
(:func:`automux.core.run.revalidate.revalidate`): a fresh ``python -I`` of the
main interpreter, automux and every AutoML backend blocked from import, fitted on
the run's fixed folds with the run's backend seed. It fails when a source does not
run there, imports a blocked package, or gives fold scores that differ from the
recorded ones by more than promotion's ``REPRODUCE_ATOL + REPRODUCE_RTOL * |score|``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

from ..core.adapter import Adapter
from ._common import completed, ctx_for
from .context import ContractContext
from .results import CheckFailed, CheckSkipped


#: Candidates re-run per adapter: the chosen one first, then the first other scored ones.
MAX_CANDIDATES = 2
REBUILD_TIMEOUT_S = 300.0


def declares_rebuild(adapter: Adapter) -> bool:
    """Whether the adapter overrides ``candidate_source`` (it says its candidates can be rebuilt)."""
    return type(adapter).candidate_source is not Adapter.candidate_source


def _columns(exp: Any) -> Dict[str, str]:
    import pandas as pd

    return {str(c): ("categorical" if isinstance(t, pd.CategoricalDtype) else "numeric")
            for c, t in exp.dataset.X.dtypes.items()}


def _picked(record: Any) -> List[int]:
    scored = [c.index for c in record.candidates if c.cv_score is not None]
    first = [record.chosen] if record.chosen in scored else []
    return (first + [i for i in scored if i not in first])[:MAX_CANDIDATES]


def _one(adapter: Adapter, ctx: ContractContext, run: Any, index: int) -> Optional[str]:
    """Re-run candidate ``index``'s source; None when the adapter refuses it; raises CheckFailed when it drifts."""
    from ..core.run import revalidate as gate

    rec, exp = run.record, run.experiment
    cand, task, columns = rec.candidates[index], exp.dataset.task, _columns(exp)
    seed = int(exp.spec.seeds["backend"])
    if gate.rebuild_refusal(adapter, cand, task, columns):
        return None
    source = adapter.candidate_source(cand, task, columns, seed)
    if source is None:
        return None
    path = Path(ctx.root) / "rebuild" / f"candidate_{index}.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source, encoding="utf-8")
    reval = gate.revalidate(path, exp, [seed], timeout_s=REBUILD_TIMEOUT_S)
    if "error" in reval:
        raise CheckFailed(f"candidate {index}'s source: {reval['error']}")
    leaked = sorted(set(reval.get("modules") or ()) & set(gate.FORBIDDEN))
    if leaked:
        raise CheckFailed(f"candidate {index}'s source imported {', '.join(leaked)}: a rebuild must need "
                          "neither automux nor an AutoML backend")
    if not reval.get("isolated"):
        raise CheckFailed(f"candidate {index}'s source did not run in an isolated (python -I) interpreter")
    rebuilt = reval["per_seed"][0]["fold_scores"]
    recorded = list(cand.fold_scores)
    if len(rebuilt) != len(recorded):
        raise CheckFailed(f"candidate {index}: {len(recorded)} fold scores recorded, {len(rebuilt)} rebuilt")
    diffs = [f"fold {k}: {r:.6g} recorded, {s:.6g} rebuilt (difference {abs(s - r):.3g})"
             for k, (r, s) in enumerate(zip(recorded, rebuilt)) if r is not None and not gate.reproduces(s, r)]
    if diffs:
        raise CheckFailed(f"candidate {index}'s rebuild does not reproduce its fold scores within "
                          f"{gate.REPRODUCE_ATOL:g} + {gate.REPRODUCE_RTOL:g} relative: " + "; ".join(diffs[:3]))
    return f"candidate {index} ({cand.algorithm})"


def check_rebuild_reproduces(adapter: Adapter, ctx: Optional[ContractContext] = None) -> str:
    """Each re-run candidate's source runs in a clean interpreter, imports no automux or AutoML backend,
    and reproduces the candidate's recorded fold scores with the run's backend seed."""
    ctx = ctx_for(adapter, ctx)
    run = ctx.base_run()
    completed(run, "rebuild")
    if run.record.chosen is None:
        raise CheckFailed("the run returned no chosen candidate")
    done, refused = [], []
    for index in _picked(run.record):
        note = _one(adapter, ctx, run, index)
        (done if note else refused).append(note or str(index))
    if not done:
        raise CheckSkipped(f"the adapter refuses to rebuild candidates {', '.join(refused)} of the base run")
    return f"{', '.join(done)} rebuilt in a fresh python -I and reproduced their fold scores"


def rebuild_checks(adapter: Adapter) -> Iterator[Callable[..., Optional[str]]]:
    """The rebuild checks that apply to ``adapter`` (none unless it declares rebuilds)."""
    if declares_rebuild(adapter):
        yield check_rebuild_reproduces
