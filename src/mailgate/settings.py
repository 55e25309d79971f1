"""Typed settings, loaded once at the entry point and passed down.

Sources, strongest first: explicit values (CLI options), environment variables
`MAILGATE_SECTION__KEY` (e.g. `MAILGATE_DATABASE__URL`, `MAILGATE_WEB__PORT`), the TOML file
given with `--config`, then the defaults. Every secret can also come from a file: set
`MAILGATE_SECTION__KEY_FILE` to its path (e.g. `MAILGATE_DATABASE__URL_FILE=/run/secrets/db`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

ENV_PREFIX = "MAILGATE_"


class DatabaseSettings(BaseModel):
    url: SecretStr | None = Field(
        default=None,
        description="SQLAlchemy URL; default sqlite+aiosqlite:///DATA_DIR/mailgate.db. "
        "PostgreSQL: postgresql+asyncpg://user@host/db",
    )
    pool_size: int = Field(default=10, ge=1, le=200)


class WebSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    session_idle_minutes: int = Field(default=30, ge=1)
    session_absolute_hours: int = Field(default=12, ge=1)
    trusted_proxies: list[str] = Field(default_factory=list)


class TlsSettings(BaseModel):
    cert_file: Path | None = Field(default=None, description="default DATA_DIR/tls/cert.pem")
    key_file: Path | None = Field(default=None, description="default DATA_DIR/tls/key.pem")
    hostname: str = "localhost"


class SecuritySettings(BaseModel):
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=65536, ge=8192)
    argon2_parallelism: int = Field(default=4, ge=1)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    data_dir: Path = Path("mailgate-data")
    database: DatabaseSettings = DatabaseSettings()
    web: WebSettings = WebSettings()
    tls: TlsSettings = TlsSettings()
    security: SecuritySettings = SecuritySettings()

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().absolute()

    @property
    def database_url(self) -> str:
        if self.database.url is not None:
            return self.database.url.get_secret_value()
        return f"sqlite+aiosqlite:///{self.data_dir / 'mailgate.db'}"

    @property
    def cert_file(self) -> Path:
        return self.tls.cert_file or self.data_dir / "tls" / "cert.pem"

    @property
    def key_file(self) -> Path:
        return self.tls.key_file or self.data_dir / "tls" / "key.pem"


def _with_toml(toml_file: Path) -> type[Settings]:
    """Settings that also read `toml_file`, below the environment in precedence."""

    class FileSettings(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            toml = TomlConfigSettingsSource(settings_cls, toml_file=toml_file)
            return (init_settings, env_settings, toml)

    return FileSettings


def _secret_files(environ: dict[str, str]) -> dict[str, Any]:
    """Nested values from MAILGATE_SECTION__KEY_FILE variables, read from their files."""
    out: dict[str, Any] = {}
    for name, path in environ.items():
        if not (name.startswith(ENV_PREFIX) and name.endswith("_FILE") and "__" in name):
            continue
        section, _, key = name[len(ENV_PREFIX) : -len("_FILE")].lower().partition("__")
        value = Path(path).read_text(encoding="utf-8").strip()
        out.setdefault(section, {})[key] = value
    return out


def load_settings(
    config_file: Path | None = None,
    environ: dict[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Build the settings once. `overrides` are CLI options (e.g. data_dir=Path(...))."""
    env = dict(os.environ if environ is None else environ)
    if config_file is not None and not config_file.is_file():
        raise FileNotFoundError(f"configuration file {config_file} does not exist")
    cls = Settings if config_file is None else _with_toml(config_file)
    init: dict[str, Any] = _secret_files(env)
    init.update({k: v for k, v in overrides.items() if v is not None})
    return cls(**init)
