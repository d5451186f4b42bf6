"""Render a bundle's templates with a sandboxed, strict Jinja2 environment."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from paxx_patch.bundle import Bundle
from paxx_patch.errors import PaxxError


def _environment(bundle: Bundle) -> Any:
    return _environment_for(str(bundle.directory))


@functools.cache
def _environment_for(directory: str) -> Any:
    """One environment per bundle directory, so its compiled templates are reused."""
    import jinja2
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(
        loader=jinja2.FileSystemLoader(directory),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


def render_file(bundle: Bundle, relative: str, context: Mapping[str, Any]) -> str:
    """Render `relative` (a path inside the bundle directory); ends with a newline."""
    import jinja2

    try:
        text: str = _environment(bundle).get_template(relative).render(**context)
    except jinja2.TemplateError as e:
        line = getattr(e, "lineno", None)
        where = f"{bundle.directory / relative}" + (f":{line}" if line else "")
        raise PaxxError(f"{where}: cannot render the template: {e}. Fix the bundle.") from e
    return text if text.endswith("\n") else text + "\n"


def render_templates(bundle: Bundle, context: Mapping[str, Any]) -> dict[str, str]:
    """Target path (relative to the services dir) -> rendered text."""
    return {
        target: render_file(bundle, f"templates/{source}", context)
        for target, source in bundle.templates.items()
    }


def render_string(
    bundle: Bundle, text: str, context: Mapping[str, Any], key: str = ""
) -> str:
    """Render one string of bundle.toml (`key` names it in errors) like a template."""
    import jinja2

    try:
        return str(_environment(bundle).from_string(text).render(**context))
    except jinja2.TemplateError as e:
        where = f"{bundle.toml_path}: key `{key}`" if key else f"{bundle.toml_path}"
        raise PaxxError(f"{where}: cannot render {text!r}: {e}. Fix the bundle.") from e
