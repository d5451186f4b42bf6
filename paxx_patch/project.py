"""Discover the target project: settings class, dependency file, compose file, app.

Everything detected can be overridden in the target's pyproject.toml under
[tool.paxx-patch]; everything detected is shown by `paxx-patch status --json`.
All paths here are repository paths (posix, relative to the repository root).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class Project:
    root: str  # project directory, "" for the repository root
    services_dir: str  # e.g. "services"
    services_package: str  # import path of services_dir, e.g. "services"
    settings_file: str  # e.g. "settings.py"
    settings_class: str  # e.g. "Settings"
    settings_module: str  # import path, e.g. "settings"
    settings_import: str  # e.g. "from settings import settings"
    settings_expr: str  # e.g. "settings" or "get_settings()"
    upper_case_fields: bool  # the class names its fields REDIS_URL, not redis_url
    env_prefix: str
    compose_file: str
    dependency_file: str
    dependency_style: Literal["pep621", "poetry", "requirements"]
    env_file: str
    app_file: str | None  # module that creates the FastAPI app
    app_name: str | None  # "app" (module level) or a factory name
    app_service: str | None  # compose service that runs the app
    lock_file: str

    def path(self, relative: str) -> str:
        """A path relative to the project directory, as a repository path."""
        return f"{self.root}/{relative}" if self.root else relative

    def field_name(self, name: str) -> str:
        """The attribute name a bundle's setting gets in this project's class."""
        return name.upper() if self.upper_case_fields else name

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
