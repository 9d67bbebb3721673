"""The ``citebot`` command. Heavy modules (torch, FAISS) load inside commands, not at import,
so ``citebot --help`` answers at once."""

from __future__ import annotations

import contextlib
import json
import re
import sys
import threading
import time
from pathlib import Path
from typing import Any

import click

EXIT_BAD_QUESTION = 2


def _fail(message: str, code: int = 1) -> None:
    click.echo(f"citebot: {message}", err=True)
    sys.exit(code)


class _CiteBotGroup(click.Group):
    def invoke(self, ctx: click.Context):
        from .settings import SettingsError

        try:
            return super().invoke(ctx)
        except SettingsError as exc:  # a wrong setting: one line naming it, not a traceback
            _fail(str(exc))


@click.group(cls=_CiteBotGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """CiteBot answers questions from your documents and quotes the passage it used."""


# --- ask -----------------------------------------------------------------------------------------


@main.command()
@click.argument("question", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (JSON Lines with --file).")
@click.option("--top", default=1, show_default=True, type=click.IntRange(1, 20),
              help="How many passages to cite.")
@click.option("--file", "question_file", type=click.File("r", encoding="utf-8"),
              help="Ask one question per line of FILE ('-' for stdin).")
@click.option("--collection", "collections", multiple=True, callback=lambda c, p, v: [_collection_name(x) for x in v],
              help="Answer only from this collection (repeatable; default: 'default').")
def ask(question: str | None, as_json: bool, top: int, question_file, collections: list[str]) -> None:
    """Answer QUESTION from the indexed documents, with the quoted passage."""
    from index.errors import CiteBotError, QuestionError
    from index.questions import visible_text

    from .render import render_answer
    from .runtime import open_index

    if (question is None) == (question_file is None):
        _fail("give a QUESTION or --file FILE (not both)", EXIT_BAD_QUESTION)
    index = open_index()
    collections = collections or [DEFAULT_COLLECTION]
    if question is not None:  # exactly one of the two, checked above
        try:
            answer = index.ask(visible_text(question), top=top, collections=collections)
        except QuestionError as exc:
            _fail(str(exc), EXIT_BAD_QUESTION)
        except CiteBotError as exc:
            _fail(str(exc))
        click.echo(json.dumps(answer.to_json(), ensure_ascii=False) if as_json else render_answer(answer))
        return

    failures = 0
    first = True
    for line in question_file:
        text = visible_text(line).strip()
        if not text:
            continue
        try:
            answer = index.ask(text, top=top, collections=collections)
        except QuestionError as exc:
            failures += 1
            if as_json:
                # The keys every other line has, so a reader of the JSON Lines needs no special case.
                click.echo(json.dumps({"question": text[:200], "answered": False, "citations": [],
                                       "error": str(exc)}, ensure_ascii=False))
            else:
                click.echo(f"citebot: {exc}", err=True)
            continue
        if as_json:
            click.echo(json.dumps(answer.to_json(), ensure_ascii=False))
        else:
            click.echo(("" if first else "\n") + f"Q: {answer.question}\n" + render_answer(answer))
            first = False
    if failures:
        sys.exit(EXIT_BAD_QUESTION)


# --- index ---------------------------------------------------------------------------------------

DEFAULT_COLLECTION = "default"
_COLLECTION_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


def _collection_name(value: str) -> str:
    if not _COLLECTION_NAME.fullmatch(value or ""):
        raise click.BadParameter(
            f"{value!r} is not a collection name: use 1-64 lower-case letters, digits, '-' or '_'."
        )
    return value


@main.group("index")
def index_group() -> None:
    """Add, list, remove and rebuild the indexed documents."""


@index_group.command("add")
@click.argument("paths", nargs=-1, required=True)
@click.option("--collection", default=DEFAULT_COLLECTION, show_default=True,
              callback=lambda c, p, v: _collection_name(v), help="The collection the documents join.")
@click.option("--url", callback=lambda c, p, v: _web_url(v),
              help="Where readers can open the document (one file only): its source link in answers.")
def index_add(paths: tuple[str, ...], collection: str, url: str | None) -> None:
    """Index files or folders (.md, .txt, .html, .pdf). Unchanged files are skipped."""
    from index.engine import IngestError, expand_paths

    from .runtime import open_index

    if url is not None and (len(paths) != 1 or len(expand_paths(paths)) > 1):
        _fail("--url is the link of one document: give a single file with it", EXIT_BAD_QUESTION)
    index = open_index()
    try:
        with _still_working("indexing"):
            if url is None:
                report = index.add(paths, collection=collection, progress=sys.stderr.isatty())
            else:
                report = _add_one_with_url(index, paths[0], collection, url)
    except IngestError as exc:
        for error in exc.errors:
            click.echo(f"citebot: {error}", err=True)
        click.echo("citebot: nothing was added; the index is unchanged.", err=True)
        sys.exit(1)
    for doc_id in report.added:
        click.echo(f"added      {doc_id}")
    for doc_id in report.replaced:
        click.echo(f"replaced   {doc_id}")
    for doc_id in report.unchanged:
        click.echo(f"unchanged  {doc_id}")
    for doc_id in report.moved:
        click.echo(f"moved      {doc_id} (to collection {collection})")
    if report.changed:
        click.echo(f"{report.sentences} sentences indexed.")


def _web_url(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not re.match(r"https?://[^\s/]+", value, re.IGNORECASE) or any(c.isspace() for c in value):
        raise click.BadParameter(f"{value!r} is not a web address: give one starting https:// or http://.")
    return value


def _add_one_with_url(index, path: str, collection: str, url: str):
    """``index add FILE --url URL``: the file, with the link the operator gave."""
    from index.documents import load_document
    from index.engine import IngestError, expand_paths
    from index.errors import DocumentError

    try:
        [found] = expand_paths([path]) or [Path(path)]
        document = load_document(found, max_bytes=index.max_bytes)
    except DocumentError as exc:
        raise IngestError([exc]) from exc
    document.url, document.collection = url, collection
    return index.add_documents([document], progress=sys.stderr.isatty())


# Off a terminal (a log, CI, `docker exec` without -t) no progress bar is drawn, and a long add
# would look hung: a line every few seconds says it is not.
PROGRESS_EVERY_S = 5.0


@contextlib.contextmanager
def _still_working(what: str):
    if sys.stderr.isatty():
        yield
        return
    done = threading.Event()
    started = time.monotonic()

    def tell() -> None:
        while not done.wait(PROGRESS_EVERY_S):
            click.echo(f"citebot: still {what} ({time.monotonic() - started:.0f} s)", err=True)

    ticker = threading.Thread(target=tell, name="citebot-progress", daemon=True)
    ticker.start()
    try:
        yield
    finally:
        done.set()
        ticker.join()


@index_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--collection", "collections", multiple=True, help="Only this collection (repeatable).")
def index_list(as_json: bool, collections: tuple[str, ...]) -> None:
    """List the indexed documents."""
    from .render import render_sources
    from .runtime import open_index

    documents = open_index().documents(collections=collections or None)
    if as_json:
        click.echo(json.dumps(
            [{"document": d.doc_id, "title": d.title, "source": d.source, "url": d.url,
              "collection": d.collection, "paragraphs": len(d.paragraphs), "metadata": d.metadata}
             for d in documents],
            ensure_ascii=False,
        ))
    else:
        click.echo(render_sources(documents))


@index_group.command("remove")
@click.argument("doc")
def index_remove(doc: str) -> None:
    """Remove document DOC (its id, as `citebot index list` shows)."""
    from index.errors import CiteBotError

    from .runtime import open_index

    try:
        removed = open_index().remove(doc)
    except KeyError as exc:
        _fail(exc.args[0])
    except CiteBotError as exc:
        _fail(str(exc))
    click.echo(f"removed    {removed.doc_id} ({removed.title})")


@index_group.command("rebuild")
def index_rebuild() -> None:
    """Rebuild the index from scratch: the bundled corpus and every known source file."""
    from .runtime import open_index

    index = open_index()
    with _still_working("rebuilding"):
        report = index.rebuild(progress=sys.stderr.isatty())
    click.echo(f"rebuilt: {len(report.added)} documents, {report.sentences} sentences.")


# --- collections ---------------------------------------------------------------------------------


@main.group("collection")
def collection_group() -> None:
    """Collections: which documents each channel can see."""


@collection_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def collection_list(as_json: bool) -> None:
    """Every collection with its document count and the channels bound to it."""
    from .runtime import open_index, open_state

    counts: dict[str, int] = {}
    for document in open_index().documents():
        counts[document.collection] = counts.get(document.collection, 0) + 1
    state = open_state()
    bindings = state.bindings()
    names = sorted(set(counts) | set(state.collection_names()) | {c for _, _, c in bindings})
    rows: list[dict[str, Any]] = [
        {"collection": name, "documents": counts.get(name, 0),
         "channels": [f"{p}:{c}" for p, c, bound in bindings if bound == name]}
        for name in names
    ]
    if as_json:
        click.echo(json.dumps(rows))
        return
    if not rows:
        click.echo("No collections yet: `citebot index add PATH --collection NAME` makes one.")
    for row in rows:
        channels = ", ".join(row["channels"]) or "no channel bound"
        click.echo(f"{row['collection']:<20} {row['documents']:>4} documents   {channels}")


@collection_group.command("create")
@click.argument("name", callback=lambda c, p, v: _collection_name(v))
def collection_create(name: str) -> None:
    """Create an empty collection (adding a document with --collection creates one too)."""
    from .runtime import open_state

    created = open_state().create_collection(name)
    click.echo(f"created    {name}" if created else f"exists     {name}")


@collection_group.command("bind")
@click.argument("name", callback=lambda c, p, v: _collection_name(v))
@click.option("--platform", type=click.Choice(["slack", "discord"]), required=True)
@click.option("--channel", required=True, help="The channel id (Slack C…, Discord's number).")
def collection_bind(name: str, platform: str, channel: str) -> None:
    """Let a channel see collection NAME. A channel with no binding sees 'default' only."""
    from .runtime import open_state

    bound = open_state().bind_collection(platform, channel, name)
    click.echo(f"bound      {platform}:{channel} -> {name}" if bound else f"already    {platform}:{channel} -> {name}")


@collection_group.command("unbind")
@click.argument("name", callback=lambda c, p, v: _collection_name(v))
@click.option("--platform", type=click.Choice(["slack", "discord"]), required=True)
@click.option("--channel", required=True)
def collection_unbind(name: str, platform: str, channel: str) -> None:
    """Stop a channel seeing collection NAME."""
    from .runtime import open_state

    if not open_state().unbind_collection(platform, channel, name):
        _fail(f"{platform}:{channel} was not bound to {name}")
    click.echo(f"unbound    {platform}:{channel} -> {name}")


# --- serve and platform tools --------------------------------------------------------------------


@main.group(invoke_without_command=True)
@click.pass_context
def serve(ctx: click.Context) -> None:
    """Run CiteBot: every configured platform, the digest and the HTTP server (/healthz,
    /metrics) in one process. `serve slack` or `serve discord` is the same with just that
    platform."""
    if ctx.invoked_subcommand is None:
        from .serve import run
        from .settings import get_settings

        run(get_settings())


@serve.command("slack")
def serve_slack() -> None:
    """`citebot serve` with Slack alone (Socket Mode with SLACK_APP_TOKEN, else HTTP on
    /slack/events), whatever else is configured."""
    from .serve import run
    from .settings import get_settings

    run(get_settings(), only="slack")


@serve.command("discord")
def serve_discord() -> None:
    """`citebot serve` with Discord alone (needs DISCORD_TOKEN), whatever else is configured."""
    from .serve import run
    from .settings import get_settings

    run(get_settings(), only="discord")


@main.group("config")
def config_group() -> None:
    """Inspect the configuration."""


@config_group.command("check")
def config_check() -> None:
    """Print every setting (secrets masked) and what each platform is missing; exit 1 when a
    value is wrong or a platform is half set up."""
    from .serve import config_report

    lines, problems = config_report()
    for line in lines:
        click.echo(line)
    if problems:
        click.echo("Problems:", err=True)
        for problem in problems:
            click.echo(f"  {problem}", err=True)
        sys.exit(1)
    click.echo("OK: `citebot serve` can start with this configuration.")


@main.group("discord")
def discord_group() -> None:
    """Discord set-up helpers."""


@discord_group.command("invite")
@click.option("--client-id", help="Application id (default: read from DISCORD_TOKEN).")
def discord_invite(client_id: str | None) -> None:
    """Print the URLs that add CiteBot to a server (with exactly the permissions it needs) and
    install its /ask, /sources and /help to a person's own account."""
    from .discord.bot import invite_url, user_install_url
    from .settings import get_settings

    settings = get_settings()
    server = invite_url(settings, client_id=client_id)
    click.echo(f"Add CiteBot to a server (as an admin there):\n{server}")
    click.echo(
        "Install CiteBot to your own account (/ask, /sources, /help in any server or DM; "
        "tick User Install under Installation in the developer portal first):\n"
        + user_install_url(settings, client_id=client_id)
    )


@discord_group.command("sync")
@click.option("--guild", "guild_id", type=int, help="Sync to one server only (instant; for development).")
def discord_sync(guild_id: int | None) -> None:
    """Register the slash commands with Discord (run once after install or a command change)."""
    from .discord.bot import sync
    from .settings import get_settings

    for line in sync(get_settings(), guild_id=guild_id):
        click.echo(line)


# --- digest ------------------------------------------------------------------------------------

_PLATFORMS = click.Choice(["slack", "discord"])


@main.group("digest")
def digest_group() -> None:
    """The daily digest: preview it, post it now, list the channels that get it."""


@digest_group.command("preview")
@click.option("--platform", type=_PLATFORMS, help="With --channel: that channel's digest.")
@click.option("--channel", help="The channel id (Slack C…, Discord's number).")
def digest_preview(platform: str | None, channel: str | None) -> None:
    """Print today's digest. With --platform and --channel, what that channel's next digest
    would say; without, every document no digest has shown and the last day's questions."""
    import asyncio

    from .digest.tools import preview
    from .settings import get_settings

    if (platform is None) != (channel is None):
        _fail("give --platform and --channel together, or neither")
    click.echo(asyncio.run(preview(get_settings(), platform, channel)))


@digest_group.command("send")
@click.option("--platform", type=_PLATFORMS, required=True)
@click.option("--channel", required=True, help="The channel id (Slack C…, Discord's number).")
def digest_send(platform: str, channel: str) -> None:
    """Post the digest to a channel now; the next scheduled one covers what comes after it."""
    import asyncio

    from .settings import get_settings

    try:
        result = asyncio.run(_send_digest(get_settings(), platform, channel))
    except Exception as exc:  # a missing token or an unreachable platform: one line, not a trace
        _fail(f"could not post the digest: {exc}")
    if result.status != "posted":
        _fail(f"could not post the digest to {platform} {channel} (see the log above)")
    click.echo(f"posted the digest to {platform} {channel} (message {result.message})")


async def _send_digest(settings, platform: str, channel: str):
    # The CLI, like `citebot serve`, is where a platform's poster is built and handed over:
    # bot/digest/ knows no platform.
    from .digest.tools import check_token, send

    check_token(settings, platform)
    if platform == "slack":
        from .slack.clients import web_client
        from .slack.digest import SlackPoster

        return await send(settings, SlackPoster(web_client(settings)), channel)
    from .discord.digest import DiscordPoster, rest_client

    async with rest_client(settings) as client:
        return await send(settings, DiscordPoster(client), channel)


@digest_group.command("list")
def digest_list() -> None:
    """The channels that get the digest: time, next run, last digest."""
    from .digest.tools import channels
    from .settings import get_settings

    lines = channels(get_settings())
    if not lines:
        lines = ["No channel gets the digest yet: `/digest on` in one."]
    click.echo("\n".join(lines))


# --- bench -------------------------------------------------------------------------------------


@main.group()
def bench() -> None:
    """Benchmarks that print figures and update BENCHMARKS.md."""


@bench.command("quality", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def bench_quality(args: tuple[str, ...]) -> None:
    """Answer quality on XQuAD (see `python -m bench.quality --help`)."""
    from bench.quality import main as run_quality

    run_quality(list(args))


# --- chat ----------------------------------------------------------------------------------------


@main.command()
def chat() -> None:
    """A console that behaves like a chat channel: no tokens, no network."""
    from .console import Console

    Console().run()


if __name__ == "__main__":
    main()
