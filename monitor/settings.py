"""Settings: one TOML file plus ``CHAMBERGUARD_*`` environment overrides, strictly checked.

A typo in a gateway's config must stop start-up with the key and file named, never be
silently ignored (a misspelt ``mode`` would otherwise mean "enforce" by default).
Nested keys map to env vars with ``__``: ``CHAMBERGUARD_DNS__UPSTREAM=203.0.113.53:53``.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from allowlist.categories import Mode

ENV_PREFIX = "CHAMBERGUARD_"
_toml_data: ContextVar[dict[str, Any] | None] = ContextVar("_toml_data", default=None)
_env_data: ContextVar[Mapping[str, str] | None] = ContextVar("_env_data", default=None)


class ConfigError(Exception):
    """Start-up must stop; the message names the file and key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SiteSettings(_Section):
    name: str = "Example Council"
    room: str = "chamber"  # this gate's room identity (several rooms may share a database)
    mode: Mode = Mode.ENFORCE  # default until IT changes it in the database
    topology: Literal["inline", "resolver-only", "mirror"] = "inline"
    data_dir: Path = Path("var")


class ChamberSettings(_Section):
    interface: str = ""  # empty: no Wi-Fi interface → the simulated chamber
    subnets: list[str] = Field(default_factory=lambda: ["198.51.100.0/24"])
    gate_address: str = "198.51.100.1"
    gate_address6: str = ""  # the gate's IPv6 address on the chamber side, if IPv6 is offered

    @field_validator("subnets")
    @classmethod
    def _subnets(cls, v: list[str]) -> list[str]:
        for s in v:
            ipaddress.ip_network(s, strict=False)
        return v


class DnsSettings(_Section):
    listen: str = "198.51.100.1"
    port: int = 53
    redirect_port: int = 5353  # DNS redirected from other resolvers lands here (a bypass)
    upstream: str = "203.0.113.53:53"
    max_ttl: int = Field(60, ge=1, le=86400)
    upstream_timeout: float = 2.0
    block_address: str = ""  # empty → NXDOMAIN for refused names
    fast_path: bool = True  # native UDP fast path if built (CHAMBERGUARD_DNS__FAST_PATH=false)
    doh_addresses: list[str] = Field(default_factory=list)  # extra DoH/DoT resolver addresses

    @field_validator("doh_addresses")
    @classmethod
    def _addresses(cls, v: list[str]) -> list[str]:
        return [str(ipaddress.ip_address(a)) for a in v]
    rate_limit_qps: int = Field(100, ge=1)
    rate_limit_burst: int = Field(400, ge=1)


class PolicySettings(_Section):
    grace_minutes: int = Field(5, ge=0, le=120)
    episode_gap_minutes: int = Field(2, ge=1, le=120)
    # "App or site likely opened": at least this many distinct host names of one platform
    # within this many seconds (allowlist.episodes.OpenedRule); otherwise background.
    opened_min_hosts: int = Field(4, ge=1, le=50)
    opened_within_seconds: int = Field(30, ge=1, le=600)
    presets: list[str] = Field(
        default_factory=lambda: ["moderngov", "public-i", "os-connectivity", "certificates"]
    )
    democracy_host: str = "democracy.example.gov.uk"
    webcast_host: str = "example.public-i.tv"
    # How the pre-meeting check loads those two sites from the gate: "https" (certificate
    # verified, as a member's device would); "http" only for test networks without TLS.
    check_fetch: Literal["https", "http"] = "https"
    set_timeout_margin: int = 30  # seconds an allowed address outlives its DNS TTL


class MeetingsSettings(_Section):
    moderngov_url: str = ""  # e.g. https://democracy.example.gov.uk (mgWebService.asmx is appended)
    ical_url: str = ""  # alternatively, a published iCalendar feed
    sync_days_before: int = Field(7, ge=0, le=365)
    sync_days_after: int = Field(90, ge=1, le=730)
    sync_interval_minutes: int = Field(60, ge=0)  # 0: no periodic sync
    committee_patterns: list[str] = Field(default_factory=list)  # empty: the default scope
    chamber_rooms: list[str] = Field(default_factory=list)  # empty: every meeting is ours
    timeout_seconds: float = Field(10.0, gt=0, le=120)


class CaptureSettings(_Section):
    enabled: bool = True  # passive monitor on the chamber interface (needs CAP_NET_RAW)
    interface: str = ""  # empty: the chamber interface
    buffer_mb: int = Field(8, ge=1, le=512)
    dedup_seconds: float = Field(10.0, ge=0)


class DatabaseSettings(_Section):
    url: str = ""  # empty → SQLite file in data_dir


class WebSettings(_Section):
    host: str = "127.0.0.1"
    port: int = 8000
    # Cookies carry the Secure flag: true for any real deployment (behind the TLS proxy);
    # only a plain-http demo on 127.0.0.1 sets it false (deploy/config/demo.toml).
    secure_cookies: bool = True
    # Proxies (addresses or networks) whose X-Forwarded-For/-Proto are believed; nobody
    # else's, localhost included. E.g. ["127.0.0.1/32"] behind deploy/proxy/ on this host.
    trusted_proxies: list[str] = []

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, v: list[str]) -> list[str]:
        return [str(ipaddress.ip_network(s, strict=False)) for s in v]
    # Members' self-registration page, served alone on the chamber side (e.g. the gate's
    # chamber address) so phones never see the staff login; empty: not served separately.
    registration_host: str = ""
    registration_port: int = Field(8080, ge=1, le=65535)
    session_hours: int = 12


class NftSettings(_Section):
    enabled: bool = True
    table: str = "chamberguard"


class RetentionSettings(_Section):
    events_days: int = Field(365, ge=1)
    reports_years: int = Field(6, ge=1)
    # Unlisted names refused to a restricted device, kept for IT's troubleshooting only.
    refused_names_hours: int = Field(24, ge=1, le=24 * 7)


class PrivacySettings(_Section):
    # What the gate and sensor store (monitor.evidence.privacy.PrivacyLevel): "full" (every
    # event as recorded), "platform" (no host names) or "counts" (per member and meeting
    # totals once the meeting's report is signed). A change applies from the next meeting.
    level: Literal["full", "platform", "counts"] = "full"


class RadiusClient(_Section):
    """One access point or controller allowed to send RADIUS accounting, with its shared
    secret. Prefer ``secret_file`` (a root-only file) to a secret written into the config."""

    address: str  # an address or network, e.g. "198.51.100.2" or "198.51.100.0/28"
    secret: SecretStr = SecretStr("")
    secret_file: Path | None = None

    @field_validator("address")
    @classmethod
    def _address(cls, v: str) -> str:
        return str(ipaddress.ip_network(v, strict=False))

    def shared_secret(self) -> bytes:
        """The secret's bytes (read from ``secret_file`` when one is named)."""
        if self.secret_file is not None:
            try:
                raw = self.secret_file.read_bytes().strip()
            except OSError as exc:
                raise ConfigError(f"[[identity.radius_clients]] {self.address}: cannot read "
                                  f"secret_file {self.secret_file}: {exc.strerror}") from None
        else:
            raw = self.secret.get_secret_value().encode()
        if not raw:
            raise ConfigError(f"[[identity.radius_clients]] {self.address}: empty secret")
        return raw


class IdentitySettings(_Section):
    """Who a device belongs to, from the Wi-Fi itself (RADIUS accounting, per-member keys)."""

    radius_listen: str = ""  # empty: no RADIUS accounting receiver; e.g. "198.51.100.1"
    radius_port: int = Field(1813, ge=1, le=65535)
    radius_clients: list[RadiusClient] = Field(default_factory=list)
    hostapd_ctrl: str = ""  # hostapd's control socket, e.g. /run/hostapd/wlan0; empty: none
    wifi_ssid: str = Field("", max_length=32)  # the chamber SSID (QR codes on key slips)
    wpa_psk_file: Path = Path("/etc/hostapd/chamberguard.wpa_psk")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid"
    )

    site: SiteSettings = SiteSettings()
    chamber: ChamberSettings = ChamberSettings()
    dns: DnsSettings = DnsSettings()
    policy: PolicySettings = PolicySettings()
    database: DatabaseSettings = DatabaseSettings()
    web: WebSettings = WebSettings()
    nftables: NftSettings = NftSettings()
    retention: RetentionSettings = RetentionSettings()
    privacy: PrivacySettings = PrivacySettings()
    meetings: MeetingsSettings = MeetingsSettings()
    capture: CaptureSettings = CaptureSettings()
    identity: IdentitySettings = IdentitySettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Precedence: explicit arguments, then environment, then the TOML file.
        return init_settings, _EnvSource(settings_cls), _TomlSource(settings_cls)

    @property
    def database_url(self) -> str:
        if self.database.url:
            return self.database.url
        return f"sqlite:///{(self.site.data_dir / 'chamberguard.db').resolve()}"

    @property
    def simulated(self) -> bool:
        return not self.chamber.interface


class _EnvSource(EnvSettingsSource):
    """The environment given to :func:`load_settings` (tests pass their own mapping)."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        env = _env_data.get()
        env = os.environ if env is None else env
        return {k.lower(): v for k, v in env.items()}


class _TomlSource(PydanticBaseSettingsSource):
    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return (_toml_data.get() or {}).get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_toml_data.get() or {})


def _known_env_keys() -> set[str]:
    keys = {f"{ENV_PREFIX}CONFIG"}
    for name, f in Settings.model_fields.items():
        sub = f.annotation
        keys.add(f"{ENV_PREFIX}{name.upper()}")
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            for child in sub.model_fields:
                keys.add(f"{ENV_PREFIX}{name.upper()}__{child.upper()}")
    return keys


def load_settings(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read ``path`` (or ``$CHAMBERGUARD_CONFIG``) and the environment; raise ConfigError."""
    env = os.environ if env is None else env
    if path is None:
        path = env.get(f"{ENV_PREFIX}CONFIG") or None
    where = str(path) if path else "(no config file)"
    data: dict[str, Any] = {}
    if path:
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"config file {p} does not exist") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {p} is not valid TOML: {exc}") from exc
    known = _known_env_keys()
    for key in env:
        if key.startswith(ENV_PREFIX) and key not in known:
            raise ConfigError(f"unknown setting in the environment: {key}")
    token, etoken = _toml_data.set(data), _env_data.set(env)
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(_describe(exc, where)) from None
    finally:
        _toml_data.reset(token)
        _env_data.reset(etoken)


def _describe(exc: ValidationError, where: str) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            lines.append(f"{where}: unknown key '{key}'")
        else:
            lines.append(f"{where}: key '{key}': {err['msg']}")
    return "\n".join(lines)
