"""Comment Markdown as a property: whatever a user types, the stored HTML holds only the small
subset's tags and attributes, and links carry rel="nofollow ugc noopener" and no script URL."""

from __future__ import annotations

import lxml.html
from hypothesis import given, settings
from hypothesis import strategies as st

from paperfeed.community import comments

TAGS = {"p", "em", "strong", "code", "pre", "a", "ul", "ol", "li", "blockquote", "br", "hr"}
# Markdown's syntax characters, HTML and URL schemes, over-represented in ordinary text.
PIECES = st.sampled_from(
    ["[", "]", "(", ")", "*", "_", "`", "<", ">", "&", "!", "#", "-", "1.", "\n", "  ", "\\",
     "<script>", "</p>", '<a href="x">', "javascript:alert(1)", "data:text/html,x", "http://a.b",
     "&#x6a;avascript:", "\x00", "\u202e", "<!--", "<img src=x onerror=1>"]
)  # fmt: skip
BODY = st.lists(PIECES | st.text(max_size=8), max_size=60).map("".join)



@settings(max_examples=300, deadline=None, database=None)
@given(body=BODY)
def test_rendered_comments_hold_only_the_subset(body: str) -> None:
    html = comments.render(body)
    if not html.strip():
        return
    root = lxml.html.fragment_fromstring(html, create_parent="div")
    for element in root.iter():
        if element is root or not isinstance(element.tag, str):
            continue
        assert element.tag in TAGS, (element.tag, html)
        allowed = {"a": {"href", "rel"}, "code": {"class"}}.get(element.tag, set())
        assert set(element.attrib) <= allowed, (element.attrib, html)
        if element.tag == "a":
            assert element.get("rel") == "nofollow ugc noopener"
            scheme = element.get("href", "").split(":", 1)[0].strip().lower()
            assert scheme not in {"javascript", "data", "vbscript"}, html
