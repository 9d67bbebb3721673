"""Every setting CiteBot reads, in one place: environment variables, then ``.env``, then defaults.

Explicit arguments beat the environment, which beats these defaults.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from typing import Annotated

from pydantic import AliasChoices, Field, SecretStr, field_validator
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
    max_document_mb: float = Field(default=20, gt=0, description="Largest document accepted.")
    threads: int | None = Field(default=None, ge=1, description="torch threads (default: all cores).")
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
    return Settings()
