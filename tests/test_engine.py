"""Ingestion, persistence and the answer path, with the fast deterministic embedder."""

from __future__ import annotations

import json

import pytest

from index.engine import CiteIndex, IngestError
from index.errors import IndexCorruptError, QuestionError
from index.store import IndexStore

from .conftest import CORPUS


def test_first_question_builds_the_index_from_the_corpus(fake_index, isolated_home):
    assert [d.doc_id for d in fake_index.documents()] == ["ft-xi-central-asia-2023"]
    assert (isolated_home / "index" / "CURRENT").exists()


def test_answer_quotes_exact_text_at_its_offsets(fake_index):
    answer = fake_index.ask("Rmb26bn financing support free assistance", top=3)
    document = fake_index.documents()[0]
    assert answer.citations
    for citation in answer.citations:
        assert document.text[citation.start : citation.end] == citation.quote
        assert len(citation.quote) <= 400 or citation.quote.count(". ") == 0
    assert answer.citations[0].paragraph == 6


def test_top_gives_distinct_paragraphs(fake_index):
    answer = fake_index.ask("Central Asia security Beijing", top=3)
    paragraphs = [(c.document, c.paragraph) for c in answer.citations]
    assert len(paragraphs) == 3 and len(set(paragraphs)) == 3


@pytest.mark.parametrize("question", ["", "   \n\t "])
def test_empty_question_is_rejected(fake_index, question):
    with pytest.raises(QuestionError, match="empty"):
        fake_index.ask(question)


def test_overlong_question_is_rejected(fake_index):
    with pytest.raises(QuestionError, match="2,000"):
        fake_index.ask("why " * 600)


def test_readding_unchanged_file_is_a_no_op(fake_index, isolated_home):
    pointer = (isolated_home / "index" / "CURRENT").read_text()
    report = fake_index.add([CORPUS])
    assert report.unchanged == ["ft-xi-central-asia-2023"] and not report.changed
    assert (isolated_home / "index" / "CURRENT").read_text() == pointer


def test_changed_file_replaces_its_chunks(isolated_home, fake_embedder, tmp_path):
    doc = tmp_path / "tea.md"
    doc.write_text("# Tea\n\nThe harvest reached 300 tonnes in 2021.\n")
    index = CiteIndex(isolated_home, embedder=fake_embedder)
    assert index.add([doc]).added == ["tea"]
    doc.write_text("# Tea\n\nThe harvest reached 450 tonnes in 2022.\n")
    assert index.add([doc]).replaced == ["tea"]
    reloaded = CiteIndex(isolated_home, embedder=fake_embedder)
    answer = reloaded.ask("harvest tonnes")
    assert "450 tonnes" in answer.citations[0].quote
    texts = [reloaded._snapshot.sentence_text(s) for s in reloaded._snapshot.sentences]
    assert not any("300 tonnes" in t for t in texts)


def test_a_bad_file_leaves_the_index_unchanged(fake_index, isolated_home, tmp_path):
    good = tmp_path / "good.md"
    good.write_text("# Good\n\nA fine paragraph about tea.\n")
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\x00\x01binary")
    pointer = (isolated_home / "index" / "CURRENT").read_text()
    with pytest.raises(IngestError) as caught:
        fake_index.add([good, bad])
    assert "bad.txt" in str(caught.value) and "binary" in str(caught.value)
    assert (isolated_home / "index" / "CURRENT").read_text() == pointer
    assert [d.doc_id for d in fake_index.documents()] == ["ft-xi-central-asia-2023"]


def test_folder_ingest_and_remove(isolated_home, fake_embedder, tmp_path):
    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.md").write_text("# A\n\nAlpha paragraph.\n")
    (folder / "sub" / "b.txt").write_text("Beta\n\nBeta paragraph here.\n")
    (folder / "ignored.csv").write_text("x,y\n")
    index = CiteIndex(isolated_home, embedder=fake_embedder)
    assert sorted(index.add([folder]).added) == ["a", "b"]
    index.remove("a")
    assert [d.doc_id for d in CiteIndex(isolated_home, embedder=fake_embedder).documents()] == ["b"]
    with pytest.raises(KeyError, match="No document 'zzz'"):
        index.remove("zzz")


def test_same_file_name_in_two_folders_gets_two_ids(isolated_home, fake_embedder, tmp_path):
    for folder in ("one", "two"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "notes.md").write_text(f"# {folder}\n\nNotes from folder {folder}.\n")
    index = CiteIndex(isolated_home, embedder=fake_embedder)
    report = index.add([tmp_path / "one", tmp_path / "two"])
    assert len(set(report.added)) == 2 and "notes" in report.added


def test_interrupted_save_keeps_the_previous_index(fake_index, isolated_home, tmp_path, monkeypatch):
    store = IndexStore(isolated_home / "index")
    before = store.load()
    doc = tmp_path / "extra.md"
    doc.write_text("# Extra\n\nSomething new about tea.\n")

    import index.store as store_module

    real_write = store_module._write

    def interrupted(path, data):
        if path.name.startswith(".CURRENT"):
            raise KeyboardInterrupt  # Ctrl-C between writing the new version and the swap
        real_write(path, data)

    monkeypatch.setattr(store_module, "_write", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fake_index.add([doc])
    monkeypatch.setattr(store_module, "_write", real_write)
    after = store.load()
    assert list(after.documents) == list(before.documents)
    assert len(after.sentences) == len(before.sentences)


def test_corrupt_index_names_the_fix(fake_index, isolated_home, fake_embedder):
    version = (isolated_home / "index" / "CURRENT").read_text()
    (isolated_home / "index" / version / "manifest.json").write_text("{not json")
    with pytest.raises(IndexCorruptError, match="citebot index rebuild"):
        CiteIndex(isolated_home, embedder=fake_embedder).ask("anything")
    report = CiteIndex(isolated_home, embedder=fake_embedder, corpus=CORPUS).rebuild()
    assert report.added == ["ft-xi-central-asia-2023"]


def test_json_shape(fake_index):
    data = json.loads(json.dumps(fake_index.ask("Rmb26bn financing").to_json()))
    assert set(data) >= {"question", "answered", "answer", "citations", "latency_ms"}
    assert isinstance(data["answered"], bool) and isinstance(data["latency_ms"], float)
    citation = data["citations"][0]
    assert set(citation) >= {"document", "source", "paragraph", "quote", "score"}
    assert isinstance(citation["paragraph"], int) and isinstance(citation["score"], float)


def test_rebuild_keeps_a_document_whose_file_is_gone(isolated_home, fake_embedder, tmp_path):
    doc = tmp_path / "tea.md"
    doc.write_text("# Tea\n\nThe harvest reached 300 tonnes in 2021.\n")
    index = CiteIndex(isolated_home, embedder=fake_embedder, corpus=CORPUS)
    index.add([doc])
    doc.unlink()
    report = CiteIndex(isolated_home, embedder=fake_embedder, corpus=CORPUS).rebuild()
    assert report.added == ["tea"]
    answer = CiteIndex(isolated_home, embedder=fake_embedder).ask("harvest tonnes")
    assert "300 tonnes" in answer.citations[0].quote


def test_over_long_sentence_is_quoted_as_its_relevant_stretch(isolated_home, fake_embedder, tmp_path):
    filler = "the committee also discussed many other unrelated procedural matters at length, "
    sentence = (filler * 6) + "and the treaty was signed in Paris in 1763 by France and Britain, " + (filler * 6)
    doc = tmp_path / "long.md"
    doc.write_text(f"# Treaties\n\n{sentence.strip().rstrip(',')}.\n")
    index = CiteIndex(isolated_home, embedder=fake_embedder)
    index.add([doc])
    answer = index.ask("When was the treaty signed in Paris?")
    quote = answer.citations[0]
    assert len(quote.quote) <= 400
    assert "signed in Paris in 1763" in quote.quote
    assert index.documents()[0].text[quote.start : quote.end] == quote.quote
    if answer.answered:
        assert answer.answer in quote.quote


def _collection_docs(tmp_path):
    public = tmp_path / "public.md"
    public.write_text("# Canteen\n\nThe canteen serves lunch from noon. The soup of the day is tomato.\n")
    private = tmp_path / "private.md"
    private.write_text("# Salaries\n\nThe secret bonus pool is 4 million. The canteen budget is 2 million.\n")
    return public, private


def test_a_collection_only_ever_sees_its_own_documents(isolated_home, fake_embedder, tmp_path):
    public, private = _collection_docs(tmp_path)
    index = CiteIndex(isolated_home, embedder=fake_embedder)
    index.add([public], collection="default")
    index.add([private], collection="hr")
    questions = ["canteen budget million", "secret bonus pool", "soup tomato", "what is the budget"]
    for question in questions:
        scoped = index.ask(question, top=5, collections=["default"])
        assert {c.document for c in scoped.citations} <= {"public"}
        hr = index.ask(question, top=5, collections=["hr"])
        assert {c.document for c in hr.citations} <= {"private"}
    both = index.ask("secret bonus pool", top=5, collections=["default", "hr"])
    assert both.citations[0].document == "private"
    assert {d.doc_id for d in index.documents(collections=["hr"])} == {"private"}


def test_a_collection_with_no_documents_refuses(isolated_home, fake_embedder, tmp_path):
    public, _ = _collection_docs(tmp_path)
    index = CiteIndex(isolated_home, embedder=fake_embedder)
    index.add([public])
    answer = index.ask("soup", collections=["empty"])
    assert not answer.answered and answer.citations == [] and answer.refusal == "empty_index"


def test_readding_to_another_collection_moves_without_embedding(isolated_home, fake_embedder, tmp_path):
    public, _ = _collection_docs(tmp_path)
    index = CiteIndex(isolated_home, embedder=fake_embedder)
    index.add([public])
    report = index.add([public], collection="kitchen")
    assert report.moved == ["public"] and not report.added
    reloaded = CiteIndex(isolated_home, embedder=fake_embedder)
    assert [d.collection for d in reloaded.documents()] == ["kitchen"]
    assert reloaded.ask("soup tomato", collections=["kitchen"]).citations
    assert reloaded.rebuild().added == ["public"]
    assert [d.collection for d in CiteIndex(isolated_home, embedder=fake_embedder).documents()] == ["kitchen"]


def _note(tmp_path, name: str, text: str):
    path = tmp_path / f"{name}.md"
    path.write_text(f"# {name.title()}\n\n{text}\n")
    return path


def test_two_processes_adding_in_turn_keep_both_documents(isolated_home, fake_embedder, tmp_path):
    # Two replicas (or the CLI beside a running bot) on one CITEBOT_HOME, each already loaded.
    first = CiteIndex(isolated_home, embedder=fake_embedder, corpus=CORPUS)
    first.warm_up()
    second = CiteIndex(isolated_home, embedder=fake_embedder, corpus=CORPUS)
    second.warm_up()
    first.add([_note(tmp_path, "tea", "Tea was first grown in Yunnan.")])
    second.add([_note(tmp_path, "coffee", "Coffee was first grown in Ethiopia.")])
    stored = {d.doc_id for d in CiteIndex(isolated_home, embedder=fake_embedder).documents()}
    assert {"tea", "coffee"} <= stored


def test_a_running_index_picks_up_a_version_another_process_wrote(
    isolated_home, fake_embedder, tmp_path, monkeypatch
):
    import time

    import index.engine as engine

    monkeypatch.setattr(engine, "REFRESH_SECONDS", 0.0)
    serving = CiteIndex(isolated_home, embedder=fake_embedder, corpus=CORPUS)
    serving.warm_up()
    writer = CiteIndex(isolated_home, embedder=fake_embedder)
    writer.add([_note(tmp_path, "tea", "Tea was first grown in Yunnan province.")])
    # The question that notices the new version is answered from the old one while it loads in
    # the background; a later one sees it.
    deadline = time.monotonic() + 30
    while "tea" not in {d.doc_id for d in serving.documents()}:
        assert time.monotonic() < deadline, "the new version was never loaded"
        serving.ask("Where was tea first grown?")
        time.sleep(0.05)
    answer = serving.ask("Where was tea first grown?")
    assert answer.citations[0].document == "tea"


def test_the_previous_version_is_kept_for_readers_still_loading_it(fake_index, isolated_home, tmp_path):
    store = IndexStore(isolated_home / "index")
    first = store.version()
    fake_index.add([_note(tmp_path, "tea", "Tea was first grown in Yunnan.")])
    second = store.version()
    fake_index.add([_note(tmp_path, "coffee", "Coffee was first grown in Ethiopia.")])
    kept = {p.name for p in (isolated_home / "index").iterdir() if p.is_dir() and p.name.startswith("v")}
    assert kept == {second, store.version()} and first not in kept
