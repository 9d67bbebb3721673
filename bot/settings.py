"""Every setting CiteBot reads, in one place: environment variables, then ``.env``, then defaults.

Explicit arguments beat the environment, which beats these defaults.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal, get_args, get_origin

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _default_home() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "citebot"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CITEBOT_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    home: Path = Field(default_factory=_default_home, description="Data directory: the index and state.")
    corpus: Path = Field(
        default=PROJECT_ROOT / "corpus",
        description="Documents indexed when no index exists yet (the bundled article).",
    )
    embedder: Literal["minilm", "hashing"] = Field(
        default="minilm",
        description="minilm: the bundled all-MiniLM-L6-v2; hashing: a fast fake for tests only.",
    )
    encoder: Literal["torch", "onnx", "onnx-int8"] = Field(
        default="onnx-int8",
        description="How the minilm model runs: onnx-int8 (onnxruntime, the int8 export shipped "
        "in index/encoder_model/; no torch), onnx (the fp32 export, torch's vectors exactly; "
        "exported once under CITEBOT_HOME/models) or torch (sentence-transformers). onnx and "
        "torch need the train extra.",
    )
    reader: Literal["extractive", "heuristic"] = Field(
        default="extractive",
        description="How answers are read from the passages: extractive (the trained reader "
        "model shipped in index/reader_model/) or heuristic (typed patterns, the earlier reader).",
    )
    llm_model: str | None = Field(
        default=None,
        description="The model's name on CITEBOT_LLM_URL (e.g. gpt-4o-mini, llama3.1:8b).",
    )
    llm_url: str | None = Field(
        default=None,
        description="An OpenAI-compatible API (https://api.openai.com/v1, Ollama's "
        "http://localhost:11434/v1, a vLLM or llama.cpp server): a language model writes the "
        "answers, each checked against the passages it cites before it is shown. Unset: the "
        "reader answers, offline.",
    )
    llm_api_key: SecretStr | None = Field(
        default=None, description="The key CITEBOT_LLM_URL asks for (local servers need none)."
    )
    llm_timeout: float = Field(
        default=20, gt=0, description="Seconds a language model answer may take, retries "
        "included; past it the reader's answer is shown.",
    )
    max_document_mb: float = Field(default=20, gt=0, description="Largest document accepted.")
    fetch_timeout: float = Field(
        default=20, gt=0, description="Seconds allowed to download a URL given to /add."
    )
    fetch_allow_private: bool = Field(
        default=False,
        description="Let /add fetch private, loopback and link-local addresses (tests only: on, "
        "the bot could be used to probe the internal network).",
    )
    dm_collections: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["default"],
        description="Comma-separated collections that direct messages see.",
    )
    threads: int | None = Field(default=None, ge=1, description="torch threads (default: all cores).")
    vector_store: str | None = Field(
        default=None,
        description="Where the vectors live: unset for the embedded FAISS index under CITEBOT_HOME; "
        "milvus://host:port for a Milvus server shared by replicas, or milvus:///path/to/file.db "
        "for a Milvus Lite file.",
    )
    exact_search_max: int = Field(
        default=10_000, ge=0, description="Up to this many vectors FAISS searches exactly; above "
        "it, a compressed IVF-SQ8 index (a quarter of the memory, recall@10 ≥ 0.95).",
    )
    database_url: str | None = Field(
        default=None,
        description="State store: SQLite file under CITEBOT_HOME by default; a postgresql:// URL "
        "lets several replicas share it.",
    )
    user_salt: SecretStr = Field(
        default=SecretStr("citebot"), description="Key for hashing user ids in the state store."
    )
    admin_ids: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated user ids (Slack or Discord) treated as CiteBot admins, in "
        "addition to workspace admins/owners (Slack) and members with Manage Server (Discord).",
    )
    port: int = Field(default=8080, ge=1, le=65535, description="The bot's one HTTP server.")
    log_format: Literal["text", "json"] = Field(
        default="text", description="text: one readable line per event; json: one JSON object per line."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="The least severe log level written."
    )
    log_question_text: bool = Field(
        default=False,
        description="Put the question text in the per-question log line (off: logs carry no "
        "message content).",
    )
    retention_days: int = Field(
        default=90, ge=0, description="Question records (and their feedback) older than this are "
        "deleted while serving; 0 keeps them forever.",
    )
    shutdown_timeout: float = Field(
        default=25, gt=0, description="On SIGTERM, how long to wait for questions in flight."
    )
    rate_limit: str = Field(
        default="10/minute",
        description="Questions one person may ask per platform, e.g. 10/minute or 100/hour; "
        "0 or empty switches the limit off.",
    )

    # Slack (names as Slack's own docs use them, no prefix).
    slack_bot_token: SecretStr | None = Field(default=None, validation_alias=AliasChoices("SLACK_BOT_TOKEN"))
    slack_signing_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_SIGNING_SECRET")
    )
    slack_app_token: SecretStr | None = Field(default=None, validation_alias=AliasChoices("SLACK_APP_TOKEN"))
    slack_mode: Literal["socket", "http"] | None = Field(
        default=None,
        validation_alias=AliasChoices("SLACK_MODE"),
        description="socket (default when SLACK_APP_TOKEN is set) or http.",
    )
    slack_api_url: str = Field(
        default="https://slack.com/api/", validation_alias=AliasChoices("SLACK_API_URL")
    )

    # Discord.
    discord_token: SecretStr | None = Field(default=None, validation_alias=AliasChoices("DISCORD_TOKEN"))
    discord_api_url: str | None = Field(default=None, validation_alias=AliasChoices("DISCORD_API_URL"))
    discord_gateway_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DISCORD_GATEWAY_URL")
    )
    discord_guild_id: int | None = Field(default=None, validation_alias=AliasChoices("DISCORD_GUILD_ID"))
    discord_message_content: bool = Field(
        default=False,
        validation_alias=AliasChoices("DISCORD_MESSAGE_CONTENT"),
        description="Ask for the privileged Message Content intent (switch it on in the developer "
        "portal too). Only needed to answer replies to CiteBot that have their @ ping off.",
    )

    @field_validator("slack_api_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        # slack_sdk joins method names onto the base URL, so ".../api" would lose "/api".
        return value if value.endswith("/") else value + "/"

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str | None) -> str | None:
        # Caught here so a typo stops start-up naming the variable, not deep inside SQLAlchemy.
        if value is not None and not value.startswith(("sqlite:", "postgresql:", "postgresql+")):
            raise ValueError("not a sqlite: or postgresql: URL")
        return value

    @field_validator("rate_limit")
    @classmethod
    def _readable_rate(cls, value: str) -> str:
        from .ratelimit import parse_rate

        parse_rate(value)  # raises for a rate the limiter could not read
        return value

    @field_validator("vector_store")
    @classmethod
    def _known_vector_store(cls, value: str | None) -> str | None:
        if value:
            from index.store import milvus_uri

            milvus_uri(value)  # raises, naming the URL, for anything but a milvus:// URL
        return value or None

    @field_validator("llm_url")
    @classmethod
    def _llm_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("not an http(s) URL")
        # Checked here so start-up names what is missing, not the server's 404 on a question.
        if value and not info.data.get("llm_model"):
            raise ValueError("CITEBOT_LLM_URL is set but CITEBOT_LLM_MODEL is not")
        return value or None

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value):
        return value.upper() if isinstance(value, str) else value

    @field_validator("dm_collections", mode="before")
    @classmethod
    def _split_collections(cls, value):
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        return value or ["default"]

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value):
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @property
    def effective_slack_mode(self) -> str:
        return self.slack_mode or ("socket" if self.slack_app_token else "http")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings from the environment; a wrong value raises :class:`SettingsError`."""
    try:
        return Settings()
    except ValidationError as exc:
        raise SettingsError(exc) from None


# --- naming and explaining settings --------------------------------------------------------------

# A database URL may carry a password, so it is treated like the SecretStr fields in messages.
SECRET_FIELDS = frozenset(
    name for name, field in Settings.model_fields.items()
    if SecretStr in (field.annotation, *getattr(field.annotation, "__args__", ()))
) | {"database_url"}


def masked_database_url(settings: Settings) -> str:
    """The state store's URL with any password hidden, fit for logs and messages."""
    if not settings.database_url:
        return f"sqlite:///{settings.home / 'state.db'}"
    from sqlalchemy.engine import make_url

    try:
        return make_url(settings.database_url).render_as_string(hide_password=True)
    except Exception:  # unparseable: show nothing of it rather than risk a password
        return "(an unparseable URL)"


def env_name(field: str) -> str:
    """The environment variable that sets ``field``."""
    alias = Settings.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return f"{Settings.model_config['env_prefix']}{field}".upper()


def field_for(loc: str) -> str | None:
    """The field a validation error location names (pydantic uses the alias when there is one)."""
    if loc in Settings.model_fields:
        return loc
    for name in Settings.model_fields:
        if env_name(name) == loc.upper():
            return name
    return None


def expected(field: str) -> str:
    """What ``field`` accepts, in words, from its type and bounds."""
    if field == "database_url":
        return "a sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/DATABASE URL"
    if field == "vector_store":
        return "milvus://HOST:PORT or milvus:///path/to/file.db (unset: the embedded FAISS index)"
    if field == "rate_limit":
        return "a rate like 10/minute or 100/hour, or 0 to switch the limit off"
    if field == "llm_url":
        return ("an http(s):// URL of an OpenAI-compatible API (e.g. http://localhost:11434/v1), "
                "with CITEBOT_LLM_MODEL naming the model")
    info = Settings.model_fields[field]
    kinds = [a for a in (*getattr(info.annotation, "__args__", ()), info.annotation) if a is not type(None)]
    literal = next((a for a in kinds if get_origin(a) is Literal), None)
    if literal is not None:
        return "one of " + ", ".join(str(v) for v in get_args(literal))
    bounds = {}
    for item in info.metadata:
        for key in ("ge", "gt", "le", "lt"):
            if getattr(item, key, None) is not None:
                bounds[key] = getattr(item, key)
    if bool in kinds:
        return "true or false"
    if int in kinds or float in kinds:
        noun = "a whole number" if int in kinds else "a number"
        low = f"at least {bounds['ge']}" if "ge" in bounds else (
            f"above {bounds['gt']}" if "gt" in bounds else "")
        high = f"at most {bounds['le']}" if "le" in bounds else ""
        if "ge" in bounds and "le" in bounds:
            return f"{noun} from {bounds['ge']} to {bounds['le']}"
        return " ".join(part for part in (noun, low or high) if part)
    return "a valid value"


class SettingsError(ValueError):
    """Settings that cannot be used. ``lines`` has one line per wrong variable (naming it and what
    it expects, never echoing a secret); ``str()`` is the first, fit to stop start-up with."""

    def __init__(self, error: ValidationError | str):
        if isinstance(error, str):
            self.lines = [error]
            self.fields: list[str] = []
        else:
            self.lines, self.fields = [], []
            for item in error.errors(include_url=False):
                loc = str(item["loc"][0]) if item["loc"] else ""
                field = field_for(loc)
                if field is None:
                    self.lines.append(f"{loc}: {item['msg']}")
                    continue
                self.fields.append(field)
                shown = "" if field in SECRET_FIELDS else f" (got {item.get('input')!r})"
                self.lines.append(f"{env_name(field)} must be {expected(field)}{shown}")
        more = len(self.lines) - 1
        suffix = f"; and {more} more (run `citebot config check`)" if more > 0 else ""
        super().__init__(self.lines[0] + suffix)
