"""The old site's addresses keep working (issue 9): a request nothing here answers (404) is
served from the archive's asset folder when it names a file there, or 301-redirected when it
is a notice's old address; `find_post()` resolves the names Hexo's `{% post_link %}` uses.
"""

from __future__ import annotations

import mimetypes
import os
import stat
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from django.conf import settings
from django.db.models import Q
from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseNotModified,
    HttpResponsePermanentRedirect,
)
from django.urls import reverse
from django.utils.http import http_date
from django.views.static import was_modified_since

from notices.models import Notice, OldAddress
from notices.permalinks import MAX_ADDRESS_LENGTH, normalize_address

# Hexo publishes neither hidden files nor `_`-prefixed ones (`_posts`, `_drafts`, `_data`),
# and renders Markdown and templates into pages instead of copying them.
UNPUBLISHED_SUFFIXES = frozenset(
    {".md", ".markdown", ".mdown", ".mkd", ".mkdn", ".ejs", ".swig", ".njk", ".pug", ".jade"}
)
# Types a browser would run or apply from our origin (where our own CSP allows 'self'): sent
# as plain text, which with `nosniff` no browser executes as script, page or stylesheet.
ACTIVE_TYPES = frozenset(
    {"text/html", "application/xhtml+xml", "text/javascript", "application/javascript",
     "text/css", "application/wasm"}
)  # fmt: skip
# Everything else (SVG and XML can carry script too) is sandboxed: no script, no plugins,
# no requests of its own. PDFs are left to the browser's own sandboxed viewer, which a
# `sandbox` policy would block.
ASSET_POLICY = "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'"
ASSET_MAX_AGE = 24 * 60 * 60  # an archive's files can change; a day is long enough


class OldAddressFallbackMiddleware:
    """Like django.contrib.redirects' RedirectFallbackMiddleware: only a 404 to a GET or HEAD
    is looked at (a file check, then one query on OldAddress's unique index); every other
    response passes untouched. Last in MIDDLEWARE, so APPEND_SLASH still sees the 404s that
    this leaves alone."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if response.status_code != 404 or request.method not in ("GET", "HEAD"):
            return response
        return archive_asset(request) or old_address_redirect(request) or response


def old_address_redirect(request: HttpRequest) -> HttpResponse | None:
    """A 301 to the notice that had this address on the old site, if one did."""
    # Re-quoted so that normalize_address() reads an encoded `?` or `#` as part of the path.
    key = normalize_address(quote(request.path_info.lstrip("/"), safe="/"))
    # PostgreSQL cannot compare text with a NUL in it: such a path is no address.
    if not key or len(key) > MAX_ADDRESS_LENGTH or "\x00" in key:
        return None
    urlname = OldAddress.objects.filter(path=key).values_list("notice__urlname", flat=True)[:1]
    for name in urlname:
        return HttpResponsePermanentRedirect(reverse("notices:detail", args=[name]))
    return None


def asset_file(root: Path, url_path: str) -> Path | None:
    """The file under `root` that `url_path` names (`/images/a.png` -> root/images/a.png), or
    None: nothing outside `root` (no `..`, no symlink leading out), no folders, nothing
    hidden or unpublished."""
    if "\x00" in url_path or "\\" in url_path or url_path.endswith("/"):
        return None
    parts = [part for part in url_path.split("/") if part]
    if not parts or any(part.startswith((".", "_")) for part in parts):
        return None  # also refuses ".." and "."
    if Path(parts[-1]).suffix.lower() in UNPUBLISHED_SUFFIXES:
        return None
    try:
        real_root = root.resolve(strict=True)
        candidate = real_root.joinpath(*parts).resolve(strict=True)
    except (OSError, RuntimeError):  # missing, unreadable, a symlink loop
        return None
    if not candidate.is_relative_to(real_root) or not candidate.is_file():
        return None
    return candidate


def archive_asset(request: HttpRequest) -> HttpResponseBase | None:
    """The old site's file at this address, from NOTICES_ASSET_DIR, if it has one there."""
    root = settings.NOTICES_ASSET_DIR
    if not root:
        return None
    path = asset_file(Path(root), request.path_info)
    if path is None:
        return None
    try:
        # The resolved path was checked: a symlink swapped in since is refused (O_NOFOLLOW),
        # and a pipe would not block the worker (O_NONBLOCK).
        flags = os.O_NOFOLLOW | os.O_NONBLOCK
        handle = open(path, "rb", opener=lambda p, f: os.open(p, f | flags))  # noqa: SIM115
    except OSError:
        return None
    info = os.fstat(handle.fileno())
    if not stat.S_ISREG(info.st_mode):
        handle.close()
        return None
    if not was_modified_since(request.META.get("HTTP_IF_MODIFIED_SINCE"), int(info.st_mtime)):
        handle.close()
        return HttpResponseNotModified()
    response = FileResponse(handle, content_type=asset_content_type(path.name))
    response["Last-Modified"] = http_date(info.st_mtime)
    response["Cache-Control"] = f"public, max-age={ASSET_MAX_AGE}"
    if response["Content-Type"] != "application/pdf":
        response["Content-Security-Policy"] = ASSET_POLICY
    return response


def asset_content_type(file_name: str) -> str:
    content_type, encoding = mimetypes.guess_type(file_name, strict=False)
    if encoding or not content_type:  # a .gz file is sent as the compressed file it is
        return "application/octet-stream"
    if content_type in ACTIVE_TYPES:
        content_type = "text/plain"
    # Static sites are UTF-8 (Hexo writes nothing else); without it browsers guess.
    return content_type + "; charset=utf-8" if content_type.startswith("text/") else content_type


def find_post(name: str) -> Notice | None:
    """The notice `{% post_link name %}` means: the one whose slug is `name`, else whose file
    name without extension is (the last part of `source_path`, or its folders too when `name`
    has them), else whose title is; the first imported wins a tie."""
    name = name.strip().strip("/")
    if not name or "\x00" in name or len(name) > MAX_ADDRESS_LENGTH:
        return None
    fields = ("id", "urlname", "title", "raw_title", "slug", "source_path")
    notices = Notice.objects.order_by("id").only(*fields)
    # `%00` unquotes to NUL, which PostgreSQL cannot compare (a 500, issue 11).
    names = [each for each in dict.fromkeys([name, unquote(name)]) if "\x00" not in each]
    by_slug = notices.filter(slug__in=names).first()
    if by_slug:
        return by_slug
    # Narrowed by the database (name.ext at the top or after a slash, or the title); the
    # exact file-name test is below.
    file_name = Q()
    for each in names:
        file_name |= Q(source_path__startswith=f"{each}.") | Q(source_path=each)
        file_name |= Q(source_path__contains=f"/{each}.") | Q(source_path__endswith=f"/{each}")
    candidates = list(notices.filter(file_name | Q(title__in=names) | Q(raw_title__in=names)))
    for notice in candidates:
        without_suffix = _without_suffix(notice.source_path)
        if any(without_suffix == each or without_suffix.endswith(f"/{each}") for each in names):
            return notice
    for notice in candidates:
        if notice.title in names or notice.raw_title in names:
            return notice
    return None


def _without_suffix(source_path: str) -> str:
    folder, _, file_name = source_path.rpartition("/")
    stem = file_name.rsplit(".", 1)[0] if "." in file_name.lstrip(".") else file_name
    return f"{folder}/{stem}" if folder else stem


class PostLinks:
    """What a body's links to other posts resolve to, looked up once per name or address:
    `title(name)` for `{% post_link name %}`'s text, `link(href)` for a link to another post's
    old address (on this site, or on one of NOTICES_OLD_HOSTS), which then points here."""

    def __init__(self) -> None:
        self.old_hosts = frozenset(host.lower() for host in settings.NOTICES_OLD_HOSTS)
        self.titles: dict[str, str | None] = {}
        self.links: dict[str, str | None] = {}

    def title(self, name: str) -> str | None:
        if name not in self.titles:
            notice = find_post(name)
            self.titles[name] = notice.title if notice else None
        return self.titles[name]

    def link(self, href: str) -> str | None:
        parts = urlsplit(href)
        if parts.scheme not in ("", "http", "https") or (parts.netloc and not parts.scheme):
            return None  # mailto:, or //host/ without a scheme
        if parts.netloc and parts.hostname not in self.old_hosts:
            return None
        if not parts.path.startswith("/"):
            return None  # relative to the old page, which is not this page's folder
        if href not in self.links:
            key = normalize_address(parts.path)
            row = OldAddress.objects.filter(path=key).values_list("notice__urlname", flat=True)
            urlname = row.first() if key else None
            target = reverse("notices:detail", args=[urlname]) if urlname else None
            if target and parts.fragment:
                target += "#" + parts.fragment
            self.links[href] = target
        return self.links[href]

    def may_link(self, body: str) -> bool:
        """Whether `body` may hold a link this resolves (cheap: a substring test)."""
        return (
            "{% post_" in body
            or "](/" in body
            or 'href="/' in body
            or any(host in body for host in self.old_hosts)
        )
