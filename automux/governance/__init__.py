"""Governance: readiness before AutoML, gain over the baseline after it, and the promotion gate.

Modules (imported on use, so ``automux`` and its CLI stay light):
:mod:`~automux.governance.readiness` (``check``, ``check_data``),
:mod:`~automux.governance.gain` (``compute``),
:mod:`~automux.governance.promote` (``promote``, ``load_promotion``),
:mod:`~automux.cli.governance` (``automux check`` / ``automux promote``).
"""
