"""The contract checks: one plain ``check_<property>`` function per declared claim, and which apply.

Each check takes the adapter (and optionally the shared ``ContractContext`` that
caches the runs) and returns a short note when the claim holds, raises
``CheckFailed`` with what it saw when it does not, and ``CheckSkipped`` when it
cannot tell here. ``yield_checks(adapter)`` picks the checks that apply from the
adapter's declared capabilities, in the order they run. Refusals are judged by
exception *type*, never by wording.

The checks live in one module per job; this module only gathers them:

- :mod:`.checks_declarations`: capabilities, environment recipe, a light import, undeclared options refused;
- :mod:`.checks_data_support`: undeclared tasks and data refused by type, declared data support runs;
- :mod:`.checks_budgets`: the given folds used, trial and seconds budgets kept;
- :mod:`.checks_determinism`: the seed reaches the backend, declared determinism (also under jittered timing);
- :mod:`.checks_predictions`: well-formed predictions, save/load round trip, the chosen candidate's model;
- :mod:`.checks_rebuild`: candidate sources reproduce their fold scores outside automux;
- :mod:`.checks_data`: determinism at two cores, a hostile frame;
- :mod:`.checks_oof`: out-of-fold predictions that never saw their fold;
- :mod:`.checks_processes`: no process outlives its run.
"""
from __future__ import annotations

from typing import Iterator

from ..core.adapter import Adapter
from ..core.capabilities import TASK_NAMES
from ._common import Check
from .checks_budgets import (ODD_FOLD_RATIO, check_given_folds_used, check_seconds_budget_respected,
                             check_trials_budget_respected)
from .checks_data import check_deterministic_at_two_cores, check_hostile_frame
from .checks_data_support import (check_categorical_rejected, check_categorical_supported,
                                  check_missing_values_rejected, check_missing_values_supported,
                                  check_unsupported_tasks_refused)
from .checks_declarations import (UNDECLARED_OPTION, check_capabilities_well_formed, check_environment_well_formed,
                                  check_import_is_light, check_undeclared_options_refused)
from .checks_determinism import (check_deterministic_under_perturbed_timing, check_deterministic_when_declared,
                                 check_seed_reaches_backend)
from .checks_oof import check_oof_never_saw_the_fold
from .checks_predictions import (CHOSEN_ATOL, CHOSEN_RTOL, PROBA_SUM_ATOL, _prediction_problems,
                                 check_chosen_matches_returned_model, check_predictions_well_formed,
                                 check_save_load_round_trip)
from .checks_processes import check_no_process_left_behind
from .checks_rebuild import check_rebuild_reproduces, rebuild_checks

__all__ = ["ALL_CHECKS", "Check", "yield_checks", "ODD_FOLD_RATIO", "UNDECLARED_OPTION", "PROBA_SUM_ATOL",
           "CHOSEN_RTOL", "CHOSEN_ATOL", "_prediction_problems"]

#: Every check, in one fixed order (``automux contracts --check/--xfail`` and ``check_adapter(checks=)``
#: accept these names). New checks go at the end: the order is part of what the suite prints.
ALL_CHECKS = (
    check_capabilities_well_formed, check_environment_well_formed, check_import_is_light,
    check_unsupported_tasks_refused, check_categorical_supported, check_categorical_rejected,
    check_missing_values_supported, check_missing_values_rejected, check_given_folds_used,
    check_trials_budget_respected, check_seed_reaches_backend, check_deterministic_when_declared,
    check_predictions_well_formed, check_save_load_round_trip, check_seconds_budget_respected,
    check_no_process_left_behind, check_deterministic_under_perturbed_timing, check_chosen_matches_returned_model,
    check_undeclared_options_refused, check_rebuild_reproduces, check_deterministic_at_two_cores,
    check_hostile_frame, check_oof_never_saw_the_fold,
)
__all__ += [c.__name__ for c in ALL_CHECKS]


def yield_checks(adapter: Adapter) -> Iterator[Check]:
    """The checks that apply to ``adapter``, chosen from its declared capabilities."""
    caps = adapter.capabilities
    get = (lambda attr, default: getattr(caps, attr, default))
    modes = get("budget_modes", ()) or ()
    tasks = get("tasks", ()) or ()
    yield check_capabilities_well_formed
    yield check_environment_well_formed
    yield check_import_is_light
    if any(t not in tasks for t in TASK_NAMES):
        yield check_unsupported_tasks_refused
    yield check_categorical_supported if get("categorical", False) else check_categorical_rejected
    yield check_missing_values_supported if get("missing_values", False) else check_missing_values_rejected
    if get("custom_folds", True):
        yield check_given_folds_used
    if "trials" in modes:
        yield check_trials_budget_respected
    if get("seeded", True):
        yield check_seed_reaches_backend
    deterministic = get("deterministic", {})
    if isinstance(deterministic, dict) and any(deterministic.get(m) for m in modes):
        yield check_deterministic_when_declared
        yield check_deterministic_under_perturbed_timing
    yield check_predictions_well_formed
    yield check_save_load_round_trip
    if type(adapter).candidate_source is not Adapter.candidate_source:
        yield check_chosen_matches_returned_model
        yield from rebuild_checks(adapter)
    if not getattr(adapter, "free_form_options", False):
        yield check_undeclared_options_refused
    if "seconds" in modes:
        yield check_seconds_budget_respected
    if isinstance(get("deterministic_multicore", {}), dict) and any(
            get("deterministic_multicore", {}).get(m) for m in modes):
        yield check_deterministic_at_two_cores
    if get("categorical", False) and get("missing_values", False):
        yield check_hostile_frame
    # every adapter: out-of-fold predictions come from SearchResult.oof or a refit from candidate_source; the
    # check skips, with the recorded reason, an adapter that gives neither
    yield check_oof_never_saw_the_fold
    yield check_no_process_left_behind
