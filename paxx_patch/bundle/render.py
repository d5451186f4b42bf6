"""Render a bundle's templates with a sandboxed, strict Jinja2 environment, within
the limits of `render_limits` (time, output size, call depth, range size)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from paxx_patch.bundle import Bundle
from paxx_patch.runtime.errors import PaxxError


class Installed:
    """`installed.NAME` in a template: whether NAME is installed once the run is done,
    for the components its bundle observes; any other name fails, naming the fix."""

    def __init__(self, observed: Mapping[str, bool]) -> None:
        self._observed = dict(observed)

    def __getattr__(self, name: str) -> bool:
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in self._observed:
            import jinja2

            raise jinja2.UndefinedError(
                f"installed.{name}: the bundle does not observe {name}; "
                f'add it to `observes` in bundle.toml (observes = ["{name}"])')
        return self._observed[name]


class ServiceNames:
    """`service.NAME` (or `service["minio-init"]`) in next steps: the compose service
    that serves the bundle's service NAME in this project, which is another name when
    the project's own service of the same server was used instead."""

    def __init__(self, reused: Mapping[str, str]) -> None:
        self._reused = dict(reused)

    def __getattr__(self, name: str) -> str:
        if name.startswith("_"):
            raise AttributeError(name)
        return self._reused.get(name, name)

    def __getitem__(self, name: str) -> str:
        return self._reused.get(name, name)


def _environment(bundle: Bundle) -> Any:
    return _environment_for(str(bundle.directory))


@functools.cache
def _environment_for(directory: str) -> Any:
    """One environment per bundle directory, so its compiled templates are reused."""
    import jinja2

    from paxx_patch.bundle.limits import LimitedSandbox

    return LimitedSandbox(
        loader=jinja2.FileSystemLoader(directory),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


def _render(bundle: Bundle, source: str | None, text: str, context: Mapping[str, Any]) -> str:
    """The output of template `source` (a path in the bundle), or of `text` when
    `source` is None, stopped as soon as it passes the size limit."""
    from paxx_patch.bundle.limits import MAX_FILE_CHARS, LimitExceeded, timer

    environment = _environment(bundle)
    with timer():
        environment.start()
        template = (environment.get_template(source) if source is not None
                    else environment.from_string(text))
        chunks: list[str] = []
        size = 0
        for chunk in template.generate(**context):
            size += len(chunk)
            if size > MAX_FILE_CHARS:
                raise LimitExceeded(f"writes more than {MAX_FILE_CHARS} characters")
            environment.budget.tick()
            chunks.append(chunk)
        return "".join(chunks)


def _failure(e: BaseException) -> str | None:
    """What went wrong, for the limits and the errors of Python a template can reach
    (None: not one of those)."""
    import jinja2

    from paxx_patch.bundle.limits import LimitExceeded, limits

    if isinstance(e, jinja2.TemplateError):
        return str(e)
    if isinstance(e, LimitExceeded):
        return f"it {e} ({limits()})"
    if isinstance(e, RecursionError):
        return f"it nests too deeply for Python to follow ({limits()})"
    if isinstance(e, MemoryError):
        return f"it needs more memory than there is ({limits()})"
    if isinstance(e, ArithmeticError | ValueError | TypeError | LookupError):
        # what the template's own expressions raise: 1/0, int("x"), "a" - 1
        return f"an expression fails: {type(e).__name__}: {e}"
    return None


def _line(e: BaseException, filename: str) -> int | None:
    """The template line the error came from: jinja2 rewrites its traceback so that
    the template's frames carry the template's file name and line."""
    tb: TracebackType | None = e.__traceback__
    line = getattr(e, "lineno", None)
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def render_file(bundle: Bundle, relative: str, context: Mapping[str, Any]) -> str:
    """Render `relative` (a path inside the bundle directory); ends with a newline."""
    path = bundle.directory / relative
    try:
        text = _render(bundle, relative, "", context)
    except Exception as e:
        said = _failure(e)
        if said is None:
            raise
        line = _line(e, str(path))
        raise PaxxError(f"{path}{f':{line}' if line else ''}: cannot render the template: "
                        f"{said}. Fix the bundle.") from None
    return text if text.endswith("\n") else text + "\n"


def render_templates(bundle: Bundle, context: Mapping[str, Any]) -> dict[str, str]:
    """Target path (relative to the services dir) -> rendered text."""
    from paxx_patch.bundle.limits import MAX_TOTAL_CHARS, limits

    rendered = {}
    total = 0
    for target, source in bundle.templates.items():
        rendered[target] = render_file(bundle, f"templates/{source}", context)
        total += len(rendered[target])
        if total > MAX_TOTAL_CHARS:
            raise PaxxError(
                f"{bundle.directory / 'templates' / source}: the templates of {bundle.name} "
                f"write more than {MAX_TOTAL_CHARS} characters together, up to this one "
                f"({limits()}). Fix the bundle."
            )
    return rendered


def render_string(
    bundle: Bundle, text: str, context: Mapping[str, Any], key: str = ""
) -> str:
    """Render one string of bundle.toml (`key` names it in errors) like a template."""
    try:
        return _render(bundle, None, text, context)
    except Exception as e:
        said = _failure(e)
        if said is None:
            raise
        where = f"{bundle.toml_path}: key `{key}`" if key else f"{bundle.toml_path}"
        raise PaxxError(f"{where}: cannot render {text[:200]!r}: {said}. Fix the bundle.") from None
