"""The pages: search, sample, run/explain a worker (htmx fragments), similar samples, workers, download."""

from __future__ import annotations

import hmac
from typing import Any

from flask import Blueprint, Response, abort, current_app, jsonify, redirect, render_template, request, session, url_for

from workbench.exceptions import BadArgument, WorkbenchError
from workbench.server.intake.sample_intake import check_md5
from workbench.server.web.archive import encrypted_zip, member_name
from workbench.server.web.render import render_output
from workbench.server.web.search import parse_query

bp = Blueprint("web", __name__)
PAGE_SIZE = 50
MAX_LINKS = 200  # parents/children listed with their filenames
SIMILARITY_WORKERS = ("pe_deep_sim", "tlsh_sim")
UNIQUE_PREFIX = 6  # a search for an md5 prefix this long that finds one sample opens it


def _wb() -> Any:
    return current_app.extensions["workbench"]


def _info(md5: str) -> dict[str, Any]:
    return _wb().get_sample_info(check_md5(md5))


def _infos(md5s: list[str]) -> list[dict[str, Any]]:
    """Infos for links; a linked md5 no longer stored shows as its md5 alone."""
    rows = []
    for md5 in md5s[:MAX_LINKS]:
        info = _wb().store.get_sample_info(md5)
        rows.append(info or {"md5": md5, "filename": "", "type_tag": "", "length": None})
    return rows


def _applicable(type_tag: str) -> list[Any]:
    """Loaded workers that apply to a sample of this type_tag (``view`` is shown on its own)."""
    return [w for name, w in sorted(_wb().plugins.all().items())
            if w.ok and name != "view" and (not w.applies_to or type_tag in w.applies_to)]


def _panel(md5: str, worker: Any, output: Any = None, error: str | None = None, is_open: bool = False,
           ran: bool = False) -> dict[str, Any]:
    summary = worker.summary
    if worker.name == "view" and isinstance(output, dict) and isinstance(output.get("view"), dict):
        summary = f"the summary by {output.get('view_worker', 'its view worker')}"  # unwrapped: one level less
        output = output["view"]
    return {"md5": md5, "name": worker.name, "summary": summary, "cacheable": worker.cacheable,
            "html": render_output(output) if output is not None else None, "error": error,
            "open": is_open or error is not None, "ran": ran}


# --- search -------------------------------------------------------------------------------------------
@bp.get("/")
@bp.get("/search")
def search() -> str:
    query = request.args.get("q", "").strip()[:300]
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    counts = current_app.extensions["sample_counts"].get()
    parsed = parse_query(query, counts["type_tags"], counts["tags"])
    results: list[dict[str, Any]] = []
    if parsed.filters or not query:  # a query that was all problems looks for nothing
        results = _wb().find_samples(**parsed.filters, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE + 1)
    more = len(results) > PAGE_SIZE
    if len(results) == 1 and page == 1 and len(parsed.filters.get("md5_prefix", "")) >= UNIQUE_PREFIX:
        return redirect(url_for("web.sample", md5=results[0]["md5"]))  # a pasted md5 (or long prefix): go there
    return render_template("search.html", query=query, parsed=parsed, results=results[:PAGE_SIZE], page=page,
                           more=more, counts=counts, total=sum(counts["type_tags"].values()))


# --- one sample ---------------------------------------------------------------------------------------
@bp.get("/sample/<md5>")
def sample(md5: str) -> str:
    info = _info(md5)
    md5 = info["md5"]
    wb = _wb()
    panels = []
    for worker in _applicable(info["type_tag"]):
        output = wb.cached_output(worker.name, md5) if worker.cacheable else None
        panels.append(_panel(md5, worker, output))
    loaded = {name for name, w in wb.plugins.all().items() if w.ok}
    view = None
    if "view" in loaded:
        view = _panel(md5, wb.plugins.get("view"), wb.cached_output("view", md5), is_open=True)
    similar = [name for name in SIMILARITY_WORKERS if name in loaded]
    return render_template("sample.html", info=info, view=view, panels=panels, similar=similar,
                           children=_infos(wb.get_children(md5)), parents=_infos(wb.get_parents(md5)))


@bp.post("/sample/<md5>/tags")
def set_tags(md5: str) -> Response:
    info = _info(md5)
    tags = [t for t in request.form.get("tags", "").replace(",", " ").split() if t]
    if any(len(t) > 100 for t in tags) or len(tags) > 100:
        raise BadArgument("tags are at most 100 characters each, at most 100 per sample")
    _wb().set_tags(info["md5"], tags)
    current_app.extensions["sample_counts"].clear()
    return redirect(url_for("web.sample", md5=info["md5"]))


@bp.post("/sample/<md5>/run/<worker>")
def run(md5: str, worker: str) -> str:
    """Run a worker (its chain) now and answer with its filled panel; errors fill the panel as the API says."""
    info = _info(md5)
    loaded = _wb().plugins.get(worker)
    try:
        output = _wb().work_request(worker, info["md5"])[worker]
        return render_template("_panel.html", p=_panel(info["md5"], loaded, output, is_open=True, ran=True))
    except WorkbenchError as exc:
        return render_template("_panel.html", p=_panel(info["md5"], loaded, error=f"{type(exc).__name__}: {exc}"))


@bp.get("/sample/<md5>/explain/<worker>")
def explain(md5: str, worker: str) -> str:
    return render_template("_explain.html", plan=_wb().explain(worker, check_md5(md5)))


@bp.get("/sample/<md5>/output/<worker>.json")
def output_json(md5: str, worker: str) -> Response:
    """The stored output in full (what the panel folds), as JSON; 404 when none is stored and valid."""
    output = _wb().cached_output(worker, check_md5(md5))
    if output is None:
        abort(404, f"no valid stored output of {worker} for {md5}: press run on the sample's page")
    return jsonify({"md5": md5, worker: output})


@bp.get("/sample/<md5>/similar")
def similar(md5: str) -> str:
    info = _info(md5)
    wb = _wb()
    workers = [wb.plugins.get(n) for n in SIMILARITY_WORKERS if n in wb.plugins.all() and wb.plugins.all()[n].ok]
    return render_template("similar.html", info=info, workers=workers)


@bp.get("/sample/<md5>/similar/<worker>")
def similar_list(md5: str, worker: str) -> str:
    """One similarity worker's answer as a table of links (a fragment, loaded by the similar page)."""
    if worker not in SIMILARITY_WORKERS:
        abort(404, f"{worker} is not a similarity worker; use one of {', '.join(SIMILARITY_WORKERS)}")
    try:
        output = _wb().work_request(worker, check_md5(md5))[worker]
    except WorkbenchError as exc:
        return render_template("_similar.html", worker=worker, error=f"{type(exc).__name__}: {exc}")
    entries = [e for e in output.get("sim_list", []) if isinstance(e, dict) and "md5" in e]
    infos = {row["md5"]: row for row in _infos([e["md5"] for e in entries])}
    columns = [k for k in (entries[0] if entries else {}) if k != "md5"]
    extra = {k: v for k, v in output.items() if k != "sim_list"}
    return render_template("_similar.html", worker=worker, entries=entries, infos=infos, columns=columns,
                           extra=render_output(extra) if extra else None)


@bp.get("/sample/<md5>/download")
def download(md5: str) -> Response:
    """The sample in a zip encrypted with the password ``infected``; the raw bytes are never served."""
    info = _info(md5)
    raw = _wb().get_sample(info["md5"])["sample"]["raw_bytes"]
    body = encrypted_zip(info["md5"], info["filename"], raw)
    name = member_name(info["md5"], info["filename"])
    return Response(body, mimetype="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{name}.zip"'})


# --- workers ------------------------------------------------------------------------------------------
@bp.get("/workers")
def workers() -> str:
    counts = current_app.extensions["output_counts"].get()
    rows = _wb().list_all_workers()
    docs = {name: w.doc for name, w in _wb().plugins.all().items()}
    return render_template("workers.html", rows=rows, counts=counts, docs=docs)


# --- token --------------------------------------------------------------------------------------------
@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    token = current_app.extensions["web_token"]
    target = request.args.get("next", "/")
    if not target.startswith("/") or target.startswith("//"):
        target = "/"  # only paths on this site
    error = None
    if not token or session.get("authed"):
        return redirect(target)
    if request.method == "POST":
        given = request.form.get("token", "")
        if token and hmac.compare_digest(given.encode(), token.encode()):
            session["authed"] = True
            return redirect(target)
        error = "wrong token: it is [server] web_token in the server's config.ini"
    return render_template("login.html", error=error, target=target), (401 if error else 200)
