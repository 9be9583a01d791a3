"""The furniture of news pages: headers, cookie banners, share buttons, ads, comments, footers."""

from __future__ import annotations

import json
from html import escape

from bench.article_texts import Story

COOKIES = (
    "We use cookies and similar technologies to improve your experience, personalise content "
    "and ads, and analyse our traffic. By clicking \u201cAccept all\u201d, you agree to our use "
    "of cookies. You can change your choice at any time in Cookie settings."
)
RELATED = (
    "Government announces review of fuel subsidies",
    "Analysis: what the protests mean for the region's economy",
    "In pictures: a week of unrest",
    "Opposition leader released after three days in custody",
    "Central bank holds rates as inflation eases",
    "Why food prices keep rising, explained in five charts",
)
SECTIONS = ("World", "Politics", "Business", "Climate", "Science", "Sport", "Opinion", "Video")
ICON = (
    "M18 2h-3a5 5 0 0 0-5 5v3H7v4h3v8h4v-8h3l1-4h-4V7a1 1 0 0 1 1-1h3z "
    "M23 3a10.9 10.9 0 0 1-3.14 1.53 4.48 4.48 0 0 0-7.86 3v1A10.66 10.66 0 0 1 3 4s-4 9 5 13"
)
COMMENTS = (
    (
        "rivermouth",
        "This is what happens when nobody invests in infrastructure for twenty "
        "years. Every government since 2005 has promised reform and delivered nothing at all.",
    ),
    (
        "J. Okafor",
        "Sending thoughts to everyone affected. My cousin lives near there and says "
        "the situation is far worse than what is being reported by the national media.",
    ),
    (
        "northern_light",
        "Can the editors please stop putting every story behind autoplay video? "
        "I just want to read the article without three adverts first.",
    ),
    (
        "Pat M",
        "The real story here is the money. Follow the contracts and see who benefits "
        "from all of this, it is always the same few families in the end.",
    ),
)


def head(story: Story, site: str, charset: bool = True, extra: str = "") -> str:
    meta = f'<meta charset="{story.encoding}">' if charset else ""
    ld = json.dumps(
        {
            "@context": "https://schema.org",
            "@type": "NewsArticle",
            "headline": story.title,
            "datePublished": story.published,
            "dateModified": story.published,
            "author": {"@type": "Person", "name": "Staff reporter"},
            "publisher": {"@type": "Organization", "name": site},
            "description": _first_sentence(story),
        },
        ensure_ascii=False,
    )
    return f"""<head>{meta}
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(story.title)} | {site}</title>
<meta name="description" content="{escape(_first_sentence(story))}">
<meta property="og:title" content="{escape(story.title)}">
<meta property="og:type" content="article">
<meta property="article:published_time" content="{story.published}">
<link rel="stylesheet" href="/static/css/main.4f2a91.css">
<link rel="canonical" href="https://{site.lower().replace(" ", "")}.example/{story.slug}">
<script type="application/ld+json">{ld}</script>
<script>window.dataLayer=window.dataLayer||[];function gtag(){{dataLayer.push(arguments)}}
gtag('js',new Date());gtag('config','G-XXXX',{{'anonymize_ip':true}});</script>
<style>.ad-slot{{min-height:250px}}.cookie-banner{{position:fixed;bottom:0}}</style>
<script id="__APP_STATE__" type="application/json">{app_state(site)}</script>
{extra}</head>"""


def app_state(site: str) -> str:
    """The JSON a site's front-end framework inlines: menus and ad slots, some 15 KB of it."""
    menu = [
        {"id": f"{section}-{k}", "label": f"{section} {k}", "href": f"/{section}/{k}"}
        for section in SECTIONS
        for k in range(12)
    ]
    ads = [
        {"slot": f"/2231/{site}/article/{k}", "sizes": [[300, 250], [728, 90]]} for k in range(40)
    ]
    return json.dumps({"site": site, "menu": menu, "ads": ads, "flags": {"paywall": True}})


def _first_sentence(story: Story) -> str:
    first = next(b for b in story.blocks if not b.startswith(("## ", "* ")))
    return first.split(". ")[0].rstrip(".") + "."


def cookie_banner() -> str:
    return f"""<div class="cookie-banner" id="cookie-consent" role="dialog" aria-label="Cookies">
<p>{COOKIES}</p><button class="btn accept">Accept all</button>
<button class="btn reject">Reject all</button><a href="/cookies">Cookie settings</a></div>"""


def site_header(site: str, sections: tuple[str, ...]) -> str:
    items = "".join(f'<li><a href="/{s.lower()}">{s}</a></li>' for s in sections)
    return f"""<header class="site-header"><a class="skip" href="#main">Skip to content</a>
<a class="logo" href="/">{site}</a><nav class="primary-nav" aria-label="Sections"><ul>{items}
</ul></nav><form class="search" action="/search"><input name="q" placeholder="Search">
<button>Search</button></form><a class="subscribe" href="/subscribe">Subscribe</a>
<a class="login" href="/login">Sign in</a></header>"""


def share_buttons() -> str:
    nets = ("Facebook", "X", "WhatsApp", "LinkedIn", "Email")
    links = "".join(
        f'<li><a href="#share-{n.lower()}"><svg viewBox="0 0 24 24" aria-hidden="true">'
        f'<path d="{ICON}"/></svg><span class="sr-only">Share on {n}</span></a></li>'
        for n in nets
    )
    return f'<div class="share-tools"><span>Share this article</span><ul>{links}</ul>' + (
        '<button class="copy-link">Copy link</button></div>'
    )


def inline_ad(n: int) -> str:
    return f"""<div class="ad-slot ad-inline" id="ad-{n}"><span class="ad-label">Advertisement
</span><script>googletag.cmd.push(function(){{googletag.display('ad-{n}')}});</script>
<p class="ad-fallback">Continue reading below</p></div>"""


def related(title: str, headlines: tuple[str, ...]) -> str:
    items = "".join(
        f'<li><a href="/news/{k}"><h3>{h}</h3><span class="time">{k + 2} hours ago</span></a></li>'
        for k, h in enumerate(headlines)
    )
    return f'<aside class="related"><h2>{title}</h2><ul>{items}</ul></aside>'


def comments(count: int = 4) -> str:
    items = "".join(
        f'<li class="comment"><div class="comment-author">{escape(name)}</div>'
        f'<div class="comment-time">{k + 1} hours ago</div><p>{escape(text)}</p>'
        f'<a class="reply" href="#reply">Reply</a> <span>{3 * k + 1} likes</span></li>'
        for k, (name, text) in enumerate(COMMENTS[:count])
    )
    return f"""<section id="comments" class="comments"><h2>Comments ({count * 11})</h2>
<p class="comments-note">Comments are moderated. Please keep the discussion civil.</p>
<ol class="comment-list">{items}</ol><a href="#more">Show more comments</a></section>"""


def newsletter() -> str:
    return """<div class="newsletter-signup"><h3>The morning briefing</h3><p>Get the day's top
stories in your inbox every weekday at 6am. Free, and you can unsubscribe at any time.</p>
<form><input type="email" placeholder="Your email address"><button>Sign up</button></form>
</div>"""


def footer(site: str) -> str:
    cols = (
        "About us",
        "Contact",
        "Careers",
        "Advertise",
        "Privacy policy",
        "Terms of use",
        "Cookie settings",
        "Accessibility",
        "Corrections",
        "RSS feeds",
    )
    items = "".join(f'<li><a href="/{c.lower().replace(" ", "-")}">{c}</a></li>' for c in cols)
    return f"""<footer class="site-footer"><ul class="footer-links">{items}</ul>
<p class="copyright">\u00a9 2026 {site}. All rights reserved. Reproduction without permission is
prohibited.</p><p class="app">Download our app for iOS and Android</p></footer>
<script src="/static/js/app.b81c2e.js" defer></script>"""


def paragraphs(story: Story, tag: str = "p") -> list[str]:
    out = []
    for block in story.blocks:
        if block.startswith("## "):
            out.append(f"<h2>{escape(block[3:])}</h2>")
        elif block.startswith("* "):
            out.append(f"<li>{escape(block[2:])}</li>")
        else:
            out.append(f"<{tag}>{escape(block)}</{tag}>")
    return out


def figure(caption: str, credit: str = "Reuters") -> str:
    if not caption:
        return ""
    return f"""<figure class="lead-image"><img src="/img/lead.jpg" alt="" width="1200"
height="675"><figcaption>{escape(caption)} <span class="credit">{credit}</span></figcaption>
</figure>"""
