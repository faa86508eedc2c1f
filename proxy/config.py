"""The one YAML config file, validated by pydantic; errors name the file, line and field.

Secrets never live in the file: keys come from environment variables the file names.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, quote, urlsplit, urlunsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from tunewatch.monitoring.categories import BUILTIN, Category
from tunewatch.monitoring.drift import DriftSettings
from tunewatch.monitoring.duration import parse_seconds
from tunewatch.probes.yaml_lines import YamlRejected
from tunewatch.probes.yaml_lines import parse as parse_yaml

Duration = Annotated[float, BeforeValidator(parse_seconds)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_url(value: str) -> str:
    if not re.match(r"^https?://[^\s/]+", value):
        raise ValueError("must be an http:// or https:// URL")
    return value.rstrip("/")


UpstreamUrl = Annotated[str, AfterValidator(_check_url)]


def _one_or_more(value: Any) -> Any:
    """`upstream: URL` or `upstream: [URL, ...]`; a single URL's error names the key itself."""
    if isinstance(value, str):
        return (_check_url(value),)
    if not isinstance(value, list | tuple):
        raise ValueError("must be an http(s) URL or a list of them")
    return value


# One URL or a list (replicas of one server): requests go round-robin over the healthy ones.
UpstreamUrls = Annotated[
    tuple[UpstreamUrl, ...], BeforeValidator(_one_or_more), Field(min_length=1, max_length=64)
]


class TlsConfig(_Strict):
    """TLS to https:// upstreams: `ca_file` adds trust (a PEM bundle, beside the system's);
    `cert_file` and `key_file` (unencrypted PEM) are the client certificate for mutual TLS.
    The files are read at start-up (proxy.upstreams.build_routes)."""

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None  # omitted: the key is in cert_file

    @model_validator(mode="after")
    def _key_needs_cert(self) -> TlsConfig:
        if self.key_file and not self.cert_file:
            raise ValueError("key_file needs cert_file (the client certificate)")
        return self


def _tls_needs_https(tls: TlsConfig | None, info: ValidationInfo) -> TlsConfig | None:
    urls = info.data.get("upstreams", ())  # validated before `tls`; absent when invalid
    if tls is not None and urls and not any(u.startswith("https://") for u in urls):
        raise ValueError("set, but no upstream is https://")
    return tls


class BaseTarget(_Strict):
    """The base model a tuned model is compared with."""

    upstreams: UpstreamUrls = Field(alias="upstream")
    model: str
    api_key_env: str | None = None
    timeout: Duration = 120.0
    tls: TlsConfig | None = None

    @property
    def upstream(self) -> str:
        """The first configured URL (the one calls outside the request path start from)."""
        return self.upstreams[0]

    _tls_https = field_validator("tls")(_tls_needs_https)


class MirrorConfig(_Strict):
    rate: float = Field(0.0, ge=0.0, le=1.0)


class ModelConfig(_Strict):
    name: str = Field(min_length=1, max_length=128)
    upstreams: UpstreamUrls = Field(alias="upstream")
    upstream_model: str | None = None
    api_key_env: str | None = None
    timeout: Duration = 600.0
    connect_timeout: Duration = 5.0
    tls: TlsConfig | None = None
    base: BaseTarget | None = None
    mirror: MirrorConfig = MirrorConfig()
    metadata: dict[str, str] = Field(default_factory=dict)

    @property
    def target_model(self) -> str:
        return self.upstream_model or self.name

    @property
    def upstream(self) -> str:
        """The first configured URL (the one calls outside the request path start from)."""
        return self.upstreams[0]

    _tls_https = field_validator("tls")(_tls_needs_https)


_HEADER_NAME = r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$"
_NEVER_FORWARDED = {"authorization", "host", "content-length", "transfer-encoding", "connection",
                    "cookie", "x-request-id"}  # fmt: skip


class ServerConfig(_Strict):
    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024)
    access_log: bool = False
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # Client request headers passed on to the tuned upstream, beside the W3C trace context
    # (traceparent, tracestate), which always is. Never the client's Authorization.
    forward_headers: list[Annotated[str, Field(pattern=_HEADER_NAME)]] = Field(default_factory=list)
    # /openapi.json and /docs: off, or behind the admin token
    api_docs: Literal["off", "admin"] = "admin"

    @field_validator("forward_headers")
    @classmethod
    def _forwardable(cls, names: list[str]) -> list[str]:
        refused = sorted({n.lower() for n in names} & _NEVER_FORWARDED)
        if refused:
            raise ValueError(f"never forwarded: {', '.join(refused)}")
        return [n.lower() for n in names]


class CorsConfig(_Strict):
    """Cross-origin browser calls; off unless origins are listed."""

    origins: list[str] = Field(default_factory=list)  # exact origins, or ["*"]
    allow_headers: list[str] = Field(
        default_factory=lambda: ["authorization", "content-type", "x-request-id"]
    )
    max_age: int = Field(600, ge=0, le=86400)


class ProbesConfig(_Strict):
    paths: list[str] = Field(default_factory=lambda: ["builtin"])  # "builtin": shipped packs
    interval: Duration = 900.0
    samples: int = Field(3, ge=1, le=100)
    enabled: bool = True
    concurrency: int = Field(4, ge=1)
    jitter: float = Field(0.1, ge=0.0, le=1.0)

    @model_validator(mode="before")
    @classmethod
    def _removed_keys(cls, data: Any) -> Any:
        # Once accepted and never read: a config that sets it expects an effect it never had.
        if isinstance(data, dict) and "timeout" in data:
            raise ValueError(
                "probes.timeout is not a setting (it never had an effect): a probe's time-out "
                "is its pack's `defaults.timeout`"
            )
        return data


class StoreConfig(_Strict):
    url: str = "sqlite:///var/tunewatch.db"  # or postgresql://user@host:5432/db for a fleet
    url_env: str | None = None  # the whole URL from this env var (a Kubernetes Secret)
    password_env: str | None = None  # the PostgreSQL password from this env var ...
    password_file: Path | None = None  # ... or from this file (a mounted secret)
    keep_text: Literal["none", "divergent", "all"] = "none"
    retention: Duration = 30 * 86400.0
    # Rows held in memory while the store cannot take them (estimated bytes): beyond it the
    # oldest are dropped and counted; a replica killed with SIGKILL loses at most this much.
    buffer_bytes: int = Field(64 * 1024 * 1024, ge=1024 * 1024)
    migrate_on_start: bool = True  # false: `tunewatch store migrate` runs them, start-up checks
    fleet_refresh: Duration = 5.0  # how often a replica reads the fleet's rows (PostgreSQL)

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if not value.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ValueError("give sqlite:///PATH or postgresql://[user@]host[:port]/database")
        parts = urlsplit(value)
        if parts.password is not None or "password" in parse_qs(parts.query):
            raise ValueError(
                "the URL holds a password: give it with store.password_env or "
                "store.password_file (or the whole URL with store.url_env), not in the file"
            )
        return value

    @property
    def path(self) -> Path:
        """The SQLite file (for the embedded store only)."""
        return Path(self.url.removeprefix("sqlite:///"))

    def resolved_url(self) -> str:
        """The URL with its credentials, read at start-up; never log it (`redact` it)."""
        url = (secret(self.url_env) if self.url_env else None) or self.url
        if self.url_env and not secret(self.url_env):
            raise ConfigError([f"store.url_env: the environment variable {self.url_env} is unset"])
        if not url.startswith(("postgresql://", "postgres://")):
            return url
        password = secret(self.password_env)
        if self.password_env and password is None:
            raise ConfigError(
                [f"store.password_env: the environment variable {self.password_env} is unset"]
            )
        if self.password_file is not None:
            try:
                password = self.password_file.read_text().strip()
            except OSError as exc:
                raise ConfigError(
                    [f"store.password_file: cannot read {self.password_file}: {exc.strerror}"]
                ) from exc
        if password is None:
            return url
        parts = urlsplit(url)
        user = parts.username or ""  # as written: percent-encoded already where it must be
        host = parts.netloc.rsplit("@", 1)[-1]
        netloc = f"{user}:{quote(password, safe='')}@{host}"
        return urlunsplit(parts._replace(netloc=netloc))


class DriftConfig(_Strict):
    alpha: float = Field(0.01, gt=0.0, lt=0.5)
    window: Duration = 3600.0
    target_pairs: int = Field(100, ge=5)  # discordant pairs where the test is most sensitive
    family_size: int | None = Field(None, ge=1)  # default: known categories x 2 metrics
    check_identity: Duration = 60.0  # how often upstream /models is read to detect a new model


class MonitorConfig(_Strict):
    # Share of the answers that are not mirrored which get classified for the live rates.
    # Mirrored pairs and probes are always classified. Lower it when the classifier's CPU
    # (about 0.2-0.3 ms an answer) matters more than live rates from every answer.
    classify_rate: float = Field(1.0, ge=0.0, le=1.0)
    queue_size: int = Field(10_000, ge=1)
    # Each queue's bound in bytes of requests and answers as they crossed the wire (parsed,
    # they take 1-2 times that), beside the bounds in items above.
    queue_bytes: int = Field(64 * 1024 * 1024, ge=64 * 1024)
    mirror_queue_size: int = Field(1_000, ge=1)
    mirror_concurrency: int = Field(4, ge=1)
    store_queue_size: int = Field(20_000, ge=1)


class CategoryRule(_Strict):
    category: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    pattern: str

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from exc
        return value


class CustomCategory(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    expect: Literal["refuse", "caution", "comply"] = "comply"
    hazard: str = "custom"


class CategoriesConfig(_Strict):
    rules: list[CategoryRule] = Field(default_factory=list)  # tried before the built-in tagger
    custom: list[CustomCategory] = Field(default_factory=list)


class JudgeConfig(_Strict):
    """An OpenAI-compatible model that labels the audited pairs as a second labeller."""

    upstream: UpstreamUrl
    model: str
    api_key_env: str | None = None
    timeout: Duration = 60.0
    # "instruct": a general instruct model given the labelling guide's definitions;
    # "guard": an open guard model (WildGuard, Qwen3Guard) asked in its own format
    style: Literal["instruct", "guard"] = "instruct"
    max_tokens: int = Field(256, ge=16, le=4096)
    concurrency: int = Field(1, ge=1, le=64)
    counts: bool = False  # also report drift corrected by the judge's labels (separately)


class AuditConfig(_Strict):
    """A uniform random share of pairs kept whole (prompt and both answers, whatever
    store.keep_text says) for people to review; 0 keeps nothing."""

    rate: float = Field(0.0, ge=0.0, le=1.0)
    keep_days: float = Field(30.0, gt=0.0, le=366.0)  # the kept text is deleted after this
    # share of the review order that every reviewer sees, for agreement between people
    overlap: float = Field(0.1, ge=0.0, le=1.0)
    judge: JudgeConfig | None = None


class ClassifierConfig(_Strict):
    weights: str | None = None  # a weights file from `tunewatch classifier adapt`; None: shipped


class ClientConfig(_Strict):
    """A named client: its key comes from an env var; the name (never the key) labels its
    requests and tokens in metrics and logs."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")
    key_env: str


class AuthConfig(_Strict):
    api_keys_env: str | None = None  # comma-separated keys, counted as client "unnamed"
    admin_token_env: str | None = None
    clients: list[ClientConfig] = Field(default_factory=list)
    # Serving without client keys must be asked for: without keys, anyone who reaches the
    # port uses the models (and the paid upstream behind them).
    allow_anonymous: bool = False


class Config(_Strict):
    models: list[ModelConfig] = Field(min_length=1)
    probes: ProbesConfig = ProbesConfig()
    store: StoreConfig = StoreConfig()
    drift: DriftConfig = DriftConfig()
    audit: AuditConfig = AuditConfig()
    classifier: ClassifierConfig = ClassifierConfig()
    auth: AuthConfig = AuthConfig()
    server: ServerConfig = ServerConfig()
    cors: CorsConfig = CorsConfig()
    monitor: MonitorConfig = MonitorConfig()
    categories: CategoriesConfig = CategoriesConfig()

    @model_validator(mode="after")
    def _unique_names(self) -> Config:
        seen: set[str] = set()
        for model in self.models:
            if model.name in seen:
                raise ValueError(f"duplicate model name {model.name!r}")
            seen.add(model.name)
        return self


class ConfigError(Exception):
    """Invalid configuration; `errors` holds one `file:line: field: message` per problem."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


def secret(env_name: str | None) -> str | None:
    """A secret named by the config, read from the environment at start-up."""
    if not env_name:
        return None
    return os.environ.get(env_name) or None


def load_config(path: str | Path) -> Config:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError([f"{path}:1: (file): cannot read: {exc.strerror or exc}"]) from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            [f"{path}:{line}: (file): not valid UTF-8 (byte 0x{data[exc.start]:02x})"]
        ) from exc
    return parse_config(text, str(path))


def parse_config(text: str, source: str = "<config>") -> Config:
    # The probe packs' loader: safe tags only, duplicate keys, deep nesting and alias bombs
    # refused with a line number instead of silently overriding or exhausting the stack.
    try:
        parsed = parse_yaml(text)
    except YamlRejected as err:
        raise ConfigError([f"{source}:{err.line}: {err.message}"]) from None
    if parsed is None or not isinstance(parsed.data, dict):
        raise ConfigError([f"{source}:1: the config must be a YAML mapping"])
    if parsed.problems:
        raise ConfigError(
            [f"{source}:{p.line}: {_dotted(p.loc)}: {p.message}" for p in parsed.problems]
        )
    try:
        return Config.model_validate(parsed.data)
    except ValidationError as exc:
        raise ConfigError(
            [
                f"{source}:{parsed.lines.line_for(err['loc'])}: {_dotted(err['loc'])}: {err['msg']}"
                for err in exc.errors()
            ]
        ) from exc


def _dotted(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"


def categories(config: Config) -> list[Category]:
    """The built-in categories, then the configured ones."""
    custom = [Category(c.name, c.hazard, c.expect) for c in config.categories.custom]
    return [*BUILTIN, *custom]


def drift_settings(config: Config) -> DriftSettings:
    family = config.drift.family_size or 2 * len(categories(config))
    return DriftSettings(
        alpha=config.drift.alpha,
        family_size=family,
        target_pairs=config.drift.target_pairs,
        window_seconds=config.drift.window,
    )
