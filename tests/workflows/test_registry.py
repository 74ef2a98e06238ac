"""``workflows.WORKFLOWS`` lists every workflow class, and importing the package imports none."""

import importlib
import inspect
import pkgutil
import subprocess
import sys

import workflows


def test_every_workflow_class_is_listed():
    defined = set()
    for module_info in pkgutil.walk_packages(workflows.__path__, "workflows."):
        module = importlib.import_module(module_info.name)
        defined |= {
            value
            for value in vars(module).values()
            if inspect.isclass(value) and hasattr(value, "__temporal_workflow_definition")
        }
    assert set(workflows.WORKFLOWS) == defined
    assert len(workflows.WORKFLOWS) == len(defined)


def test_importing_the_package_imports_no_saga():
    # The sandbox imports the package again for every workflow run.
    script = "import sys, workflows; print(sorted(m for m in sys.modules if 'workflows.' in m))"
    found = subprocess.run(
        [sys.executable, "-c", script], check=True, capture_output=True, text=True
    ).stdout
    assert found.strip() == "[]"
