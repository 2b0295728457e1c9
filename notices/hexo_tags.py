"""Hexo's tag plugins and the common Jekyll/Liquid tags, as the reading view shows them (issue 9).

Bodies are stored as written; only rendering expands their `{% … %}` tags, so readers never
see the raw syntax and an export still gives the original text. expand_tags() runs on the
Markdown before cmark: each tag becomes a placeholder and Expansion.restore() puts the tag's
HTML in its place in cmark's output, which then goes through the one sanitiser in
rendering.py like everything else.

- Tags in fenced code blocks and inline code spans stay literal (Hexo protects code too, and
  posts that document the syntax show it in code).
- A tag alone on its line(s) becomes an HTML comment placeholder, which CommonMark makes a
  block of its own wherever it stands, even inside a list item or a quote; a tag inside a line
  becomes a word-like placeholder, which also survives as a link's address
  (`[text]({% post_path name %})`) and is restored there as the address.
- An unknown tag shows its content (`{% x %}…{% endx %}`) or nothing; a `{%` that is not a
  tag is left alone.
- Cost stays linear in the body: tags are found by one bounded regex, block tags are paired
  with a stack, and block tags nested deeper than MAX_TAG_DEPTH lose their markers.
"""

from __future__ import annotations

import bisect
import itertools
import re
import string
from collections import Counter
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from html import escape
from urllib.parse import quote, unquote, urlsplit

from django.urls import NoReverseMatch, reverse

# name -> the title of the notice it names (by file name, slug or title), or None.
PostResolver = Callable[[str], "str | None"]

# Longest tag read, `{%` to `%}`: real tags are a line; the bound keeps the search linear.
MAX_TAG_LENGTH = 500
# Block tags nested deeper than this show their content without their markers.
MAX_TAG_DEPTH = 32

# Sandbox of an allowed embed: the player runs (scripts, its own origin for its cookies) and may
# open its own page in a new tab, but cannot navigate or script this page.
EMBED_SANDBOX = "allow-scripts allow-same-origin allow-popups"
# The site sends no referrer; players such as YouTube's refuse to play without their embedder's
# origin, so an allowed embed sends the origin (never the page address).
EMBED_REFERRER_POLICY = "strict-origin-when-cross-origin"

_TAG = re.compile(
    r"\{%-?[ \t]*([A-Za-z_](?:[\w-]*\w)?)"
    rf"((?:[^%{{]|%(?!\}})|\{{(?!%)){{0,{MAX_TAG_LENGTH}}}?)-?%\}}"
)
_FENCE_OPEN = re.compile(
    r"^[ \t>]*(?:(?:[-+*]|\d{1,9}[.)])[ \t]+[ \t>]*)?(`{3,}|~{3,})([^\n]*)$", re.MULTILINE
)
_BACKTICKS_OR_BLANK_LINE = re.compile(r"`+|\n[ \t>]*(?=\n)")
_ARGUMENT = re.compile(r'"((?:[^"\\]|\\.)*)"|\'((?:[^\'\\]|\\.)*)\'|(\S+)')
_ESCAPED = re.compile(r"\\(.)")
# What may stand before a tag on its line for it to count as alone there: indentation, quote
# markers and a list item's marker.
_LINE_LEAD = re.compile(r"[ \t]*(?:>[ \t]*)*(?:(?:[-+*]|\d{1,9}[.)])[ \t]+)?")
_LIST_MARKER = re.compile(r"[-+*]|\d{1,9}[.)]")
_URL_LIKE = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.-]{1,9}:|www\.|/|\.\.?/)")
_JEKYLL_PAGE = re.compile(r"\.(?:md|markdown|html?)$")
_LANGUAGE = re.compile(r"^[\w+#.-]{1,40}$")
_SIZE = re.compile(r"^\d{1,5}(?:%|px)?$")
_YOUTUBE_ID = re.compile(r"(?:[?&]v=|youtu\.be/|/embed/|/shorts/)([\w-]{6,})")
_VIMEO_ID = re.compile(r"vimeo\.com/(?:video/)?(\d+)")

# Content kept as written (raw: still Markdown, as Jekyll renders it) or dropped.
_LITERAL_BLOCKS = frozenset(
    {"raw", "verbatim", "codeblock", "code", "highlight", "comment", "capture"}
)
_DROPPED_BLOCKS = frozenset({"comment", "capture"})
_CODE_BLOCKS = frozenset({"codeblock", "code", "highlight"})
# Content rendered as Markdown of its own, inside the tag's element (Hexo does the same).
_MARKDOWN_BLOCKS = frozenset({"blockquote", "quote", "pullquote", "details"})

EMBED_MARKS = {"video": "▶", "audio": "♪"}
# Marks common fonts carry (⧉ showed as a missing-glyph box in Chromium with CJK fonts).
FRAME_MARK = "▣"


@dataclass(frozen=True)
class Fragment:
    """What a tag shows: in a block of its own, inside a line, inside an attribute value.
    Only a block-level tag (code, quote, embed) alone on its lines stands as a block: a link
    or an image alone on its line is still a paragraph."""

    block: str
    inline: str
    attribute: str = ""
    block_level: bool = False


@dataclass(frozen=True)
class TagOptions:
    resolve_post: PostResolver | None = None
    # Hosts whose embeds are shown as sandboxed frames (settings.NOTICES_EMBED_HOSTS).
    embed_hosts: frozenset[str] = frozenset()


@dataclass
class _Token:
    start: int
    end: int
    name: str
    arguments: str


@dataclass
class _Node:
    token: _Token
    # Set for a block tag: its content, as text (literal blocks) or events.
    content: str | list[str | _Node] | None = None
    close: _Token | None = None

    @property
    def end(self) -> int:
        return (self.close or self.token).end


# --- Where tags may be -----------------------------------------------------------------------


def code_spans(text: str) -> list[tuple[int, int]]:
    """Sorted (start, end) of the fenced code blocks and inline code spans of Markdown `text`."""
    spans: list[tuple[int, int]] = []
    position = 0
    while True:
        fence = _FENCE_OPEN.search(text, position)
        if fence is None:
            spans.extend(_inline_code_spans(text, position, len(text)))
            return spans
        marker, info = fence[1], fence[2]
        if marker[0] == "`" and "`" in info:  # not a fence: an inline code span
            spans.extend(_inline_code_spans(text, position, fence.end()))
            position = fence.end()
            continue
        spans.extend(_inline_code_spans(text, position, fence.start()))
        closing = re.compile(rf"^[ \t>]*{re.escape(marker[0])}{{{len(marker)},}}[ \t]*$", re.M)
        close = closing.search(text, fence.end())
        end = close.end() if close else len(text)  # an unclosed fence runs to the end
        spans.append((fence.start(), end))
        position = end


def _inline_code_spans(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """Code spans between `start` and `end`: a run of n backticks up to the next run of exactly
    n, within a paragraph (a blank line ends it). Each run is looked at once."""
    runs: list[tuple[int, int]] = []
    for match in _BACKTICKS_OR_BLANK_LINE.finditer(text, start, end):
        if match[0][0] != "`":
            yield from _pair_backtick_runs(runs)
            runs = []
        else:
            runs.append((match.start(), match.end()))
    yield from _pair_backtick_runs(runs)


def _pair_backtick_runs(runs: list[tuple[int, int]]) -> Iterator[tuple[int, int]]:
    next_same: list[int | None] = [None] * len(runs)
    last_by_length: dict[int, int] = {}
    for index in range(len(runs) - 1, -1, -1):
        length = runs[index][1] - runs[index][0]
        next_same[index] = last_by_length.get(length)
        last_by_length[length] = index
    index = 0
    while index < len(runs):
        closer = next_same[index]
        if closer is None:
            index += 1
            continue
        yield runs[index][0], runs[closer][1]
        index = closer + 1


def find_tags(text: str) -> list[_Token]:
    """The `{% … %}` tags of `text` outside code, in order."""
    if "{%" not in text:
        return []
    protected = code_spans(text)
    starts = [start for start, _ in protected]
    tokens = []
    for match in _TAG.finditer(text):
        at = bisect.bisect_right(starts, match.start()) - 1
        if at >= 0 and protected[at][1] > match.start():
            continue
        arguments = match[2].strip()
        tokens.append(_Token(match.start(), match.end(), match[1].lower(), arguments))
    return tokens


def parse_arguments(arguments: str) -> list[str]:
    """A tag's arguments as Hexo splits them: on spaces, quoted strings kept whole."""
    values = []
    for match in _ARGUMENT.finditer(arguments):
        quoted = match[1] if match[1] is not None else match[2]
        values.append(_ESCAPED.sub(r"\1", quoted) if quoted is not None else match[3])
    return values


# --- Pairing block tags --------------------------------------------------------------------


def parse_tags(text: str, tokens: list[_Token]) -> list[str | _Node]:
    """Text and tags as events; a block tag that has its end tag holds its content."""
    last_end: dict[str, int] = {}
    for index, token in enumerate(tokens):
        if token.name.startswith("end"):
            last_end[token.name[3:]] = index
    events: list[str | _Node] = []
    # (name, index in events of its opening tag)
    stack: list[tuple[str, int]] = []
    open_names: Counter[str] = Counter()
    position = index = 0
    while index < len(tokens):
        token = tokens[index]
        if token.start > position:
            events.append(text[position : token.start])
        position = token.end
        name = token.name
        has_end = last_end.get(name, -1) > index
        if name in _LITERAL_BLOCKS and has_end:
            close_index = index + 1
            while tokens[close_index].name != "end" + name:
                close_index += 1
            close = tokens[close_index]
            events.append(_Node(token, text[token.end : close.start], close))
            position, index = close.end, close_index + 1
            continue
        if name.startswith("end") and open_names[name[3:]]:
            while True:
                open_name, at = stack.pop()
                open_names[open_name] -= 1
                if open_name == name[3:]:
                    break
            opening = events[at]
            assert isinstance(opening, _Node)
            content = events[at + 1 :]
            del events[at + 1 :]
            events[at] = _Node(opening.token, content, token)
        elif has_end and not name.startswith("end") and len(stack) < MAX_TAG_DEPTH:
            stack.append((name, len(events)))
            open_names[name] += 1
            events.append(_Node(token))
        else:
            events.append(_Node(token))
        index += 1
    if position < len(text):
        events.append(text[position:])
    return events


# --- Expansion -------------------------------------------------------------------------------


@dataclass
class Expansion:
    """Markdown with placeholders for tags, and the HTML each placeholder stands for."""

    markdown: str
    prefix: str = ""
    fragments: list[Fragment] = field(default_factory=list)

    def restore(self, html: str) -> str:
        """`html` (cmark's output for text with placeholders) with the tags' HTML in place."""
        if not self.fragments:
            return html
        prefix = re.escape(self.prefix)
        word = re.compile(rf"{prefix}(\d+)z")
        comment = re.compile(rf"(?:<|&lt;)!--{prefix}(\d+)z--(?:>|&gt;)")
        in_tag = re.compile(rf"<[^<>]*{prefix}\d+z[^<>]*>")

        def fragment(match: re.Match[str]) -> Fragment:
            index = int(match[1])
            return self.fragments[index] if index < len(self.fragments) else Fragment("", "")

        html = comment.sub(lambda m: fragment(m).block, html)
        html = in_tag.sub(
            lambda tag: word.sub(lambda m: escape(fragment(m).attribute), tag[0]), html
        )
        return word.sub(lambda m: fragment(m).inline, html)


def placeholder_prefix(text: str) -> str:
    """A word that occurs nowhere in `text`, chosen deterministically (the same body always
    renders the same way) in one pass over it."""
    used = set(re.findall(r"hexotag([a-z]{5})", text))
    for letters in itertools.product(string.ascii_lowercase, repeat=5):
        candidate = "".join(letters)
        if candidate not in used:
            return "hexotag" + candidate
    raise AssertionError("unreachable: a body cannot hold 26**5 distinct words")


def expand_tags(
    text: str, options: TagOptions, markdown_to_html: Callable[[str], str]
) -> Expansion:
    """Replace the tags of Markdown `text` by placeholders. `markdown_to_html` renders the
    Markdown inside block tags such as blockquote (unsanitised, like the body itself)."""
    tokens = find_tags(text)
    if not tokens:
        return Expansion(text)
    expander = _Expander(text, options, markdown_to_html, placeholder_prefix(text))
    markdown = expander.markdown(parse_tags(text, tokens))
    return expander.expansion(markdown)


class _Expander:
    def __init__(
        self,
        text: str,
        options: TagOptions,
        markdown_to_html: Callable[[str], str],
        prefix: str,
    ) -> None:
        self.text = text
        self.options = options
        self.markdown_to_html = markdown_to_html
        self.result = Expansion("", prefix)
        self.post_urls: dict[str, str] = {}
        self.post_titles: dict[str, str | None] = {}

    def post_url(self, name: str) -> str:
        # A body may name the same post many times; reverse() costs 80 µs.
        if name not in self.post_urls:
            self.post_urls[name] = post_url(name)
        return self.post_urls[name]

    def post_title(self, name: str) -> str | None:
        if self.options.resolve_post is None:
            return None
        if name not in self.post_titles:
            self.post_titles[name] = self.options.resolve_post(name)
        return self.post_titles[name]

    def expansion(self, markdown: str) -> Expansion:
        self.result.markdown = markdown
        return self.result

    def markdown(self, events: list[str | _Node]) -> str:
        return "".join(event if isinstance(event, str) else self.node(event) for event in events)

    def placeholder(self, fragment: Fragment, node: _Node) -> str:
        index = len(self.result.fragments)
        self.result.fragments.append(fragment)
        if fragment.block_level and self.alone_on_its_lines(node):
            return f"<!--{self.result.prefix}{index}z-->"
        return f"{self.result.prefix}{index}z"

    def line_lead(self, node: _Node) -> str | None:
        """What stands before the tag on its line, when that is only indentation and markers."""
        line_start = self.text.rfind("\n", max(0, node.token.start - 80), node.token.start) + 1
        if line_start == 0 and node.token.start > 80:
            return None
        lead = self.text[line_start : node.token.start]
        return lead if _LINE_LEAD.fullmatch(lead) else None

    def alone_on_its_lines(self, node: _Node) -> bool:
        if self.line_lead(node) is None:
            return False
        line_end = self.text.find("\n", node.end, node.end + 80)
        rest = self.text[node.end : line_end if line_end >= 0 else node.end + 80]
        return (line_end >= 0 or node.end + 80 >= len(self.text)) and not rest.strip()

    def content(self, node: _Node) -> str:
        """A block tag's content with the container's indentation or quote markers removed."""
        content = node.content if isinstance(node.content, str) else self.markdown(node.content)
        content = re.sub(r"\A[ \t]*\n", "", content)
        content = re.sub(r"\n[ \t>]*\Z", "", content)
        lead = self.line_lead(node)
        if lead:
            content = strip_container(content, lead)
        return content

    def node(self, node: _Node) -> str:
        name = node.token.name
        if node.content is None:
            return self.single(node)
        if name in _DROPPED_BLOCKS:
            return ""
        if name in ("raw", "verbatim"):
            assert isinstance(node.content, str)
            return node.content
        if name in _CODE_BLOCKS:
            return self.placeholder(self.code_block(node), node)
        if name in _MARKDOWN_BLOCKS:
            inner = self.result.restore(self.markdown_to_html(self.content(node)))
            return self.placeholder(self.markdown_block(node, inner), node)
        # An unknown block tag shows its content, where it stands.
        assert isinstance(node.content, list)
        return self.markdown(node.content)

    # Block tags

    def code_block(self, node: _Node) -> Fragment:
        arguments = parse_arguments(node.token.arguments)
        language = ""
        caption: list[str] = []
        for argument in arguments:
            key, colon, value = argument.partition(":")
            if colon and key == "lang":
                language = value
            elif colon and key in {"line_number", "line_threshold", "first_line", "mark",
                                   "wrap", "highlight", "language_attr"}:  # fmt: skip
                continue
            elif node.token.name == "highlight":
                if not language and argument != "linenos" and "=" not in argument:
                    language = argument
            else:
                caption.append(argument)
        code_class = f' class="language-{language}"' if _LANGUAGE.match(language) else ""
        html = f"<pre><code{code_class}>{escape(self.content(node))}\n</code></pre>"
        if caption:
            html = f"<figure><figcaption>{caption_html(caption)}</figcaption>{html}</figure>"
        return Fragment(html, html, "", block_level=True)

    def markdown_block(self, node: _Node, inner: str) -> Fragment:
        name = node.token.name
        arguments = parse_arguments(node.token.arguments)
        if name == "details":
            summary = escape(" ".join(arguments))
            html = f"<details><summary>{summary}</summary>{inner}</details>"
        elif name == "pullquote":
            html = f'<blockquote class="pullquote">{inner}</blockquote>'
        else:
            footer = citation_html(arguments)
            html = (
                f"<blockquote>{inner}{f'<footer>{footer}</footer>' if footer else ''}</blockquote>"
            )
        return Fragment(html, html, "", block_level=True)

    # Single tags

    def single(self, node: _Node) -> str:
        name = node.token.name.replace("-", "_")
        handler = getattr(self, f"tag_{name}", None)
        fragment = handler(parse_arguments(node.token.arguments)) if handler else None
        return self.placeholder(fragment, node) if fragment else ""

    def tag_post_link(self, arguments: list[str]) -> Fragment | None:
        if not arguments or not arguments[0].strip(" ./"):
            return None
        name, title = arguments[0], arguments[1:]
        if title and title[-1] in {"true", "false"}:  # Hexo's escape flag: we always escape
            title = title[:-1]
        found = self.post_title(name)
        text = " ".join(title) or found or name
        url = self.post_url(name)
        title_attribute = f' title="{escape(found)}"' if found else ""
        html = f'<a href="{escape(url)}"{title_attribute}>{escape(text)}</a>'
        return Fragment(html, html, url)

    def tag_post_path(self, arguments: list[str]) -> Fragment | None:
        if not arguments or not arguments[0].strip(" ./"):
            return None
        url = self.post_url(arguments[0])
        return Fragment(escape(url), escape(url), url)

    tag_post_url = tag_post_path  # Jekyll

    def tag_link(self, arguments: list[str]) -> Fragment | None:
        if len(arguments) == 1 and _JEKYLL_PAGE.search(arguments[0]):
            return self.jekyll_link(arguments[0])
        at = next((i for i, value in enumerate(arguments) if _URL_LIKE.match(value)), None)
        if at is None:
            return None
        url = arguments[at]
        rest = arguments[at + 1 :]
        if rest and rest[0] in {"true", "false"}:
            rest = rest[1:]
        text = " ".join(arguments[:at]) or url
        title = f' title="{escape(" ".join(rest))}"' if rest else ""
        html = f'<a href="{escape(url)}"{title}>{escape(text)}</a>'
        return Fragment(html, html, url)

    tag_a = tag_anchor = tag_link

    def jekyll_link(self, path: str) -> Fragment:
        """Jekyll's `{% link _posts/2020-01-02-name.md %}`: the address of that page."""
        folder, _, file_name = path.strip("/").rpartition("/")
        stem = file_name.rsplit(".", 1)[0]
        if folder.endswith("_posts"):
            url = self.post_url(stem)
        else:
            url = "/" + (f"{folder}/" if folder else "") + f"{stem}/"
        return Fragment(escape(url), escape(url), url)

    def tag_img(self, arguments: list[str], *, asset: bool = False) -> Fragment | None:
        at = next(
            (i for i, value in enumerate(arguments) if _is_image_source(value, asset=asset)),
            None,
        )
        if at is None:
            return None
        source, rest = arguments[at], arguments[at + 1 :]
        sizes = []
        while rest and len(sizes) < 2 and _SIZE.match(rest[0]):
            sizes.append(rest.pop(0))
        title = " ".join(rest)
        attributes = f'src="{escape(source)}" alt="{escape(title)}"'
        if title:
            attributes += f' title="{escape(title)}"'
        for name, value in zip(("width", "height"), sizes, strict=False):
            attributes += f' {name}="{escape(value)}"'
        html = f"<img {attributes}>"
        return Fragment(html, html, source)

    tag_image = tag_img

    def tag_asset_img(self, arguments: list[str]) -> Fragment | None:
        return self.tag_img(arguments, asset=True)

    tag_asset_image = tag_asset_img

    def tag_asset_link(self, arguments: list[str]) -> Fragment | None:
        if not arguments:
            return None
        name, title = arguments[0], arguments[1:]
        if title and title[-1] in {"true", "false"}:
            title = title[:-1]
        html = f'<a href="{escape(name)}">{escape(" ".join(title) or name)}</a>'
        return Fragment(html, html, name)

    def tag_asset_path(self, arguments: list[str]) -> Fragment | None:
        return (
            Fragment(escape(arguments[0]), escape(arguments[0]), arguments[0])
            if arguments
            else None
        )

    tag_url_for = tag_full_url_for = tag_asset_path

    def tag_fa_svg(self, arguments: list[str]) -> Fragment | None:
        return None  # an icon in front of a label: the label says it all

    def tag_include_code(self, arguments: list[str]) -> Fragment | None:
        words = [value for value in arguments if not re.match(r"(lang|from|to):", value)]
        if not words:
            return None
        # Hexo serves the file from its code_dir, source/downloads/code/ by default.
        url = "/downloads/code/" + words[-1].lstrip("/")
        title = " ".join(words[:-1]) or words[-1].rsplit("/", 1)[-1]
        html = f'<a href="{escape(url)}">{escape(title)}</a>'
        return self.embed(kind="code", link=url, label_html=html)

    # Embeds

    def embed(
        self,
        *,
        kind: str,
        link: str,
        frame: str | None = None,
        size: tuple[str, str] = ("", ""),
        label_html: str | None = None,
    ) -> Fragment:
        hosts = self.options.embed_hosts
        return Fragment(
            embed_html(kind, link, frame, hosts, block=True, size=size, label_html=label_html),
            embed_html(kind, link, frame, hosts, block=False, size=size, label_html=label_html),
            link,
            block_level=True,
        )

    def tag_iframe(self, arguments: list[str]) -> Fragment | None:
        if not arguments:
            return None
        size = (arguments[1:2] or [""])[0], (arguments[2:3] or [""])[0]
        return self.embed(kind="frame", link=arguments[0], frame=arguments[0], size=size)

    def tag_youtube(self, arguments: list[str]) -> Fragment | None:
        if not arguments:
            return None
        video = arguments[0]
        if _URL_LIKE.match(video):
            found = _YOUTUBE_ID.search(video)
            if not found:
                return self.embed(kind="video", link=video)
            video = found[1]
        host = "www.youtube-nocookie.com" if "false" in arguments[1:] else "www.youtube.com"
        if "playlist" in arguments[1:]:
            link = f"https://www.youtube.com/playlist?list={quote(video)}"
            frame = f"https://{host}/embed/videoseries?list={quote(video)}"
        else:
            link = f"https://www.youtube.com/watch?v={quote(video)}"
            frame = f"https://{host}/embed/{quote(video)}"
        return self.embed(kind="video", link=link, frame=frame)

    def tag_vimeo(self, arguments: list[str]) -> Fragment | None:
        if not arguments:
            return None
        found = _VIMEO_ID.search(arguments[0])
        video = found[1] if found else arguments[0]
        if not video.isdigit():
            return self.embed(kind="video", link=arguments[0])
        link, frame = f"https://vimeo.com/{video}", f"https://player.vimeo.com/video/{video}"
        return self.embed(kind="video", link=link, frame=frame)

    def tag_gist(self, arguments: list[str]) -> Fragment | None:
        if not arguments:
            return None
        gist = arguments[0].removeprefix("https://gist.github.com/")
        link = f"https://gist.github.com/{quote(gist)}"
        if len(arguments) > 1:
            link += f"?file={quote(arguments[1])}"
        return self.embed(kind="frame", link=link)  # a gist is a script: never run it

    def tag_video(self, arguments: list[str]) -> Fragment | None:
        url = next((value for value in arguments if _URL_LIKE.match(value)), None)
        return self.embed(kind="video", link=url) if url else None

    def tag_audio(self, arguments: list[str]) -> Fragment | None:
        url = next((value for value in arguments if _URL_LIKE.match(value)), None)
        return self.embed(kind="audio", link=url) if url else None

    def tag_pdf(self, arguments: list[str]) -> Fragment | None:
        url = next((value for value in arguments if _URL_LIKE.match(value)), None)
        return self.embed(kind="frame", link=url) if url else None


# --- Pieces of HTML --------------------------------------------------------------------------


def _is_image_source(value: str, *, asset: bool) -> bool:
    # An asset is named by its file name (Hexo looks it up among the post's assets).
    return ("." in value or "/" in value) if asset else bool(_URL_LIKE.match(value))


def post_url(name: str) -> str:
    """The address of the notice a post_link/post_path names (the view resolves it)."""
    try:
        return reverse("notices:post", args=[name])
    except NoReverseMatch:
        return "/posts/" + quote(name, safe="") + "/"


def strip_container(content: str, lead: str) -> str:
    """Remove from each line of `content` the indentation and quote markers that `lead` (what
    stood before the opening tag on its line) implies for the lines of its container."""
    continuation = _LIST_MARKER.sub(lambda m: " " * len(m[0]), lead.replace("\t", "    "))
    pieces = continuation.split(">")
    pattern = "".join(f" {{0,{len(piece)}}}>" for piece in pieces[:-1])
    pattern += f" {{0,{len(pieces[-1])}}}"
    return re.sub("^" + pattern, "", content, flags=re.MULTILINE)


def caption_html(words: list[str]) -> str:
    """A codeblock's caption: `[title] [url] [link text]`."""
    at = next((i for i, word in enumerate(words) if re.match(r"https?://", word)), None)
    if at is None:
        return f"<span>{escape(' '.join(words))}</span>"
    title = escape(" ".join(words[:at]))
    link_text = escape(" ".join(words[at + 1 :]) or "link")
    return f'<span>{title}</span> <a href="{escape(words[at])}">{link_text}</a>'


def citation_html(words: list[str]) -> str:
    """A blockquote's footer from `[author[, source]] [link] [source_link_title]`."""
    if not words:
        return ""
    at = next((i for i, word in enumerate(words) if re.match(r"https?://", word)), None)
    source = title = ""
    if at is not None:
        author, source, title = " ".join(words[:at]), words[at], " ".join(words[at + 1 :])
    else:
        author, comma, title = " ".join(words).partition(",")
        title = title.split(",", 1)[0].strip() if comma else ""
    footer = f"<strong>{escape(author.strip())}</strong>" if author.strip() else ""
    if source:
        shown = re.sub(r"^https?://|/(?:index\.html?)?$", "", source)
        footer += f' <cite><a href="{escape(source)}">{escape(title or shown)}</a></cite>'
    elif title:
        footer += f" <cite>{escape(title)}</cite>"
    return footer


def url_host(url: str) -> str:
    try:
        return urlsplit(url.strip()).hostname or ""
    except ValueError:
        return ""


def embeddable(url: str, hosts: Collection[str]) -> bool:
    """Whether `url` may be shown in a frame: https, on a host the operator allowed."""
    if not hosts:
        return False
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    return parts.scheme.lower() == "https" and (parts.hostname or "") in hosts


_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
# Addresses never shown, not even as text: they are script, or a whole document.
HIDDEN_SCHEMES = frozenset({"javascript", "vbscript", "data"})


def url_scheme(url: str) -> str:
    """The lower-cased scheme of `url` as a browser reads it (ignoring blanks), or ""."""
    match = _SCHEME.match(re.sub(r"[\x00-\x20]+", "", url))
    return match[1].lower() if match else ""


def embed_html(
    kind: str,
    link: str | None,
    frame: str | None,
    hosts: Collection[str],
    *,
    block: bool,
    size: tuple[str, str] = ("", ""),
    label_html: str | None = None,
) -> str:
    """An embedded player, map or gist: a sandboxed frame when its host is allowed, otherwise
    a link block naming what was embedded (its host and address)."""
    if frame and embeddable(frame, hosts):
        attributes = f'src="{escape(frame)}" title="{escape(url_host(frame))}"'
        for name, value in zip(("width", "height"), size, strict=True):
            if _SIZE.match(value):
                attributes += f' {name}="{value}"'
        return (
            f'<iframe {attributes} sandbox="{EMBED_SANDBOX}" allowfullscreen loading="lazy" '
            f'referrerpolicy="{EMBED_REFERRER_POLICY}"></iframe>'
        )
    element = "p" if block else "span"
    mark = EMBED_MARKS.get(kind, FRAME_MARK)
    if label_html is not None:
        return f'<{element} class="embed">{mark} {label_html}</{element}>'
    scheme = url_scheme(link or "")
    if not link or scheme in HIDDEN_SCHEMES:
        return f'<{element} class="embed">{mark} {escape(kind)}</{element}>'
    host = url_host(link)
    label = f"{mark} {escape(host)}" if host else mark
    address = escape(link.strip())
    shown = escape(readable_address(link.strip()))
    if scheme and scheme not in {"http", "https"}:  # the sanitiser would drop the link
        return f'<{element} class="embed">{label} {shown}</{element}>'
    return f'<{element} class="embed">{label} <a href="{address}">{shown}</a></{element}>'


# Characters that would make an address read as something else (bidi overrides, invisibles).
_DECEPTIVE = re.compile("[\x00-\x20\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def readable_address(url: str) -> str:
    """`url` with percent-escapes of UTF-8 text decoded (`q=青岚` rather than `q=%E9%9D%92…`),
    for reading only; as written when decoding would hide or fake any character."""
    try:
        decoded = unquote(url, errors="strict")
    except UnicodeDecodeError:
        return url
    return url if _DECEPTIVE.search(decoded) else decoded
