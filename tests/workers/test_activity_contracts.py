"""The sagas' activity stubs and the worker's activities agree: every stub under
``workflows/`` has exactly one registered implementation of its name, with the same
parameter and return types, and every registered activity has a stub."""

import importlib
import inspect
import pkgutil

import pytest
from temporalio import activity

import workflows
from activities.webhooks.sender import WebhookSender
from schemas.runtime.settings import Settings
from workers.worker.build import worker_activities


def stubs() -> list:
    """Every ``@activity.defn`` function defined in a module under ``workflows/``."""
    found = []
    for module_info in pkgutil.walk_packages(workflows.__path__, "workflows."):
        module = importlib.import_module(module_info.name)
        found += [
            value
            for value in vars(module).values()
            if inspect.isfunction(value)
            and value.__module__ == module.__name__
            and activity._Definition.from_callable(value) is not None
        ]
    return found


def name_of(fn) -> str:
    # The SDK's own definition: the name the worker registers, and the stub is called by.
    return activity._Definition.must_from_callable(fn).name


def types_of(fn) -> tuple[list, object]:
    """Parameter and return annotations; a bound method's ``self`` is not a parameter."""
    signature = inspect.signature(fn, eval_str=True)
    return [p.annotation for p in signature.parameters.values()], signature.return_annotation


@pytest.fixture
def registered(engine, tmp_path) -> dict[str, list]:
    settings = Settings(database_url=str(engine.url), risk_model_dir=str(tmp_path))
    by_name: dict[str, list] = {}
    for implementation in worker_activities(settings, engine, {}, WebhookSender()):
        by_name.setdefault(name_of(implementation), []).append(implementation)
    return by_name


def test_every_stub_has_one_implementation_with_its_types(registered):
    declared = stubs()
    assert declared
    names = [name_of(stub) for stub in declared]
    assert len(names) == len(set(names)), "an activity is declared by two stubs"
    for stub in declared:
        # No ``name=``: the function's name is the activity's, as the step log reads it.
        assert name_of(stub) == stub.__name__
        implementations = registered.get(stub.__name__, [])
        assert len(implementations) == 1, (stub.__qualname__, implementations)
        assert types_of(implementations[0]) == types_of(stub), stub.__qualname__


def test_every_registered_activity_has_a_stub(registered):
    assert all(len(implementations) == 1 for implementations in registered.values())
    assert sorted(registered) == sorted(name_of(stub) for stub in stubs())
