"""The module in the services package that composes the components' startup and
shutdown calls around an app's own lifespan, where that lifespan cannot be edited
in place (defined in another module, built by a call, only `on_event` startup
handlers, a FastAPI subclass that sets its own).

Its text is `lifespan_hooks.py` beside this module, laid out in the project's code
style. The wiring mutator writes it when a component needs it and records it as
that component's file; components that use it too record it as well, so it stays
until the last of them is removed.
"""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from paxx_patch.discover.project import Project

HOOKS_FUNCTION = "add_lifespan_hooks"
HOOKS_FILE = "lifespan_hooks.py"


def hooks_module(project: Project) -> str:
    return f"{project.services_package}.{HOOKS_FILE.removesuffix('.py')}"


def hooks_path(project: Project) -> str:
    return f"{project.services_dir}/{HOOKS_FILE}"


def hooks_source(project: Project) -> bytes:
    text = (resources.files(__package__) / HOOKS_FILE).read_text(encoding="utf-8")
    return project.style.module(text).encode()
