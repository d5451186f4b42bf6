"""The Python the project runs on, where it says so: `requires-python`, Poetry's
`python` dependency, and the base image of the Dockerfiles that ship it.

The generated modules need GENERATED_NEEDS (`asyncio.timeout` bounds every Redis and
S3 call): a project that allows or builds on an older Python gets a warning naming
where it says so, before the code fails at its first call.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from paxx_patch.discover import FileReader, decode

GENERATED_NEEDS = (3, 11)
# FROM [--platform=...] IMAGE [AS NAME]; the image of a python:X.Y tag, any registry
_STAGE = re.compile(r"^[ \t]*FROM[ \t]+(?:--\S+[ \t]+)*(\S+)", re.IGNORECASE | re.MULTILINE)
_PYTHON = re.compile(r"(?:\S+/)?python:(\d+)\.(\d+)(?!\d)")


def older_python(files: FileReader, pyproject_path: str, pyproject: dict[str, Any],
                 dockerfiles: Sequence[str]) -> str:
    """A warning where the project allows or runs a Python older than the generated
    code needs, naming where it says so; "" when it does not."""
    need = ".".join(map(str, GENERATED_NEEDS))
    found = []
    declared = _declared(pyproject)
    if declared is not None and _allows_older(declared):
        found.append(f"{pyproject_path} allows Python {declared}")
    for path in dockerfiles:
        raw = files.get(path)
        stages = list(_STAGE.finditer(decode(path, raw))) if raw is not None else []
        # the image that runs is the last stage's
        image = _PYTHON.match(stages[-1].group(1)) if stages else None
        if stages and image and (int(image.group(1)), int(image.group(2))) < GENERATED_NEEDS:
            line = stages[-1].string[: stages[-1].start()].count("\n") + 1
            found.append(f"{path}:{line} builds on python:{image.group(1)}.{image.group(2)}")
    if not found:
        return ""
    return (f"the generated modules need Python {need} or newer (asyncio.timeout), and "
            f"{'; '.join(found)}. Raise it to {need} (requires-python = \">={need}\", "
            f"FROM python:{need}-slim) before you run the app, or its first Redis or S3 call fails.")


def _declared(pyproject: dict[str, Any]) -> str | None:
    for keys in (("project", "requires-python"), ("tool", "poetry", "dependencies", "python")):
        value: Any = pyproject
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, str):
            return value
    return None


def _allows_older(declared: str) -> bool:
    """Whether a release older than GENERATED_NEEDS satisfies `declared` (PEP 440, or
    Poetry's `^3.9` / `~3.9`); False when it cannot be read."""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    spec = re.sub(r"[\^~](?!=)\s*(\d+(?:\.\d+)*)", r">=\1", declared.replace(" ", ""))
    spec = ",".join(part for part in spec.split(",") if part)
    if "||" in spec or "|" in spec:
        return any(_allows_older(part) for part in re.split(r"\|\|?", declared))
    try:
        allowed = SpecifierSet(spec)
    except InvalidSpecifier:
        return False
    major, minor = GENERATED_NEEDS
    return any(allowed.contains(f"{major}.{older}.{patch}", prereleases=True)
               for older in range(minor) for patch in (0, 99))
