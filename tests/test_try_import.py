"""try_import: a missing optional module is one UserError naming what needs it and what to install."""
import sys

import pytest

from automux.core.errors import MissingExtra, UserError
from automux.core.imports import install_hint, try_import


def test_an_installed_module_is_returned():
    import json

    assert try_import("json", purpose="the test") is json


def test_a_missing_module_names_the_purpose_the_cause_and_the_extra():
    with pytest.raises(MissingExtra) as e:
        try_import("automux_no_such_module.sub", "bench", purpose="suite files")
    assert isinstance(e.value, UserError) and isinstance(e.value, ImportError)
    assert str(e.value) == ("suite files needs automux_no_such_module.sub (No module named "
                            "'automux_no_such_module'): pip install 'automux[bench]'")


def test_a_plain_pip_hint_and_a_chosen_error_class():
    class ToolError(UserError):
        pass

    assert install_hint("yaml", pip="pyyaml") == "pip install pyyaml"
    assert install_hint("palmerpenguins") == "pip install palmerpenguins"
    with pytest.raises(ToolError, match=r": pip install automux_absent$"):
        try_import("automux_absent", error=ToolError)


def test_the_flaml_adapter_says_which_extra_installs_flaml(monkeypatch):
    from automux.adapters import flaml_adapter

    monkeypatch.setitem(sys.modules, "flaml", None)  # makes `import flaml` fail as when it is not installed
    with pytest.raises(MissingExtra, match=r"^the flaml backend needs flaml .*pip install 'automux\[flaml\]'$"):
        flaml_adapter.import_automl()
