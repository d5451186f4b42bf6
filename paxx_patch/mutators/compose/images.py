"""Services that run a given image switched to another (postgres to PostGIS), and back.

A bundle's `[compose_images]` maps an image name to the image that replaces it, with
`{major}` for the major version of the tag it replaces and `{alpine}` for `-alpine`
when that tag is an Alpine one: `postgres = "postgis/postgis:{major}-3.5{alpine}"`
turns `postgres:17-alpine` into `postgis/postgis:17-3.5-alpine`. Only the image's
scalar is rewritten, in place; the lock keeps the text it replaced, so `remove` puts
back exactly that.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from paxx_patch.discover.layout import image_name
from paxx_patch.mutators.compose.app_service import TextEdit, own_keys, quote


def replacement(current: str, template: str) -> str | None:
    """The image `template` makes of `current`, or None when its tag names no major."""
    tag = current.split("@", 1)[0].rsplit("/", 1)[-1].partition(":")[2]
    major = re.match(r"\d+", tag)
    if major is None:
        return None
    alpine = "-alpine" if "alpine" in tag else ""
    return template.replace("{major}", major.group(0)).replace("{alpine}", alpine)


def _example(template: str) -> str:
    """`template` as a user reads it: postgis/postgis:MAJOR-3.5."""
    return template.replace("{major}", "MAJOR").replace("{alpine}", "")


def _scalar_end(line: str, col: int) -> int:
    """Where the one-line YAML scalar starting at `col` ends."""
    quote_char = line[col : col + 1]
    if quote_char in ("'", '"'):
        i = col + 1
        while i < len(line):
            if quote_char == '"' and line[i] == "\\":
                i += 2
                continue
            if line[i] == quote_char:
                if quote_char == "'" and line[i + 1 : i + 2] == "'":
                    i += 2
                    continue
                return i + 1
            i += 1
        return len(line.rstrip("\r\n"))
    rest = line[col:].rstrip("\r\n")
    comment = re.search(r"\s+#", rest)
    return col + (comment.start() if comment else len(rest.rstrip()))


def _image_position(services: Any, name: str) -> tuple[int, int] | None:
    svc = services[name]
    if not isinstance(svc, dict) or "image" not in own_keys(svc) or not isinstance(svc["image"], str):
        return None
    line, col = getattr(svc, "lc").value("image")  # noqa: B009 — ruamel CommentedMap
    return int(line), int(col)


def swap_images(
    path: str, root: Any, lines: list[str], swaps: Mapping[str, str]
) -> tuple[list[TextEdit], dict[str, list[str]], list[str]]:
    """Edits switching every service that runs a swapped image; what each was (its
    scalar as written) and became; and warnings for those left alone."""
    services = root.get("services") or {}
    edits: list[TextEdit] = []
    swapped: dict[str, list[str]] = {}
    warnings: list[str] = []
    for name in own_keys(services):
        position = _image_position(services, name)
        if position is None:
            warnings += _built_instead(path, services, name, swaps)
            continue
        image = services[name]["image"]
        template = swaps.get(image_name(image))
        if template is None:
            continue
        new = replacement(image, template)
        if new is None:
            warnings.append(f"{path}: service {name!r} runs {image}, whose tag names no major "
                            f"version; it was left as it is. Set its image to {_example(template)} with "
                            "the major version your data was made with.")
            continue
        line_no, col = position
        line = lines[line_no]
        end = _scalar_end(line, col)
        written = line[col:end]
        # in the quotes the file used for it
        kept = f"{written[0]}{new}{written[0]}" if written[:1] in ("'", '"') else quote(new)
        edits.append(TextEdit(line_no, line_no + 1, line[:col] + kept + line[end:]))
        swapped[str(name)] = [written, new]
    return edits, swapped, warnings


def _built_instead(path: str, services: Any, name: Any, swaps: Mapping[str, str]) -> list[str]:
    """A service named after a swapped image but built from a Dockerfile: its
    Dockerfile is where the image is chosen."""
    svc = services[name]
    if not isinstance(svc, dict) or "build" not in own_keys(svc):
        return []
    for wanted, template in swaps.items():
        if wanted.rsplit("/", 1)[-1] in str(name).lower():
            message = (f"{path}: service {name!r} is built from a Dockerfile, not run from "
                       f"an image; base that Dockerfile on {_example(template)} (the major version of "
                       "your data) to have it.")
            return [message]
    return []


def restore_spans(root: Any, lines: list[str], swapped: Mapping[str, Any]) -> list[tuple[int, int, str]]:
    """Lines that put back the images `swap_images` replaced, where they are still ours."""
    services = root.get("services") or {}
    spans: list[tuple[int, int, str]] = []
    for name, record in swapped.items():
        if name not in own_keys(services) or not isinstance(record, list) or len(record) != 2:
            continue
        position = _image_position(services, name)
        if position is None or services[name]["image"] != record[1]:
            continue  # changed since: the user's image stays
        line_no, col = position
        line = lines[line_no]
        spans.append((line_no, line_no + 1, line[:col] + str(record[0]) + line[_scalar_end(line, col):]))
    return spans
