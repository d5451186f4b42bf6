"""Application settings, read from the environment and .env."""

from functools import cached_property

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Settings for the shop service."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    # Application
    app_name: str = "shop"
    debug: bool = False  # never true in production

    # Database
    database_url: str = "postgresql+asyncpg://postgres:postgres@localhost:5432/shop"
    db_pool_size: int = 5

    @field_validator("database_url")
    @classmethod
    def check_async_driver(cls, value: str) -> str:
        if value.startswith("postgresql://"):
            return value.replace("postgresql://", "postgresql+asyncpg://", 1)
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @cached_property
    def title(self) -> str:
        return self.app_name.title()


settings = Settings()
