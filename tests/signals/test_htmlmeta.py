"""proxy.signals.htmlmeta: tag insertion, correcting upstream tags, charsets, real pages."""

from __future__ import annotations

import codecs
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from paths import ROOT

from proxy.demo.site import _Site
from proxy.signals.htmlmeta import Injected, MetaTags, inject

HTML_DIR = ROOT / "tests" / "data" / "html"
WP = "https://stillwater-records.example"
WP_ROBOTS = "follow, index, max-snippet:-1, max-video-preview:-1, max-image-preview:large"
POLICY = "https://label.example/policies/tdm.json"
LICENCE = "https://label.example/license.xml"
TAGS = MetaTags("1", POLICY, ("noai", "noimageai"), LICENCE)

TDM = '<meta name="tdm-reservation" content="1">'
TDM_POLICY = f'<meta name="tdm-policy" content="{POLICY}">'
ROBOTS = '<meta name="robots" content="noai, noimageai">'
LINK = f'<link rel="license" type="application/rsl+xml" href="{LICENCE}">'
BLOCK = TDM + TDM_POLICY + ROBOTS + LINK
BLOCK_NO_ROBOTS = TDM + TDM_POLICY + LINK


class _Tags(HTMLParser):
    """What a standards-minded consumer sees: the metas and links, first attribute wins."""

    def __init__(self) -> None:
        super().__init__()
        self.metas: list[dict[str, str | None]] = []
        self.links: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(reversed(attrs))
        if tag == "meta":
            self.metas.append(found)
        elif tag == "link":
            self.links.append(found)

    def named(self, name: str) -> list[str | None]:
        return [m.get("content") for m in self.metas if (m.get("name") or "").lower() == name]

    def robots(self) -> set[str]:
        return {d.strip().lower() for c in self.named("robots") for d in (c or "").split(",")}


def parse(html: str) -> _Tags:
    parser = _Tags()
    parser.feed(html)
    parser.close()
    return parser


def run(html: str, tags: MetaTags = TAGS, charset: str | None = "utf-8") -> tuple[str, Injected]:
    result = inject(html.encode("utf-8"), charset, tags)
    return result.body.decode("utf-8"), result


def assert_reserved(html: str, tags: MetaTags = TAGS) -> None:
    seen = parse(html)
    assert seen.named("tdm-reservation") == [tags.tdm_reservation]
    assert seen.named("tdm-policy") == ([tags.tdm_policy] if tags.tdm_policy else [])
    assert seen.robots() >= set(tags.robots)
    rsl = [x.get("href") for x in seen.links if x.get("type") == "application/rsl+xml"]
    assert rsl == ([tags.licence] if tags.licence else [])


# --- upstream TDMRep tags are corrected, never duplicated ------------------------------------


@pytest.mark.parametrize(
    ("upstream", "kind"),
    [
        ('<meta name="tdm-reservation" content="0">', "conflicting"),
        ("<meta name='tdm-reservation' content='0'>", "conflicting"),
        ("<meta name=tdm-reservation content=0>", "conflicting"),
        ('<META NAME="TDM-Reservation" CONTENT="0">', "conflicting"),
        ('<meta content="0" name="tdm-reservation">', "conflicting"),
        ('<meta name="tdm-reservation" content="0" />', "conflicting"),
        ('<meta name="tdm-reservation" content="0"/>', "conflicting"),
        ("<meta name=tdm-reservation content=0/>", "conflicting"),
        ('<meta\n  name="tdm-reservation"\n  content="0"\n>', "conflicting"),
        ('<meta name=" tdm-reservation " content="0">', "conflicting"),
        ('<meta name="tdm&#45;reservation" content="0">', "conflicting"),
        ('<meta name="tdm-reservation">', "conflicting"),
        ('<meta name="tdm-reservation" content="0" charset="utf-8">', "conflicting"),
        ('<meta name="tdm-reservation" content="yes">', "conflicting"),
        ('<meta name="tdm-reservation" content="1">', "duplicate"),
        ('<meta name="tdm-reservation" name="x" content="1" content="0">', "duplicate"),
        ('<meta name="tdm-policy" content="https://other.example/open.json">', "conflicting"),
        (f'<meta name="tdm-policy" content="{POLICY}">', "duplicate"),
    ],
)
def test_upstream_tdm_meta_is_replaced(upstream: str, kind: str) -> None:
    page = f"<html><head><title>t</title>\n{upstream}\n</head><body>x</body></html>"
    out, result = run(page)
    assert out == f"<html><head>{BLOCK}<title>t</title>\n\n</head><body>x</body></html>"
    assert result.changed
    assert len(result.notes) == 1
    assert result.notes[0].startswith(f"removed {kind} upstream tdm-")
    assert_reserved(out)


def test_every_upstream_tdm_meta_in_the_head_is_removed() -> None:
    page = (
        '<meta name="tdm-reservation" content="0"><html><head>'
        '<meta name="tdm-policy" content="a"><meta name="tdm-reservation" content="0">'
        "</head><body></body></html>"
    )
    out, result = run(page)
    assert out == f"<html><head>{BLOCK}</head><body></body></html>"
    assert len(result.notes) == 3


@pytest.mark.parametrize(
    "page",
    [
        '<head><!-- <meta name="tdm-reservation" content="0"> --></head>',
        '<head><script>x = \'<meta name="tdm-reservation" content="0">\'</script></head>',
        '<head><style>/* <meta name="tdm-reservation" content="0"> */</style></head>',
        '<head><title><meta name="tdm-reservation" content="0"></title></head>',
        # A tdm meta after </head> is removed since issue 20: test_htmlmeta_late.py.
        '<head><link data-x=\'<meta name="tdm-reservation" content="0">\'></head>',
    ],
)
def test_tdm_text_outside_head_tags_is_left_alone(page: str) -> None:
    out, result = run(page)
    assert out == page.replace("<head>", "<head>" + BLOCK, 1)
    assert result.notes == ()


def test_long_upstream_values_are_shortened_in_the_note() -> None:
    policy = "https://other.example/" + "p" * 100
    _, result = run(f'<head><meta name="tdm-policy" content="{policy}">')
    assert result.notes == (
        f"removed conflicting upstream tdm-policy meta (content={policy[:77] + '...'!r})",
    )


def test_no_tdm_reservation_leaves_tdm_tags_alone() -> None:
    tags = MetaTags(None, POLICY, ("noai",), None)
    page = '<head><meta name="tdm-reservation" content="0"><meta name="tdm-policy" content="a">'
    out, _ = run(page, tags)
    assert out == page.replace("<head>", '<head><meta name="robots" content="noai">')


def test_our_reservation_may_be_zero_and_without_policy() -> None:
    tags = MetaTags("0", None, (), None)
    out, _ = run(
        '<head><meta name="tdm-policy" content="a"><meta name=tdm-reservation content=1>', tags
    )
    assert out == '<head><meta name="tdm-reservation" content="0">'
    assert_reserved(out, tags)


# --- robots directives are merged into the first robots meta ----------------------------------


@pytest.mark.parametrize(
    ("upstream", "merged"),
    [
        (
            '<meta name="robots" content="max-image-preview:large">',
            '<meta name="robots" content="max-image-preview:large, noai, noimageai">',
        ),
        ('<meta name="robots" content="noai">', '<meta name="robots" content="noai, noimageai">'),
        (
            '<meta name="robots" content="NoImageAI">',
            '<meta name="robots" content="NoImageAI, noai">',
        ),
        (
            "<META NAME=ROBOTS CONTENT=index,follow>",
            '<META NAME=ROBOTS CONTENT="index,follow, noai, noimageai">',
        ),
        (
            "<meta name='robots' content='x\"y' />",
            "<meta name='robots' content=\"x&quot;y, noai, noimageai\" />",
        ),
        (
            '<meta content="noindex, " name="Robots">',
            '<meta content="noindex, noai, noimageai" name="Robots">',
        ),
        ('<meta name="robots" content="">', '<meta name="robots" content="noai, noimageai">'),
        ('<meta name="robots">', '<meta content="noai, noimageai" name="robots">'),
        ('<meta name="robots" content>', '<meta content="noai, noimageai" name="robots" content>'),
    ],
)
def test_robots_meta_is_merged(upstream: str, merged: str) -> None:
    out, result = run(f"<head>\n{upstream}\n</head>")
    assert out == f"<head>{BLOCK_NO_ROBOTS}\n{merged}\n</head>"
    assert result.notes[0].startswith("merged ")
    assert_reserved(out)


@pytest.mark.parametrize(
    "upstream",
    [
        '<meta name="robots" content="noai, noimageai">',
        '<meta name="robots" content=" NOAI ,NoImageAI, noindex">',
        '<meta name="robots" content="noai"><meta name="robots" content="noimageai">',
    ],
)
def test_robots_meta_with_our_directives_is_kept(upstream: str) -> None:
    out, result = run(f"<head>{upstream}</head>")
    assert out == f"<head>{BLOCK_NO_ROBOTS}{upstream}</head>"
    assert result.notes == ()


def test_complete_robots_meta_and_no_other_tags_leave_the_page_unchanged() -> None:
    body = b'<head><meta name="robots" content="noai, noimageai"></head>'
    result = inject(body, "utf-8", MetaTags(None, None, ("noai", "noimageai"), None))
    assert result == Injected(body, False, ())
    assert result.body is body


def test_unterminated_robots_meta_at_the_end_of_the_page() -> None:
    out, _ = run('<head><meta name="robots" content="noindex')
    assert out == f'<head>{BLOCK_NO_ROBOTS}<meta name="robots" content="noindex, noai, noimageai"'


def test_several_robots_metas_merge_into_the_first() -> None:
    page = '<head><meta name="robots" content="noindex"><meta name="robots" content="noai"></head>'
    out, _ = run(page)
    first = '<meta name="robots" content="noindex, noimageai">'
    assert out == f'<head>{BLOCK_NO_ROBOTS}{first}<meta name="robots" content="noai"></head>'


def test_other_robots_names_are_left_alone() -> None:
    page = '<head><meta name="googlebot" content="noindex"><meta name="robots-x" content="a">'
    out, _ = run(page)
    assert out == page.replace("<head>", "<head>" + BLOCK)


def test_our_directives_are_not_duplicated() -> None:
    out, _ = run("<head>", MetaTags(None, None, ("noai", "NOAI", "noimageai"), None))
    assert out == '<head><meta name="robots" content="noai, noimageai">'
    out, _ = run(
        '<head><meta name="robots" content="x">', MetaTags(None, None, ("noai", "NOAI"), None)
    )
    assert out == '<head><meta name="robots" content="x, noai">'


# --- where our tags go ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        ("<html><head><title>t</title></head>", "<html><head>{B}<title>t</title></head>"),
        ('<head profile="x"><title>t</title>', '<head profile="x">{B}<title>t</title>'),
        ("<HTML><HEAD><TITLE>t</TITLE></HEAD>", "<HTML><HEAD>{B}<TITLE>t</TITLE></HEAD>"),
        ("<Html><Head >\n<title>t</title>", "<Html><Head >{B}\n<title>t</title>"),
        (
            '<html lang="en"><title>t</title><body>',
            '<html lang="en"><head>{B}<title>t</title><body>',
        ),
        ("<!DOCTYPE html><html><body><head>", "<!DOCTYPE html><html><head>{B}<body><head>"),
        ("<html><body><header>x</header>", "<html><head>{B}<body><header>x</header>"),
        ("<!DOCTYPE html>\n<p>x</p>", "<!DOCTYPE html>{B}\n<p>x</p>"),
        ("<!doctype html><!-- c --><p>x", "<!doctype html>{B}<!-- c --><p>x"),
        ('<?xml version="1.0"?>\n<p>x</p>', '<?xml version="1.0"?>{B}\n<p>x</p>'),
        ("<p>fragment</p>", "{B}<p>fragment</p>"),
        ("just text", "{B}just text"),
        ("\ufeff<p>x</p>", "\ufeff{B}<p>x</p>"),
        ("<p>x</p><!DOCTYPE html>", "{B}<p>x</p><!DOCTYPE html>"),
        ("<!-- <head> --><html><head>", "<!-- <head> --><html><head>{B}"),
        ("<!--><head>--><html><head>", "<!--><head>{B}--><html><head>"),
        ("<!---><head>", "<!---><head>{B}"),
        ("<!-- <head> unterminated", "{B}<!-- <head> unterminated"),
        ("<script>'<head>'</script><head>", "<script>'<head>'</script><head>{B}"),
        ("<script><head>", "{B}<script><head>"),
        ('<html><a b="<head>"><head>', '<html><a b="<head>"><head>{B}'),
        ("<html><head/>x", "<html><head/>{B}x"),
        ("<head><head>", "<head>{B}<head>"),
        ("</head><head>", "{B}</head><head>"),
        ('<head>\n<meta charset="utf-8">\n<x>', '<head>\n<meta charset="utf-8">{B}\n<x>'),
        (
            '<head><meta http-equiv="Content-Type" content="text/html; charset=utf-8">',
            '<head><meta http-equiv="Content-Type" content="text/html; charset=utf-8">{B}',
        ),
        ('<html><meta charset="utf-8"><title>', '<html><meta charset="utf-8">{B}<title>'),
        ('<meta charset="utf-8"><html><head>', '<meta charset="utf-8"><html><head>{B}'),
    ],
)
def test_insertion_point(page: str, expected: str) -> None:
    out, _ = run(page)
    assert out == expected.replace("{B}", BLOCK)


def test_head_after_the_scan_limit_is_not_found() -> None:
    page = "<!DOCTYPE html><div>" + "x" * 70_000 + "<head>"
    out, _ = run(page)
    assert out == page.replace("<!DOCTYPE html>", "<!DOCTYPE html>" + BLOCK)


def test_missing_head_is_noted() -> None:
    _, result = run("<html><body>")
    assert result.notes == ("page has no <head>: inserted one after <html>",)


# --- charsets ---------------------------------------------------------------------------------

LATIN1_PAGE = '<html><head><meta charset="iso-8859-1"><title>Café</title></head><body>é</body>'


@pytest.mark.parametrize(
    ("page", "encoding", "header"),
    [
        ("<head><title>Tromsø</title></head><body>é ℗ 日本</body>", "utf-8", "utf-8"),
        ("<head><title>Tromsø</title></head><body>é ℗ 日本</body>", "utf-8", None),
        ("<head><title>Tromsø</title></head><body>é</body>", "utf-8", '"UTF-8"'),
        (LATIN1_PAGE, "iso-8859-1", None),
        (
            LATIN1_PAGE.replace(
                "charset=", 'http-equiv="Content-Type" content="text/html; charset='
            ),
            "iso-8859-1",
            None,
        ),
        ("<head><title>Музыка</title></head><body>Привет</body>", "windows-1251", "windows-1251"),
        (
            '<meta charset="shift_jis"><head><title>音楽</title></head><body>ソ表</body>',
            "shift_jis",
            None,
        ),
        ("<head><title>音楽</title></head><body>ソ表</body>", "shift_jis", "Shift_JIS"),
        ("<head><title>Café</title></head>", "utf-16-le", "utf-16"),
        ('<meta charset="utf-16"><head></head>', "utf-8", None),
    ],
)
def test_charset_is_respected(page: str, encoding: str, header: str | None) -> None:
    bom = codecs.BOM_UTF16_LE if encoding == "utf-16-le" else b""
    body = bom + page.encode(encoding)
    result = inject(body, header, TAGS)
    out = result.body[len(bom) :].decode(encoding)
    assert out.replace(BLOCK, "", 1) == page
    assert result.body.startswith(bom)
    assert_reserved(out)


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
def test_bom_decides_the_charset(encoding: str) -> None:
    body = "\ufeff<html><head><title>Café</title></head>".encode(encoding)
    result = inject(body, "iso-8859-1", TAGS)  # a BOM wins over the header, as in browsers
    assert result.body.decode(encoding) == f"\ufeff<html><head>{BLOCK}<title>Café</title></head>"


def test_utf8_bom_is_kept_before_our_tags() -> None:
    result = inject(codecs.BOM_UTF8 + b"<p>x", None, TAGS)
    assert result.body == codecs.BOM_UTF8 + BLOCK.encode() + b"<p>x"


def test_invalid_bytes_survive_unchanged() -> None:
    body = b"<html><head><title>bad \xff\xfe</title></head><body>\xc3\x28 \x80 ok</body></html>"
    result = inject(body, "utf-8", TAGS)
    assert result.body == body.replace(b"<head>", b"<head>" + BLOCK.encode())


def test_non_ascii_urls_become_character_references() -> None:
    tags = MetaTags(
        "1", "https://label.example/pölicy?a=1&b=2", (), "https://label.example/lizenz-ü"
    )
    result = inject("<head><title>é</title>".encode("iso-8859-1"), "iso-8859-1", tags)
    inserted = result.body.split(b"<title>")[0]
    assert inserted.isascii()
    assert b'content="https://label.example/p&#246;licy?a=1&amp;b=2"' in inserted
    assert_reserved(result.body.decode("iso-8859-1"), tags)


@pytest.mark.parametrize(
    ("body", "charset", "note"),
    [
        (b"<head>", "x-no-such-charset", "unknown charset 'x-no-such-charset'"),
        (b"<head>", "utf-16", "unknown charset 'utf-16'"),  # no BOM: byte order unknown
        (b'<meta charset="klingon"><head>', None, "unknown charset 'klingon'"),
        (b"<head>", "base64", "cannot decode as base64"),
        (b"<head>", "rot13", "cannot decode as rot13"),
        (b"<head>\x00", "undefined", "cannot decode as undefined"),
        (b"<head>\\x41", "unicode_escape", "unicode_escape does not round-trip"),
        (b"\xff\xfe<\x00h\x00\x00\xd8", None, "cannot decode as utf-16-le"),  # lone surrogate
        (b"<head>\x1b$B", "iso-2022-jp", "iso-2022-jp does not round-trip"),
    ],
)
def test_pages_we_cannot_read_are_left_unchanged(
    body: bytes, charset: str | None, note: str
) -> None:
    result = inject(body, charset, TAGS)
    assert result.body is body
    assert not result.changed
    assert len(result.notes) == 1
    assert result.notes[0].startswith(note)
    assert result.notes[0].endswith("page left unchanged")


# --- nothing to do ----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["yes", "2", "", " 1"])
def test_tdm_reservation_must_be_one_or_zero(value: str) -> None:
    with pytest.raises(ValueError, match=f"MetaTags.tdm_reservation is {value!r}"):
        MetaTags(value, None, (), None)


def test_nothing_to_inject_returns_the_body_itself() -> None:
    body = b'<head><meta name="tdm-reservation" content="0">'
    result = inject(body, "utf-8", MetaTags(None, POLICY, (), None))
    assert result == Injected(body, False, ())
    assert result.body is body


@pytest.mark.parametrize("body", [b"", b" \r\n\t"])
def test_empty_body_is_left_unchanged(body: bytes) -> None:
    assert inject(body, "utf-8", TAGS) == Injected(
        body, False, ("empty body: no meta tags inserted",)
    )


def test_only_the_tags_asked_for_are_inserted() -> None:
    out, _ = run("<head>", MetaTags(None, None, (), LICENCE))
    assert out == f"<head>{LINK}"
    out, _ = run("<head>", MetaTags("1", None, (), None))
    assert out == f"<head>{TDM}"


# --- realistic pages --------------------------------------------------------------------------

# file, header charset, file encoding, where our tags go, [(upstream tag, corrected tag)]
FIXTURES = [
    (
        "wordpress.html",
        "utf-8",
        "utf-8",
        '<meta charset="UTF-8" />',
        [
            ('<meta name="tdm-reservation" content="0" />', ""),
            (f'<meta name="tdm-policy" content="{WP}/tdm-open.json" />', ""),
            (f"content='{WP_ROBOTS}'", f'content="{WP_ROBOTS}, noai, noimageai"'),
        ],
    ),
    (
        "bandcamp.html",
        "utf-8",
        "utf-8",
        '<meta http-equiv="Content-Type" content="text/html; charset=UTF-8">',
        [
            ('<META name="TDM-RESERVATION" content="0">', ""),
            ('content="NOIMAGEAI"', 'content="NOIMAGEAI, noai"'),
        ],
    ),
    ("nohead.html", "utf-8", "utf-8", '<html lang="de">', []),
    (
        "malformed.html",
        None,
        "iso-8859-1",
        '<META HTTP-EQUIV="Content-Type" CONTENT="text/html; charset=iso-8859-1">',
        [
            ('<META NAME="tdm-reservation" CONTENT="0"/>', ""),
            ("<meta name=tdm-policy content=https://disques-aurore.example/licence.html>", ""),
            ("CONTENT=NOARCHIVE", 'CONTENT="NOARCHIVE, noai, noimageai"'),
        ],
    ),
]


def check_page(
    page: str, out: str, anchor: str, corrections: list[tuple[str, str]], head: str = ""
) -> None:
    """`out` is `page` with the corrections made and `head` + our tags inserted after `anchor`."""
    expected = page
    for upstream, corrected in corrections:
        assert expected.count(upstream) == 1, upstream
        expected = expected.replace(upstream, corrected)
    has_robots = any("noai" in corrected for _, corrected in corrections)
    block = BLOCK_NO_ROBOTS if has_robots else BLOCK
    assert anchor + head + block in out
    assert out.replace(head + block, "", 1) == expected
    assert_reserved(out)


@pytest.mark.parametrize(("name", "charset", "encoding", "anchor", "corrections"), FIXTURES)
def test_realistic_pages(
    name: str, charset: str | None, encoding: str, anchor: str, corrections: list[tuple[str, str]]
) -> None:
    body = (HTML_DIR / name).read_bytes()
    result = inject(body, charset, TAGS)
    head = "<head>" if name == "nohead.html" else ""  # the page has none: we add one
    check_page(body.decode(encoding), result.body.decode(encoding), anchor, corrections, head)
    assert len(result.notes) == len(corrections) + bool(head)


def demo_pages() -> dict[str, bytes]:
    site = _Site()
    return {**site.pages, "404": site.not_found}


@pytest.mark.parametrize(("path", "body"), demo_pages().items())
def test_demo_site_pages(path: str, body: bytes) -> None:
    result = inject(body, "utf-8", TAGS)
    robots = '<meta name="robots" content="max-image-preview:large">'
    merged = '<meta name="robots" content="max-image-preview:large, noai, noimageai">'
    corrections = [(robots, merged)] if path == "/releases/aurora-ep" else []
    check_page(body.decode(), result.body.decode(), '<meta charset="utf-8">', corrections)


# --- properties -------------------------------------------------------------------------------

_text = st.text(st.characters(exclude_characters="<>&\"'", exclude_categories=["Cs"]), max_size=12)
_value = st.text("abcXYZ019 -:,./é", max_size=12)
_safe_meta = st.builds(
    lambda name, content: f'<meta name="{name}" content="{content}">',
    st.sampled_from(["description", "viewport", "googlebot", "generator", "tdm", "robotsx"]),
    _value,
)
_safe_element = st.one_of(
    _text,
    _safe_meta,
    st.builds(
        lambda t, v: f'<{t} class="{v}">',
        st.sampled_from(["p", "div", "link", "a", "HEADER"]),
        _value,
    ),
    st.sampled_from(["</p>", "</div>", "<br/>", "<title>x</title>", '<meta charset="utf-8">']),
    st.builds(lambda t: f"<!-- {t} <head> -->", _text),
    st.builds(
        lambda t: f"<script>var s = '{t}<head><meta name=tdm-reservation content=0>';</script>",
        _text,
    ),
)
_tdm_meta = st.builds(
    lambda template, value: template.format(value),
    st.sampled_from(
        [
            '<meta name="tdm-reservation" content="{}">',
            "<META NAME=TDM-RESERVATION CONTENT='{}'/>",
            '<meta content="{}" name="tdm-policy">',
            '<meta name="robots" content="{}">',
            "<meta name=Robots content={} />",
        ]
    ),
    st.sampled_from(["0", "1", "noindex", "noai", "", "max-image-preview:large"]),
)


def _document(head: list[str], body: list[str], parts: tuple[bool, bool, bool, str]) -> str:
    doctype, html, head_tag, separator = parts
    return "".join(
        [
            "<!DOCTYPE html>\n" if doctype else "",
            '<html lang="en">' if html else "",
            "<head>" if head_tag else "",
            *head,
            separator if body else "",
            *body,
        ]
    )


_parts = st.tuples(
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.sampled_from(["</head><body>", "<body>", "</head>"]),
)
_plain_documents = st.builds(
    _document, st.lists(_safe_element), st.lists(_safe_element), _parts
).filter(str.strip)  # an empty body is left alone
_documents = st.builds(
    _document, st.lists(st.one_of(_safe_element, _tdm_meta)), st.lists(_safe_element), _parts
).filter(str.strip)
_settings = settings(max_examples=300, deadline=None, database=None, derandomize=True)


_FRAGMENTS = [
    *(b"<", b">", b"'", b'"', b"=", b" ", b"/", b"&", b"-->", b"<!--", b"<!", b"<?", b"</"),
    *(b"<head", b"<HEAD>", b"</head>", b"<html>", b"<body>", b"<!DOCTYPE html>", b"<script>"),
    *(b"</script>", b"<title>", b"<meta", b" name=", b"robots", b"tdm-reservation", b"tdm-policy"),
    *(b" content=", b" charset=", b"shift_jis", b"utf-16", b"\xef\xbb\xbf", b"\xff\xfe", b"\xe9"),
]
_soup = st.lists(st.one_of(st.sampled_from(_FRAGMENTS), st.binary(max_size=4))).map(b"".join)
_charsets = st.sampled_from(
    [None, "utf-8", "UTF-16", "shift_jis", "iso-2022-jp", "x", "hex", "cp500"]
)


@_settings
@given(st.one_of(st.binary(max_size=300), _soup), _charsets)
def test_inject_never_raises(body: bytes, charset: str | None) -> None:
    result = inject(body, charset, TAGS)
    assert result.changed == (result.body != body)


@_settings
@given(_plain_documents)
def test_inserted_tags_are_the_only_change(page: str) -> None:
    out, _ = run(page)
    assert page in (out.replace(BLOCK, "", 1), out.replace("<head>" + BLOCK, "", 1))
    assert_reserved(out)


@_settings
@given(_documents)
def test_exactly_one_reservation_is_seen(page: str) -> None:
    out, _ = run(page)
    assert_reserved(out)
