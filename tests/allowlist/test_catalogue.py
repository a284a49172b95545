"""The platform catalogue: complete, sourced, and refusing broken or over-broad data."""

from __future__ import annotations

import re
from datetime import date

import pytest

from allowlist.catalogue import (
    IT_SOURCE,
    CatalogueError,
    PlatformEntry,
    load_catalogue,
    parse_catalogue,
)
from allowlist.categories import Category, Origin
from allowlist.names import normalise_domain
from allowlist.rules import RuleSet

# DESIGN §4: "covering at least Facebook/Messenger, Instagram, X/Twitter, LinkedIn, Flickr,
# Snapchat, TikTok, WhatsApp, Threads, Bluesky, YouTube, Reddit, Telegram, Nextdoor, Mastodon",
# with the suffixes the issue asked for at minimum.
REQUIRED = {
    "facebook": {
        "facebook.com", "fb.com", "fbcdn.net", "messenger.com", "fbsbx.com", "facebook.net",
    },
    "instagram": {"instagram.com", "cdninstagram.com", "ig.me"},
    "x": {"twitter.com", "x.com", "t.co", "twimg.com"},
    "linkedin": {"linkedin.com", "licdn.com", "lnkd.in"},
    "flickr": {"flickr.com", "staticflickr.com", "flic.kr", "flickr.net"},
    "snapchat": {"snapchat.com", "sc-cdn.net", "snapkit.co", "snap-dev.net", "sc-static.net"},
    "tiktok": {
        "tiktok.com", "tiktokcdn.com", "tiktokcdn-eu.com", "tiktokcdn-us.com", "tiktokv.com",
        "byteimg.com", "ibytedtos.com", "musical.ly",
    },
    "whatsapp": {"whatsapp.com", "whatsapp.net", "wa.me"},
    "threads": {"threads.net", "threads.com"},
    "bluesky": {"bsky.app", "bsky.social", "bsky.network"},
    "youtube": {
        "youtube.com", "youtu.be", "ytimg.com", "googlevideo.com", "youtube-nocookie.com",
        "yt3.ggpht.com",
    },
    "reddit": {"reddit.com", "redd.it", "redditmedia.com", "redditstatic.com"},
    "telegram": {"telegram.org", "t.me", "telegram.me", "telesco.pe"},
    "nextdoor": {"nextdoor.com", "nextdoor.co.uk"},
    "mastodon": {"mastodon.social", "mastodon.online", "mstdn.social", "mas.to", "fosstodon.org"},
}

NEVER = {"googleusercontent.com", "akamaihd.net", "cloudfront.net", "ggpht.com", "gstatic.com"}


def test_every_required_platform_is_present_with_a_source() -> None:
    cat = load_catalogue()
    for key, must in REQUIRED.items():
        p = cat.get(key)
        assert p is not None, key
        assert p.name and p.source and p.suffixes
        assert date.fromisoformat(p.checked) <= date.today()
        missing = must - set(p.suffixes)
        assert not missing, f"{key} lacks {sorted(missing)}"


def test_suffixes_are_canonical_unique_and_not_shared_infrastructure() -> None:
    cat = load_catalogue()
    seen: dict[str, str] = {}
    for p in cat:
        for s in p.suffixes:
            assert normalise_domain(s) == s and "." in s
            assert s not in seen, f"{s} under {seen.get(s)} and {p.key}"
            seen[s] = p.key
            assert s not in cat.shared_infrastructure
    assert NEVER <= cat.shared_infrastructure
    assert not NEVER & set(seen)


def test_rules_and_names() -> None:
    cat = load_catalogue()
    rules = cat.rules()
    assert len(rules) == sum(len(p.suffixes) for p in cat)
    assert all(r.category is Category.PLATFORM and r.origin is Origin.CATALOGUE for r in rules)
    assert all(r.platform == r.source and r.platform in cat for r in rules)
    names = cat.names()
    assert names["x"] == "X (Twitter)" and names["facebook"] == "Facebook"
    rs = RuleSet.compile(rules)
    for name, key in [
        ("live.staticflickr.com", "flickr"),
        ("static.xx.fbcdn.net", "facebook"),
        ("yt3.ggpht.com", "youtube"),
        ("lh3.ggpht.com", None),  # Google Play/Blogger images, not YouTube
        ("lh3.googleusercontent.com", None),
        ("d1234.cloudfront.net", None),
        ("files.mastodon.social", "mastodon"),
        ("nottwitter.com", None),
    ]:
        hit = rs.match(name)
        assert (hit.platform if hit else None) == key, name


def test_load_is_cached_and_immutable() -> None:
    assert load_catalogue() is load_catalogue()
    with pytest.raises(AttributeError):
        load_catalogue().platforms = ()  # type: ignore[misc]


# --- broken data files ------------------------------------------------------------------------

GOOD = """
schema = 1
[shared_infrastructure]
never = ["cloudfront.net"]
[[platform]]
key = "instagram"
name = "Instagram"
suffixes = ["instagram.com", "cdninstagram.com"]
source = "somewhere public"
checked = "2026-11-26"
[[platform]]
key = "flickr"
name = "Flickr"
suffixes = ["flickr.com"]
source = "somewhere public"
checked = "2026-11-26"
"""


def test_good_file_parses() -> None:
    cat = parse_catalogue(GOOD)
    assert [p.key for p in cat] == ["instagram", "flickr"] and len(cat) == 2


IG = '"cdninstagram.com"]'
FL = 'suffixes = ["flickr.com"]'
SRC = 'source = "somewhere public"\nchecked = "2026-11-26"\n[[platform]]'
CHK = 'checked = "2026-11-26"\n[[platform]]'


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (IG, '"insta gram.com"]', "platform 'instagram': domain 'insta gram.com'"),
        (IG, '"*.cdninstagram.com"]', "'instagram': domain '*.cdninstagram.com'"),
        (IG, '"https://cdninstagram.com/"]', "looks like a URL"),
        (IG, '"157.240.1.1"]', "IP address"),
        (IG, '"cloudfront.net"]', "'cloudfront.net' is shared infrastructure"),
        (IG, '"com"]', "bare top-level name"),
        (IG, '"Instagram.COM"]', "'Instagram.COM' is already listed under this"),
        (FL, 'suffixes = ["instagram.com"]', "already listed under platform 'instagram'"),
        (FL, "suffixes = []", "platform 'flickr': needs at least one"),
        (FL, 'suffixes = "flickr.com"', "must be a list"),
        ('key = "flickr"', 'key = "Flickr!"', "key 'Flickr!' must be lower-case"),
        ('key = "flickr"', 'key = "instagram"', "key listed twice"),
        ('name = "Flickr"', 'name = ""', "platform 'flickr': 'name' must be non-empty"),
        (SRC, CHK, "platform 'instagram': 'source'"),
        (CHK, 'checked = "last week"\n[[platform]]', "'checked' must be an ISO date"),
        ('name = "Flickr"', 'name = "Flickr"\nsufixes = ["x.com"]', "field(s) ['sufixes']"),
        ("schema = 1", "schema = 2", "schema = 1"),
        ('never = ["cloudfront.net"]', 'never = "cloudfront.net"', "must be a list"),
        ("[[platform]]\nkey", "[[platform]\nkey", "not valid TOML"),
    ],
)
def test_broken_file_names_platform_and_domain(old: str, new: str, message: str) -> None:
    assert old in GOOD
    with pytest.raises(CatalogueError, match=re.escape(message)):
        parse_catalogue(GOOD.replace(old, new, 1))


def test_no_platforms_is_an_error() -> None:
    with pytest.raises(CatalogueError, match="no \\[\\[platform\\]\\]"):
        parse_catalogue("schema = 1\n")


# --- IT's additions ---------------------------------------------------------------------------


def test_it_can_add_a_platform_and_domains() -> None:
    cat = load_catalogue(
        [
            PlatformEntry("local-forum", ("Forum.Example.org",), name="Local forum"),
            {"key": "mastodon", "suffixes": ["mastodon.me.uk"]},
        ]
    )
    assert cat is not load_catalogue()
    forum = cat["local-forum"]
    assert forum.suffixes == ("forum.example.org",) and forum.source == IT_SOURCE
    masto = cat["mastodon"]
    assert masto.suffixes[-1] == "mastodon.me.uk" and masto.added_by_it == {"mastodon.me.uk"}
    assert masto.source == load_catalogue()["mastodon"].source
    rules = {r.domain: r for r in cat.rules()}
    added = rules["mastodon.me.uk"]
    assert added.note == IT_SOURCE and added.platform == "mastodon"
    assert rules["mastodon.social"].note == "Mastodon"
    assert "mastodon.me.uk" not in load_catalogue()["mastodon"].suffixes  # shipped one untouched


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"key": "newthing", "suffixes": ["newthing.example"]}, "needs a display name"),
        ({"key": "x", "suffixes": ["instagram.com"]}, "already listed under platform 'instagram'"),
        ({"key": "x", "suffixes": ["cloudfront.net"]}, "shared infrastructure"),
        ({"key": "x", "suffixes": ["http://x.example/"]}, "extra platform 'x': domain"),
        ({"key": "x", "suffixes": []}, "needs at least one"),
        ({"key": "x", "suffixes": "x.example"}, "must be a list"),
        ({"key": "x", "suffix": ["x.example"]}, "unknown field"),
        ({"key": "Bad Key", "suffixes": ["x.example"], "name": "Bad"}, "must be lower-case"),
        ({"key": 3, "suffixes": ["x.example"]}, "'key' must be text"),
    ],
)
def test_bad_additions_are_refused_clearly(entry: dict[str, object], message: str) -> None:
    with pytest.raises(CatalogueError, match=re.escape(message)):
        load_catalogue([entry])
