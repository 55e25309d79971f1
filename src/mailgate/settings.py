"""Typed settings, loaded once at the entry point and passed down.

Sources, strongest first: explicit values (CLI options), environment variables
`MAILGATE_SECTION__KEY` (e.g. `MAILGATE_DATABASE__URL`, `MAILGATE_WEB__PORT`), the TOML file
given with `--config`, then the defaults. Every secret can also come from a file: set
`MAILGATE_SECTION__KEY_FILE` to its path (e.g. `MAILGATE_DATABASE__URL_FILE=/run/secrets/db`).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any, Literal

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
    public_url: str | None = Field(
        default=None,
        description="The portal's address in messages (links, notices); default "
        "http://HOST:PORT when the web listens on loopback, else https://TLS_HOSTNAME:WEB_PORT",
    )


class TlsSettings(BaseModel):
    cert_file: Path | None = Field(default=None, description="default DATA_DIR/tls/cert.pem")
    key_file: Path | None = Field(default=None, description="default DATA_DIR/tls/key.pem")
    hostname: str = "localhost"


class SecuritySettings(BaseModel):
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=65536, ge=8192)
    argon2_parallelism: int = Field(default=4, ge=1)
    auth_cache_seconds: float = Field(
        default=300.0,
        ge=0,
        description="How long a successful password check is remembered (0: never); see "
        "services/hashing.py CachingHasher",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Seals TOTP secrets and keys recovery-code hashes; default: the file "
        "DATA_DIR/secret_key, generated at first start. Losing it disables enrolled TOTP apps.",
    )
    sudo_minutes: int = Field(
        default=10,
        ge=1,
        le=720,
        description="Sudo mode: how long after proving the password (sign-in or the "
        "/account/sudo prompt) a session may change credentials, factors and contacts",
    )
    webauthn_rp_id: str | None = Field(
        default=None, description="WebAuthn relying party id (host name); default tls.hostname"
    )
    webauthn_origins: list[str] = Field(
        default_factory=list,
        description="Origins the portal is served from; default https://RP_ID "
        "(and http://localhost:WEB_PORT for localhost)",
    )
    sms_provider: Literal["file", "webhook", "none"] = Field(
        default="file",
        description="file: append to DATA_DIR/sms-outbox.jsonl (development); webhook: POST "
        "JSON {to, text} to sms_webhook_url; none: no SMS (phone contacts cannot be verified)",
    )
    sms_webhook_url: str | None = Field(default=None, description="http(s) URL of the gateway")
    sms_webhook_token: SecretStr | None = Field(
        default=None, description="sent as 'Authorization: Bearer TOKEN' to the SMS webhook"
    )
    helpdesk_contact: str = Field(
        default="",
        max_length=200,
        description="The IT desk the password-reset page names for addresses whose domain is "
        "not ours or whose organisation names none (organisations set their own with "
        "'mailgate org update SLUG --helpdesk ...')",
    )


class ThrottleSettings(BaseModel):
    """Brute-force throttling per (account, client IP) pair and per IP (docs/security.md)."""

    wait_increment_seconds: float = Field(default=60, gt=0)
    max_wait_seconds: float = Field(default=900, gt=0)
    failure_reset_hours: float = Field(default=12, gt=0)
    pair_free_failures: int = Field(default=5, ge=1, description="per account and IP")
    ip_free_failures: int = Field(default=30, ge=1, description="per IP, all accounts")
    burst_failures: int = Field(default=50, ge=1, description="on one account: alert")
    burst_min_ips: int = Field(default=10, ge=1, description="... from at least this many IPs")
    burst_window_minutes: float = Field(default=60, gt=0)


MIB = 1024 * 1024


class SmtpSettings(BaseModel):
    """The three SMTP listeners and their limits (docs/smtp.md). Port 0 picks a free port."""

    host: str = "127.0.0.1"
    mx_port: int = Field(default=2525, ge=0, le=65535)
    submission_port: int = Field(default=2587, ge=0, le=65535)
    submissions_port: int = Field(default=2465, ge=0, le=65535)
    hostname: str | None = Field(
        default=None, description="name in the greeting; default tls.hostname"
    )
    max_message_size: int = Field(default=25 * MIB, ge=1024)
    max_recipients: int = Field(default=100, ge=1)
    max_line_length: int = Field(default=4096, ge=1001, description="octets, CRLF included")
    max_connections_per_ip: int = Field(default=50, ge=1)
    command_timeout: float = Field(default=300.0, gt=0, description="seconds between commands")
    data_timeout: float = Field(default=600.0, gt=0, description="seconds for a whole DATA")
    submission_messages_per_hour: int = Field(default=300, ge=1)
    submission_recipients_per_message: int = Field(default=50, ge=1)


class ImapSettings(BaseModel):
    """The IMAP listeners and their limits (docs/imap.md). Port 0 picks a free port."""

    host: str = "127.0.0.1"
    port: int = Field(default=2143, ge=0, le=65535, description="STARTTLS")
    tls_port: int = Field(default=2993, ge=0, le=65535, description="implicit TLS")
    allow_plaintext_on_loopback: bool = Field(
        default=False, description="offer LOGIN/AUTH without TLS to 127.0.0.1 and ::1"
    )
    max_line: int = Field(default=64 * 1024, ge=1024, description="octets of one command line")
    max_literal: int = Field(default=50 * MIB, ge=1024, description="octets of one literal")
    max_command: int = Field(default=64 * MIB, ge=2048, description="octets of one command")
    max_bad_commands: int = Field(default=20, ge=1, description="BADs in a row, then BYE")
    idle_timeout: float = Field(default=1800.0, gt=0, description="seconds in IDLE")
    autologout: float = Field(default=1800.0, gt=0, description="seconds between commands")
    login_timeout: float = Field(default=60.0, gt=0, description="seconds before LOGIN")
    max_connections_per_ip: int = Field(default=50, ge=1)


class Pop3Settings(BaseModel):
    """The POP3 listeners and their limits (docs/pop3.md). Port 0 picks a free port."""

    host: str = "127.0.0.1"
    port: int = Field(default=2110, ge=0, le=65535, description="plain text with STLS")
    tls_port: int = Field(default=2995, ge=0, le=65535, description="implicit TLS")
    allow_plaintext_on_loopback: bool = Field(
        default=False, description="offer USER/PASS/AUTH without TLS to 127.0.0.1 and ::1"
    )
    max_line_length: int = Field(default=4096, ge=512, description="octets, CRLF included")
    idle_timeout: float = Field(default=600.0, gt=0, description="seconds between commands")
    max_connections_per_ip: int = Field(default=20, ge=1)
    max_bad_commands: int = Field(default=20, ge=1, description="errors, then disconnect")
    max_auth_failures: int = Field(default=3, ge=1, description="failed logins, then disconnect")


class OutboundSettings(BaseModel):
    """Mail for remote recipients: next hops, retries, DKIM."""

    enabled: bool = Field(default=True, description="Run the queue worker in 'mailgate serve'.")
    hostname: str | None = Field(default=None, description="EHLO name; default tls.hostname")
    transport_map: dict[str, str] = Field(
        default_factory=dict, description="domain -> host:port, before smarthost and MX"
    )
    smarthost: str | None = Field(default=None, description="host:port for all other mail")
    smarthost_user: str | None = None
    smarthost_password: SecretStr | None = None
    smarthost_require_tls: bool = True
    retry_initial_minutes: float = Field(default=5, gt=0)
    retry_factor: float = Field(default=2.0, ge=1)
    retry_max_minutes: float = Field(default=240, gt=0)
    max_age_days: float = Field(default=5, gt=0)
    concurrency: int = Field(default=10, ge=1, le=500)
    timeout_seconds: float = Field(default=60, gt=0)
    poll_seconds: float = Field(default=30, gt=0)
    dkim_selector: str = Field(default="mg2026", pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")


class OnboardingSettings(BaseModel):
    """The review workflow's background sweeps (services.workflow) and provisioning."""

    sweep_seconds: float = Field(
        default=300,
        gt=0,
        description="How often 'mailgate serve' expires overdue applications and reminds approvers",
    )
    sweep_batch: int = Field(
        default=100, ge=1, le=10000, description="applications expired / reminded per sweep"
    )
    activation_hours: int = Field(
        default=72, ge=1, le=720, description="how long an activation code is valid"
    )


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
    throttle: ThrottleSettings = ThrottleSettings()
    outbound: OutboundSettings = OutboundSettings()
    smtp: SmtpSettings = SmtpSettings()
    imap: ImapSettings = ImapSettings()
    pop3: Pop3Settings = Pop3Settings()
    onboarding: OnboardingSettings = OnboardingSettings()

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

    @property
    def portal_url(self) -> str:
        if self.web.public_url:
            return self.web.public_url.rstrip("/")
        if self.web.host in ("127.0.0.1", "localhost", "::1"):  # the demo, a developer's machine
            host = f"[{self.web.host}]" if ":" in self.web.host else self.web.host
            return f"http://{host}:{self.web.port}"
        return f"https://{self.tls.hostname}:{self.web.port}"

    @property
    def webauthn_rp_id(self) -> str:
        return self.security.webauthn_rp_id or self.tls.hostname

    @property
    def webauthn_origins(self) -> list[str]:
        if self.security.webauthn_origins:
            return list(self.security.webauthn_origins)
        rp_id = self.webauthn_rp_id
        local = [f"http://localhost:{self.web.port}"] if rp_id == "localhost" else []
        return [f"https://{rp_id}", *local]

    def secret_key(self) -> bytes:
        """`security.secret_key`, or the contents of DATA_DIR/secret_key, created (mode 0600,
        256 random bits) when missing."""
        if self.security.secret_key is not None:
            return self.security.secret_key.get_secret_value().encode()
        path = self.data_dir / "secret_key"
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_text(encoding="ascii").strip().encode()
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(secrets.token_urlsafe(32) + "\n")
        return path.read_text(encoding="ascii").strip().encode()


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
