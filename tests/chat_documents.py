"""What the documents-from-chat tests share: documents with facts found nowhere else, and a real
HTTP server on 127.0.0.1 that serves them (with chosen content types, redirects and delays)."""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.test_utils import TestServer

LIGHTHOUSE = """# The Tern Point lighthouse

The Tern Point lighthouse was built in 1874 by the engineer Margaret Ould.

Its lamp burned colza oil until 1921, when the keepers switched to paraffin vapour burners.

The tower stands 31 metres tall and its light is visible for 18 nautical miles in clear weather.

Three keepers lived at the station until it was automated in 1989.
"""
LIGHTHOUSE_FACT = "built in 1874 by the engineer Margaret Ould"

ORCHARD_HTML = """<!DOCTYPE html><html><head><meta charset="utf-8">
<title>Quince orchard notes</title></head><body>
<nav><a href="/">Home</a> | <a href="/about">About</a></nav>
<article><h1>Quince orchard notes</h1>
<p>The Halvorsen quince orchard was planted in 1962 with four hundred Vranja trees.</p>
<p>Each autumn the orchard yields about twelve tonnes of fruit, most of it sold for membrillo.</p>
<p>Frost in April 2019 destroyed nearly half of that year's blossom.</p>
<p>The orchard is irrigated from a spring-fed pond dug by the first owner, Ingrid Halvorsen.</p>
</article><footer>Copyright 2024 Orchard Society. All rights reserved.</footer></body></html>
"""
ORCHARD_FACT = "planted in 1962 with four hundred Vranja trees"


def pdf_bytes(text: str) -> bytes:
    import fpdf

    pdf = fpdf.FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.multi_cell(0, 8, text)
    return bytes(pdf.output())


class DocumentServer:
    """``/doc/NAME`` serves what :meth:`put` registered; ``/stream/NAME`` sends it chunked;
    ``/redirect?to=URL`` redirects;
    ``/slow`` answers after a long wait; ``/loop`` redirects to itself. Real HTTP over a real socket on 127.0.0.1."""

    def __init__(self) -> None:
        self.documents: dict[str, tuple[bytes, str | None]] = {}
        self.hits: list[str] = []
        app = web.Application()
        app.router.add_get("/doc/{name}", self._document)
        app.router.add_get("/stream/{name}", self._stream)
        app.router.add_get("/redirect", self._redirect)
        app.router.add_get("/slow", self._slow)
        app.router.add_get("/loop", self._loop)
        self.server = TestServer(app, host="127.0.0.1")

    def put(self, name: str, data: bytes | str, content_type: str | None) -> str:
        self.documents[name] = (data.encode() if isinstance(data, str) else data, content_type)
        return self.url(f"/doc/{name}")

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    async def _document(self, request: web.Request) -> web.StreamResponse:
        self.hits.append(request.path)
        found = self.documents.get(request.match_info["name"])
        if found is None:
            raise web.HTTPNotFound()
        data, content_type = found
        # None: a server that does not know what it serves says so with octet-stream.
        response = web.Response(body=data)
        response.headers["Content-Type"] = content_type or "application/octet-stream"
        return response

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        """The document sent chunked, with no Content-Length to check in advance."""
        self.hits.append(request.path)
        data, content_type = self.documents[request.match_info["name"]]
        response = web.StreamResponse(headers={"Content-Type": content_type or "text/plain"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(data), 4096):
            await response.write(data[start : start + 4096])
        await response.write_eof()
        return response

    async def _redirect(self, request: web.Request) -> web.StreamResponse:
        self.hits.append(request.path)
        raise web.HTTPFound(request.query["to"])

    async def _loop(self, request: web.Request) -> web.StreamResponse:
        self.hits.append(request.path)
        raise web.HTTPFound("/loop")

    async def _slow(self, request: web.Request) -> web.StreamResponse:
        self.hits.append(request.path)
        await asyncio.sleep(5)
        return web.Response(text="late", content_type="text/plain")

    async def __aenter__(self) -> DocumentServer:
        await self.server.start_server()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.server.close()
