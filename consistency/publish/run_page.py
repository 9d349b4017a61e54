"""Every run folder's own ``report.html``, and ``consistency view RUN``.

A finished run writes ``report.html`` beside ``report.md``: the same self-contained page that
``consistency report RUN --format html`` makes (verdicts, forest plot, per-item drill-down;
rendered by :mod:`consistency.publish.html_report`), so a reader needs neither a second command nor a
server to see a run. ``consistency view RUN`` opens that page in the browser Python's
:mod:`webbrowser` finds; where none can be opened (a server reached over SSH, a container) it
serves the page on 127.0.0.1 and prints the URL, which an SSH tunnel
(``ssh -L PORT:127.0.0.1:PORT host``) brings to a local browser.

Only the page itself is served (``/`` and ``/report.html``): the run folder also holds the
responses and the config, which stay off the network even on loopback.
"""

from __future__ import annotations

import argparse
import http.server
import tempfile
import webbrowser
from pathlib import Path

from consistency.common.errors import InputError
from consistency.common.sanitise import for_terminal

PAGE = "report.html"


def write_run_page(folder: Path) -> Path:
    """Render ``folder/report.html`` from the run's own files (its forest plot is drawn in a
    temporary folder and embedded, so the run folder gains one file only)."""
    from consistency.publish import forest
    from consistency.analyse import crossrun
    from consistency.publish.html_report import render

    runset = crossrun.load([folder])
    with tempfile.TemporaryDirectory(prefix="consistency-page-") as tmp:
        forest.draw(runset, Path(tmp) / "forest")
        html = render(runset, Path(tmp) / "forest.png")
    path = folder / PAGE
    tmp_path = path.with_name(f".{PAGE}.tmp")
    tmp_path.write_text(html, encoding="utf-8")
    tmp_path.replace(path)  # a reader never sees half a page
    return path


def page_for(target: Path) -> Path:
    """The page ``consistency view`` shows for ``target``: a run folder's ``report.html``
    (written now when the run predates it), a report folder's ``report.html``, or the HTML file
    itself. Raises :class:`InputError` naming the path otherwise."""
    if target.is_file() and target.suffix.lower() in (".html", ".htm"):
        return target
    if not target.is_dir():
        raise InputError("no such run folder; give a run folder (results/RUN_ID), a report "
                         "folder or an HTML file", where=str(target))
    page = target / PAGE
    if page.is_file():
        return page
    if (target / "summary.json").is_file() and (target / "tests.csv").is_file():
        return write_run_page(target)
    raise InputError("not a finished run folder (it has no summary.json and tests.csv) and no "
                     f"{PAGE}; for a folder of runs, make one report first: consistency report "
                     f"{target} --out REPORT_DIR, then consistency view REPORT_DIR",
                     where=str(target))


def open_in_browser(page: Path) -> bool:
    """True when a browser took the page; False when Python finds none to open (no display
    and no console browser, or ``BROWSER`` naming nothing that runs)."""
    try:
        browser = webbrowser.get()
    except webbrowser.Error:
        return False
    try:
        return bool(browser.open(page.resolve().as_uri()))
    except OSError:
        return False


class _PageHandler(http.server.BaseHTTPRequestHandler):
    """Serves one file's bytes at ``/`` and ``/report.html``; 404 for anything else."""

    body = b""
    server_version = "consistency-view"

    def do_GET(self) -> None:  # noqa: N802 - the name http.server dispatches to
        if self.path.split("?", 1)[0] not in ("/", f"/{PAGE}"):
            self.send_error(404, "only the report page is served")
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(self.body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - base signature
        pass  # one line per request would bury the URL the user needs


def page_server(page: Path, port: int = 0) -> http.server.ThreadingHTTPServer:
    """An HTTP server on 127.0.0.1 (``port`` 0: a free one) serving ``page``; not started."""
    handler = type("Handler", (_PageHandler,), {"body": page.read_bytes()})
    try:
        return http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError as exc:
        raise InputError(f"cannot listen on 127.0.0.1:{port} ({exc.strerror or exc}); choose "
                         "another --port, or 0 for any free port", where="--port") from None


def main(argv: list[str]) -> int:
    """``consistency view RUN [--serve] [--port N]``."""
    parser = argparse.ArgumentParser(
        prog="consistency view",
        description="Open a run's report.html in a browser; where no browser can be opened, "
                    "serve it on 127.0.0.1 and print the URL (Ctrl-C stops the server).")
    parser.add_argument("target", metavar="RUN_OR_REPORT",
                        help="a run folder, a folder written by consistency report, or an HTML file")
    parser.add_argument("--serve", action="store_true",
                        help="serve on 127.0.0.1 even when a browser could be opened")
    parser.add_argument("--port", type=int, default=0, help="port to serve on (default: any free)")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        raise InputError("see the usage above", where="consistency view") if exc.code else exc
    if not 0 <= args.port <= 65535:
        raise InputError(f"must be a port number 0-65535, got {args.port}", where="--port")
    page = page_for(Path(args.target))
    if not args.serve and open_in_browser(page):
        print(for_terminal(f"opened {page}"))
        return 0
    server = page_server(page, args.port)
    host, port = server.server_address[:2]
    print(for_terminal(f"no browser could be opened here; serving {page}" if not args.serve
                       else f"serving {page}"))
    print(f"open http://{host}:{port}/ (over SSH: ssh -L {port}:127.0.0.1:{port} HOST); "
          "Ctrl-C stops", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
