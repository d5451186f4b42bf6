"""Print the README's tables of environment variables, one per component, from the
bundles' settings; `--write` puts them into README.md between its markers.

    python scripts/env_tables.py            # print
    python scripts/env_tables.py --write    # update README.md

tests/test_readme.py fails when README.md and the bundles disagree.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- env-tables: made by scripts/env_tables.py -->", "<!-- /env-tables -->"


def tables() -> str:
    sys.path.insert(0, str(ROOT))
    from paxx_patch.bundle import builtin_bundles_dir, load_bundle_dir

    out: list[str] = []
    for directory in sorted(builtin_bundles_dir().iterdir()):
        if not (directory / "bundle.toml").is_file():
            continue
        bundle = load_bundle_dir(directory)
        if not bundle.settings:
            continue
        out += [f"**{bundle.name}**", "", "| variable | type | default | what it sets |", "|---|---|---|---|"]
        for s in bundle.settings:
            default = "(secret)" if s.secret else f"`{str(s.default).lower() if isinstance(s.default, bool) else s.default}`"
            default = "(empty)" if default == "``" else default
            description = s.description.replace("|", "\\|")
            out.append(f"| `{s.env_key}` | {s.type} | {default} | {description} |")
        out.append("")
    return "\n".join(out)


def readme_with_tables(readme: str) -> str:
    before, _, rest = readme.partition(START)
    _, _, after = rest.partition(END)
    return f"{before}{START}\n{tables()}{END}{after}"


def main() -> int:
    if sys.argv[1:] == ["--write"]:
        path = ROOT / "README.md"
        path.write_text(readme_with_tables(path.read_text(encoding="utf-8")), encoding="utf-8")
        return 0
    print(tables())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
