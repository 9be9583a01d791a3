"""Build the article-extraction corpus: each story wrapped in a news site's furniture.

    python -m bench.article_pages [DIR]      # default tests/data/articles

Writes ``NN-name.html`` (in the story's encoding), ``NN-name.txt`` (the expected article
text, UTF-8, paragraphs separated by blank lines) and ``index.json`` (key phrase, encoding,
title, date and layout of every page). Layouts differ the way real sites do: a wire story
with ``<article>``, a long feature whose key paragraph sits behind asides, an AMP page, div
soup with no ``<article>``, a paywall teaser, a live blog, a 1990s table layout in
ISO-8859-1 with ``<br>`` for paragraphs, a windows-1251 portal, ``<main>`` with an
article body div, a three-paragraph brief drowned in links, a blog with long comments, a
government press release, related links inside the body, and a report with lists. Around
them: navigation, cookie banners, share buttons, related stories, ads, captions, comments,
footers and JSON-LD.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from html import escape
from pathlib import Path

from bench.article_furniture import (
    COOKIES,
    RELATED,
    SECTIONS,
    comments,
    cookie_banner,
    figure,
    footer,
    head,
    inline_ad,
    newsletter,
    paragraphs,
    related,
    share_buttons,
    site_header,
)
from bench.article_texts import Story, stories

DEFAULT_DIR = Path(__file__).resolve().parents[1] / "tests" / "data" / "articles"


def page(story: Story) -> str:
    """The whole HTML page of ``story``."""
    return LAYOUTS[story.layout](story)


def write_corpus(directory: Path) -> list[Story]:
    """Write every page, its expected text and the index; returns the stories written."""
    directory.mkdir(parents=True, exist_ok=True)
    corpus = stories()
    index = {}
    for story in corpus:
        html = page(story).encode(story.encoding)
        (directory / f"{story.slug}.html").write_bytes(html)
        (directory / f"{story.slug}.txt").write_text(story.text + "\n", encoding="utf-8")
        index[story.slug] = {
            "key": story.key,
            "encoding": story.encoding,
            "lang": story.lang,
            "title": story.title,
            "published": story.published,
            "layout": story.layout,
        }
    (directory / "index.json").write_text(
        json.dumps(index, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return corpus


# -- layouts ------------------------------------------------------------------------------


def wire(story: Story) -> str:
    """A wire story on a modern news site; 'READ MORE' links sit between its paragraphs."""
    site = "World Desk"
    body = paragraphs(story)
    body.insert(6, _read_more("Kazakhstan govt resigns amid mass protests over gas price hike"))
    body.append(_read_more("Russia-led bloc to dispatch 'peacekeeping forces' to Kazakhstan"))
    body.insert(10, inline_ad(1))
    return f"""<!DOCTYPE html><html lang="{story.lang}">{head(story, site)}<body>
{cookie_banner()}{site_header(site, SECTIONS)}
<main id="main"><article class="story">
<header class="story-header"><span class="kicker">Kazakhstan</span>
<h1>{escape(story.title)}</h1>
<p class="standfirst">At least eight security forces have been killed and over 300 injured so far
as violent protests resume in Kazakhstan's largest city Almaty.</p>
<div class="byline">By <a href="/staff/desk">World Desk</a> and agencies
<time datetime="{story.published}">6 Jan 2022</time></div>{share_buttons()}</header>
{figure(story.caption, "AA")}
<div class="story-body">{"".join(body)}</div>
<ul class="tags"><li><a href="/tag/kazakhstan">Kazakhstan</a></li>
<li><a href="/tag/protests">Protests</a></li></ul>{share_buttons()}
</article>{related("Related stories", RELATED[:4])}{comments()}</main>
<aside class="most-read">{related("Most read", RELATED[2:])}</aside>
{footer(site)}</body></html>"""


def _read_more(headline: str) -> str:
    link = f'<a href="/news/x">{escape(headline)}</a>'
    return f'<p class="read-more"><strong>READ MORE:</strong> {link}</p>'


def feature(story: Story) -> str:
    """A long read: its tenth paragraph, the one that matters, sits behind four asides."""
    site = "The Northern Ledger"
    body = paragraphs(story)
    body.insert(9, newsletter())
    quote = '"It has been seven weeks. The animals are eating feed we bought for the winter."'
    body.insert(6, f'<blockquote class="pullquote"><p>{escape(quote)}</p></blockquote>')
    body.insert(5, inline_ad(2))
    body.insert(3, related("Read more", RELATED[:3]))
    body.insert(2, figure(story.caption, "Photo: Ledger staff"))
    return f"""<!DOCTYPE html><html lang="en">{head(story, site)}<body class="longform">
{cookie_banner()}{site_header(site, SECTIONS)}
<article class="feature" itemscope itemtype="https://schema.org/NewsArticle">
<div class="feature-hero"><h1 itemprop="headline">{escape(story.title)}</h1>
<p class="dek">A summer without rain, a border that would not reopen, and a province that
stopped listening.</p><p class="byline">By Anna Kerr, Tessaly \u00b7 14 min read</p></div>
{share_buttons()}<div class="feature-body" itemprop="articleBody">{"".join(body)}</div>
<div class="author-bio"><p>Anna Kerr is the Ledger's northern correspondent. She has
covered the province since 2019.</p></div>{share_buttons()}</article>
{related("More long reads", RELATED[1:5])}{comments(3)}{footer(site)}</body></html>"""


def amp(story: Story) -> str:
    """An AMP page: amp-img, amp-ad, amp-social-share, and no ``<article>`` element."""
    site = "Andes Today"
    body = paragraphs(story)
    body.insert(
        3,
        '<amp-ad width="300" height="250" type="doubleclick" data-slot="/1/amp">'
        "<div fallback>Advertisement</div></amp-ad>",
    )
    shares = "".join(
        f'<amp-social-share type="{n}"></amp-social-share>'
        for n in ("facebook", "twitter", "whatsapp", "email")
    )
    extra = (
        '<script async src="https://cdn.ampproject.org/v0.js"></script>'
        "<style amp-boilerplate>body{visibility:hidden}</style>"
        "<style amp-custom>.amp-body p{font-size:18px}</style>"
    )
    items = "".join(f"<li><a href='/amp/{k}'>{h}</a></li>" for k, h in enumerate(RELATED))
    return f"""<!doctype html><html \u26a1 lang="en">{head(story, site, extra=extra)}<body>
<amp-user-notification layout="nodisplay" id="consent"><p>{COOKIES}</p>
<button on="tap:consent.dismiss">I accept</button></amp-user-notification>
<header class="amp-header"><a href="/">{site}</a><button on="tap:sidebar.toggle">Menu</button>
</header><amp-sidebar id="sidebar" layout="nodisplay"><ul>{
        "".join(f"<li><a href='/{s}'>{s}</a></li>" for s in SECTIONS)
    }</ul></amp-sidebar>
<main><div class="amp-headline"><h1>{escape(story.title)}</h1><div class="amp-meta">
Updated <time datetime="{story.published}">24 November 2026</time></div></div>
<figure><amp-img src="/img/ilo.jpg" width="1200" height="675" layout="responsive"></amp-img>
<figcaption>{escape(story.caption)}</figcaption></figure>
<div class="amp-share">{shares}</div>
<div class="amp-body">{"".join(body)}</div>
<amp-accordion><section><h2>More news</h2><ul>{items}</ul></section></amp-accordion>
</main><footer><p>\u00a9 2026 {site}</p><a href="/privacy">Privacy</a>
<a href="/?amp=0">View non-AMP version</a></footer></body></html>"""


def divsoup(story: Story) -> str:
    """A CMS of nested divs: no ``<article>``, no ``<main>``, a sidebar beside the story."""
    site = "County Herald"
    ps = "".join(f'<div class="story-para">{p}</div>' for p in paragraphs(story))
    most = "".join(
        f'<div class="mr-item"><span class="mr-rank">{k + 1}</span><a href="#">{h}</a></div>'
        for k, h in enumerate(RELATED)
    )
    return f"""<!DOCTYPE html><html>{head(story, site)}<body><div id="wrapper">
{cookie_banner()}<div class="container"><div class="row">{site_header(site, SECTIONS)}</div>
<div class="row"><div class="col-md-8"><div class="story-wrap"><div class="story-header">
<div class="headline-wrap"><h1 class="story-headline">{escape(story.title)}</h1></div>
<div class="story-info"><span class="story-date">24 November 2026</span>
<span class="story-author">Health correspondent</span></div></div>{share_buttons()}
<div class="story-body"><div class="story-body__inner"><div class="story-content">{ps}
</div></div></div><div class="story-footer"><div class="topics">Topics: Health, Cybercrime
</div></div></div>{related("You may also like", RELATED[:3])}</div>
<div class="col-md-4 sidebar"><div class="widget"><div class="widget-title">Most read</div>
{most}</div><div class="widget">{inline_ad(3)}</div>{newsletter()}</div></div></div>
{footer(site)}</div></body></html>"""


def paywall(story: Story) -> str:
    """Three paragraphs for free, then the offer that replaces the rest."""
    site = "Harbour Times"
    return f"""<!DOCTYPE html><html lang="en">{head(story, site)}<body>{cookie_banner()}
{site_header(site, SECTIONS)}<main><article class="article article--premium">
<h1>{escape(story.title)}</h1><p class="byline">Freight editor \u00b7 24 Nov 2026</p>
<div class="article-body">{"".join(paragraphs(story))}</div>
<div class="paywall" id="paywall"><h2>Subscribe to continue reading</h2><p>You have read all
your free articles this month. Subscribe today for unlimited access to award-winning
journalism, our apps and the daily edition.</p><ul class="plans"><li>Digital: \u00a31 for the
first 3 months, then \u00a39.99 a month</li><li>Print and digital: \u00a319.99 a month</li></ul>
<a class="btn" href="/subscribe">Subscribe now</a><p>Already a subscriber?
<a href="/login">Log in</a></p></div></article>{related("Latest from Business", RELATED)}
</main>{footer(site)}</body></html>"""


def liveblog(story: Story) -> str:
    """Timestamped posts, newest first, with a 'key events' list repeating their headings."""
    site = "Daily Nation Live"
    posts, heading = [], ""
    for k, block in enumerate(story.blocks):
        if block.startswith("## "):
            heading = block[3:]
            continue
        posts.append(
            f'<div class="live-post" id="post-{k}"><time>{12 - k // 2}:{15 * (k % 4):02d}</time>'
            f"<h2>{escape(heading)}</h2><p>{escape(block)}</p>{share_buttons()}</div>"
        )
    events = "".join(
        f'<li><a href="#post-{k}">{escape(b[3:])}</a></li>'
        for k, b in enumerate(story.blocks)
        if b.startswith("## ")
    )
    return f"""<!DOCTYPE html><html lang="en">{head(story, site)}<body>{cookie_banner()}
{site_header(site, SECTIONS)}<main class="liveblog"><h1>{escape(story.title)}</h1>
<div class="live-badge">LIVE</div><p class="live-summary">Kenyans vote in a general
election. Follow our live coverage.</p><aside class="key-events"><h2>Key events</h2>
<ol>{events}</ol></aside><div class="live-feed">{"".join(posts)}</div>
<button class="load-more">Load earlier posts</button></main>
{related("More on the election", RELATED[:4])}{footer(site)}</body></html>"""


def legacy(story: Story) -> str:
    """A 1990s site: tables, ``<font>``, ``<br><br>`` between paragraphs, ISO-8859-1."""
    site = "Le Courrier du Midi"
    text = "<br><br>\n".join(escape(b) for b in story.blocks)
    nav = "<br>".join(
        f'<a href="/{s}.html"><font color="white">{s}</font></a>'
        for s in (
            "Accueil",
            "R\u00e9gion",
            "France",
            "Monde",
            "Sports",
            "M\u00e9t\u00e9o",
            "Annonces",
            "Archives",
        )
    )
    meta = '<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1">'
    return f"""<HTML><HEAD>{meta}<TITLE>{escape(story.title)} - {site}</TITLE></HEAD>
<BODY BGCOLOR="#FFFFFF"><CENTER><TABLE WIDTH="780" BORDER="0" CELLPADDING="0"><TR>
<TD COLSPAN="2"><IMG SRC="/img/logo.gif" ALT="{site}"><BR><FONT SIZE="1">Mis \u00e0 jour le
24/11/2026</FONT></TD></TR><TR><TD WIDTH="150" BGCOLOR="#003366" VALIGN="top">
<FONT FACE="Arial" SIZE="2">{nav}</FONT></TD><TD VALIGN="top"><FONT FACE="Times" SIZE="5">
<B>{escape(story.title)}</B></FONT><BR><FONT SIZE="2"><I>Par notre correspondant \u00e0
N\u00eemes</I></FONT><BR><BR><FONT FACE="Times" SIZE="3">{text}</FONT><BR><BR>
<HR><FONT SIZE="2"><B>\u00c0 lire aussi :</B><BR><A HREF="/a1.html">Le barrage de
Sainte-C\u00e9cile sous surveillance</A><BR><A HREF="/a2.html">M\u00e9t\u00e9o : les
pr\u00e9visions pour la semaine</A></FONT></TD></TR><TR><TD COLSPAN="2"><CENTER>
<FONT SIZE="1">\u00a9 1998-2026 {site} - Tous droits r\u00e9serv\u00e9s - <A
HREF="/contact.html">Contact</A> - <A HREF="/pub.html">Publicit\u00e9</A></FONT>
</CENTER></TD></TR></TABLE></CENTER></BODY></HTML>"""


def portal(story: Story) -> str:
    """A Russian news portal in windows-1251: the body in an ``itemprop`` div."""
    site = "Новости Севера"
    nav = ("Главная", "Политика", "Экономика", "Общество", "Происшествия", "Спорт", "Погода")
    read_also = (
        "В Якутске ограничили движение по мосту",
        "Синоптики обещают похолодание",
        "Цены на бензин выросли на 3%",
    )
    also = "".join(f'<li><a href="/n/{k}">{h}</a></li>' for k, h in enumerate(read_also))
    remarks = (
        "Каждый год одно и то же, а денег на авиаохрану так и не выделили.",
        "Держитесь, земляки! У нас в Нерюнгри тоже всё в дыму.",
    )
    notes = "".join(f'<div class="comment"><b>Гость</b><p>{r}</p></div>' for r in remarks)
    return f"""<!DOCTYPE html><html lang="ru">{head(story, site)}<body>
<div class="cookie-note">Мы используем файлы cookie. Продолжая пользоваться сайтом, вы
соглашаетесь с этим. <a href="/cookie">Подробнее</a></div>
{site_header(site, nav)}<div class="layout"><div class="news-detail">
<h1>{escape(story.title)}</h1><div class="news-date">24.11.2026, 09:40</div>
<div class="news-text" itemprop="articleBody">{"".join(paragraphs(story))}</div>
<div class="share">Поделиться: <a href="#vk">ВКонтакте</a> <a href="#ok">Одноклассники</a>
<a href="#tg">Telegram</a></div><div class="read-also"><h3>Читайте также</h3><ul>{also}</ul>
</div><div class="comments"><h3>Комментарии (2)</h3>{notes}</div></div>
<div class="right-col">{inline_ad(4)}</div></div><footer>\u00a9 2026 {site}. Все права
защищены. 18+</footer></body></html>"""


def main_layout(story: Story) -> str:
    """A German regional paper: ``<main>``, an article body div, a teaser rail in German."""
    site = "Bodensee Rundschau"
    nav = ("Startseite", "Region", "Politik", "Wirtschaft", "Sport", "Kultur", "Panorama")
    teasers = (
        "Bahnstrecke nach Bregenz wieder frei",
        "Gemeinderat beschließt neues Parkkonzept",
        "Fähre fällt wegen Sturm aus",
    )
    rail = "".join(f'<li><a href="/t/{k}">{t}</a></li>' for k, t in enumerate(teasers))
    return f"""<!DOCTYPE html><html lang="de">{head(story, site)}<body>
<div class="consent-layer"><p>Wir verwenden Cookies und ähnliche Technologien, um Inhalte zu
personalisieren und die Zugriffe zu analysieren. Mit „Alle akzeptieren“ stimmen Sie zu.</p>
<button>Alle akzeptieren</button><button>Einstellungen</button></div>
{site_header(site, nav)}<main><div class="article"><div class="article__head">
<span class="article__kicker">Lindau</span><h1>{escape(story.title)}</h1>
<p class="article__intro">Nach Krawallen greift die Stadt durch.</p>
<span class="article__date">Freitag, 24.11.2026 – 14:32 Uhr</span></div>
<div class="article__body">{"".join(paragraphs(story))}</div>
<div class="article__share">Artikel teilen: <a href="#">Facebook</a> <a href="#">E-Mail</a>
</div></div><aside class="rail"><h2>Mehr aus der Region</h2><ul>{rail}</ul></aside></main>
<footer><a href="/impressum">Impressum</a> <a href="/datenschutz">Datenschutz</a>
<a href="/agb">AGB</a> \u00a9 2026 {site}</footer></body></html>"""


def brief(story: Story) -> str:
    """Three short paragraphs drowned in a mega-menu, trending lists and a video rail."""
    site = "Valley News Now"
    dot = " \u00b7 "
    mega = "".join(
        f'<li><a href="/{s}">{s}</a><ul>'
        + "".join(
            f'<li><a href="/{s}/{k}">{s} {t}</a></li>'
            for k, t in enumerate(("local", "national", "features", "opinion"))
        )
        + "</ul></li>"
        for s in SECTIONS
    )
    videos = "".join(
        f'<div class="video-card"><span class="duration">1:{k}4</span><h3>{h}</h3></div>'
        for k, h in enumerate(RELATED[:4])
    )
    return f"""<!DOCTYPE html><html lang="en">{head(story, site)}<body>{cookie_banner()}
<header><a href="/">{site}</a><nav class="mega"><ul>{mega}</ul></nav></header>
<div class="breaking">BREAKING: Storm warning issued for the northern valley</div>
<div class="trending">Trending: {dot.join(RELATED[:5])}</div>
<main><article><h1>{escape(story.title)}</h1><div class="meta">By Staff \u00b7 Updated
24 Nov 2026</div>{share_buttons()}{"".join(paragraphs(story))}</article>
<section class="video-rail"><h2>Watch: latest videos</h2>{videos}</section>
{related("Top stories", RELATED)}{related("Around the web", RELATED[::-1])}{inline_ad(5)}
</main>{footer(site)}</body></html>"""


def blog(story: Story) -> str:
    """A WordPress post whose comment thread is longer than the post itself."""
    site = "Packets and Tides"
    thread = comments(4) + comments(4).replace('id="comments"', 'id="comments-2"')
    widgets = "".join(f'<li><a href="/20{k + 20}/">{h}</a></li>' for k, h in enumerate(RELATED))
    return f"""<!DOCTYPE html><html lang="en-GB">{head(story, site)}<body class="single-post">
<div id="page"><header id="masthead"><p class="site-title"><a href="/">{site}</a></p>
<p class="site-description">Notes on networks at the edge of the map</p></header>
<div id="content"><div id="primary"><article class="post type-post hentry">
<header class="entry-header"><h1 class="entry-title">{escape(story.title)}</h1>
<span class="posted-on">Posted on 24 November 2026 by kit</span></header>
<div class="entry-content">{"".join(paragraphs(story))}</div>
<footer class="entry-footer">Posted in <a href="/cat/infra">Infrastructure</a> | Tagged
<a href="/tag/cables">cables</a>, <a href="/tag/satellite">satellite</a></footer></article>
<nav class="post-navigation"><a rel="prev" href="/prev">Previous: Measuring the ferry
Wi-Fi</a> <a rel="next" href="/next">Next: A year of outages in one chart</a></nav>
{thread}<div id="respond"><h3>Leave a Reply</h3><p>Your email address will not be
published.</p><textarea></textarea><button>Post Comment</button></div></div>
<div id="secondary" class="widget-area"><section class="widget"><h2>Recent Posts</h2>
<ul>{widgets}</ul></section><section class="widget"><h2>Archives</h2><ul><li>November 2026
</li><li>October 2026</li></ul></section></div></div>
<footer id="colophon">Proudly powered by WordPress</footer></div></body></html>"""


def gov(story: Story) -> str:
    """A council press release: breadcrumbs, a media contact, 'was this page helpful'."""
    site = "City of Marlow"
    crumbs = " &gt; ".join(f'<a href="/{c}">{c}</a>' for c in ("Home", "News", "Press releases"))
    services = (
        "Bins and recycling",
        "Council tax",
        "Parking",
        "Planning",
        "Roads",
        "Schools",
        "Housing",
        "Report a problem",
    )
    links = "".join(f'<li><a href="/{s}">{s}</a></li>' for s in services)
    return f"""<!DOCTYPE html><html lang="en">{head(story, site)}<body>{cookie_banner()}
<header class="gov-header"><a href="/">{site}</a><nav><ul>{links}</ul></nav></header>
<div class="breadcrumb">{crumbs}</div><main id="main-content"><span class="label">Press
release</span><h1>{escape(story.title)}</h1><p class="published">Published 24 November
2026</p>{"".join(paragraphs(story))}<div class="contact"><h2>Media contact</h2><p>
Communications team, 01632 960 123, press@marlow.example</p></div>
<div class="share">Share this page: <a href="#">Facebook</a> <a href="#">X</a></div>
<div class="feedback"><h2>Was this page helpful?</h2><button>Yes</button>
<button>No</button></div></main><footer><ul>{links}</ul><p>\u00a9 {site} Council</p>
</footer></body></html>"""


def inline(story: Story) -> str:
    """A Spanish site with no ``<article>`` whose 'Lee también' links are paragraphs too."""
    site = "Diario del Pacífico"
    also = (
        "Lee también: Guayaquil refuerza la seguridad en los puertos",
        "Lee también: ¿Qué implica un estado de emergencia?",
    )
    ps = paragraphs(story)
    ps.insert(4, f'<p class="lee-tambien"><a href="/a/2">{escape(also[1])}</a></p>')
    ps.insert(2, f'<p class="lee-tambien"><a href="/a/1">{escape(also[0])}</a></p>')
    nav = ("Portada", "Política", "Economía", "Seguridad", "Mundo", "Deportes", "Opinión")
    more = (
        "El FMI aprueba un nuevo desembolso",
        "Lluvias afectan a la provincia de Los Ríos",
        "La selección convoca a tres debutantes",
    )
    extra = "".join(f'<li><a href="/m/{k}">{m}</a></li>' for k, m in enumerate(more))
    return f"""<!DOCTYPE html><html lang="es">{head(story, site)}<body>
<div class="aviso-cookies">Utilizamos cookies propias y de terceros para mejorar nuestros
servicios. Si continúa navegando, consideramos que acepta su uso.</div>
{site_header(site, nav)}<div class="contenedor"><div class="nota"><h1>{escape(story.title)}
</h1><div class="fecha">24 de noviembre de 2026</div><div class="cuerpo">{"".join(ps)}</div>
<div class="compartir">Compartir en <a href="#">Facebook</a> <a href="#">WhatsApp</a></div>
</div><div class="te-puede-interesar"><h3>Te puede interesar</h3><ul>{extra}</ul></div>
</div><footer>\u00a9 2026 {site}. Todos los derechos reservados.</footer></body></html>"""


def sitrep(story: Story) -> str:
    """A humanitarian report: subheadings, a bullet list, a key-figures box, downloads."""
    site = "ReliefNet"
    parts: list[str] = []
    for chunk in paragraphs(story):
        if chunk.startswith("<li>") and not (parts and parts[-1].endswith("</li>")):
            parts.append("<ul>")
        if not chunk.startswith("<li>") and parts and parts[-1].endswith("</li>"):
            parts.append("</ul>")
        parts.append(chunk)
    return f"""<!DOCTYPE html><html lang="en">{head(story, site)}<body>{cookie_banner()}
{site_header(site, ("Updates", "Countries", "Disasters", "Organizations", "Topics", "Jobs"))}
<main><article class="report"><h1>{escape(story.title)}</h1><dl class="report-meta">
<dt>Format</dt><dd>Situation Report</dd><dt>Source</dt><dd>OCHA</dd><dt>Posted</dt>
<dd>20 Nov 2026</dd></dl><div class="key-figures"><h2>Key figures</h2><div>
<span>412</span> cases</div><div><span>9</span> deaths</div><div><span>35k</span> people
reached with water</div></div><div class="report-body">{"".join(parts)}</div>
<div class="attachments"><h2>Attachments</h2><a href="/files/flash3.pdf">Download report
(PDF | 612.4 KB)</a></div></article>{related("Related content", RELATED[:3])}</main>
{footer(site)}</body></html>"""


LAYOUTS: dict[str, Callable[[Story], str]] = {
    "wire": wire,
    "feature": feature,
    "amp": amp,
    "divsoup": divsoup,
    "paywall": paywall,
    "liveblog": liveblog,
    "legacy": legacy,
    "portal": portal,
    "main": main_layout,
    "brief": brief,
    "blog": blog,
    "gov": gov,
    "inline": inline,
    "sitrep": sitrep,
}


def main() -> None:
    directory = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_DIR
    corpus = write_corpus(directory)
    print(f"{len(corpus)} pages written to {directory}")


if __name__ == "__main__":
    main()
