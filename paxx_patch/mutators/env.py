"""env: the component's variables in .env.example, matched by whole key."""

from __future__ import annotations

import re
from collections.abc import Sequence

from paxx_patch.edit.text import TextFile
from paxx_patch.mutators import Context

_KEY = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=")


def env_keys(text: str) -> set[str]:
    return {m.group(1) for line in text.splitlines() if (m := _KEY.match(line))}


class EnvMutator:
    name = "env"

    def paths(self, ctx: Context) -> Sequence[str]:
        if not ctx.project.env_file:  # only a committed .env, which is never edited
            if ctx.removing is None and ctx.previous is None and ctx.bundle.settings:
                lines = "\n".join(
                    f"    {ctx.project.env_key(s.name)}="
                    f"{'' if s.secret else _env_value(s.default)}" for s in ctx.bundle.settings
                )
                ctx.notes.append(
                    f"{ctx.bundle.name}: the project has no env example (only a committed "
                    ".env, which paxx-patch never edits); its variables "
                    f"are, should you want them there:\n{lines}"
                )
            return []
        return [ctx.project.env_file]

    def apply(self, path: str, old: bytes | None, ctx: Context) -> bytes | None:
        if ctx.removing is not None:
            return self._remove(old, ctx)
        doc = TextFile.decode(path, old)
        present = env_keys(doc.text)
        added = []
        lines = []
        for setting in ctx.bundle.settings:
            key = ctx.project.env_key(setting.name)
            if key in present:
                continue
            value = "" if setting.secret else _env_value(setting.default)
            # on a line of its own: dotenv readers disagree on trailing comments
            # (some keep them as part of the value)
            lines += [*_description(setting.description), f"{key}={value}"]
            added.append(key)
        if not added:
            return old
        ctx.entries[self.name] = {"file": path, "keys": added}
        block = f"# {ctx.bundle.name}\n" + "\n".join(lines) + "\n"
        return doc.append_block(block)

    def _remove(self, old: bytes | None, ctx: Context) -> bytes | None:
        assert ctx.removing is not None
        keys = set(ctx.removing.entries.get(self.name, {}).get("keys", []))
        if old is None or not keys:
            return old
        doc = TextFile.decode(ctx.project.env_file, old)
        lines = doc.text.splitlines(keepends=True)
        hits = [i for i, line in enumerate(lines) if (m := _KEY.match(line)) and m.group(1) in keys]
        if not hits:
            return old
        drop = set(hits)
        descriptions = {ctx.project.env_key(f.name): _description(f.description) for f in ctx.bundle.settings}
        for i in hits:
            above = descriptions.get(_KEY.match(lines[i]).group(1), [])  # type: ignore[union-attr]
            start = i - len(above)
            if above and start >= 0 and [line.rstrip("\r\n") for line in lines[start:i]] == above:
                drop.update(range(start, i))
        first = min(drop)
        # the `# component` heading and the blank line paxx-patch put before it
        if first > 0 and lines[first - 1].strip() == f"# {ctx.bundle.name}":
            drop.add(first - 1)
            after = max(hits) + 1
            if first > 1 and not lines[first - 2].strip() and (
                after >= len(lines) or not lines[after].strip()
            ):
                drop.add(first - 2)
        text = "".join(line for i, line in enumerate(lines) if i not in drop)
        # nothing of the user's is left: the file was made by an add, so it goes
        return doc.encode(text) if text.strip() else None

    def subject(self, ctx: Context, changed: Sequence[str]) -> str:
        if ctx.removing is not None:
            return f"remove {ctx.bundle.name} variables from {changed[0]}"
        keys = ctx.entries.get(self.name, {}).get("keys", [])
        return f"add {', '.join(keys)} to {changed[0]}"


def _description(text: str) -> list[str]:
    """A setting's description as the comment lines above its key."""
    import textwrap

    return [f"# {line}" for line in textwrap.wrap(text, width=76)] if text else []


def _env_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
