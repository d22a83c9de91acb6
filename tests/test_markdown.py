"""Markdown the Dinas writes (articles, broadcasts) read as each channel shows text: Telegram
gets HTML, WhatsApp *bold* and _italic_, the console plain words; nobody reads a `**`."""

from __future__ import annotations

from flows.render import markdown_html, render, to_plain, to_whatsapp
from tests.factories import make_article
from tests.harness import Harness, register_warga

ARTICLE = """# Persetujuan Bangunan Gedung

PBG **wajib** sebelum membangun, _termasuk_ renovasi besar.

- Gambar rencana
- KTP pemilik & surat tanah

Daftar di [SIMBG](https://simbg.pu.go.id/).
"""


def test_markdown_becomes_the_message_markup() -> None:
    """Headings and bold become <b>, emphasis <i>, links <a href>, list items bullets."""
    html = str(markdown_html(ARTICLE))
    assert html == ("<b>Persetujuan Bangunan Gedung</b>\n\n"
                    "PBG <b>wajib</b> sebelum membangun, <i>termasuk</i> renovasi besar.\n\n"
                    "• Gambar rencana\n• KTP pemilik &amp; surat tanah\n\n"
                    'Daftar di <a href="https://simbg.pu.go.id/">SIMBG</a>.')


def test_each_channel_reads_it_its_own_way() -> None:
    """WhatsApp gets its own marks and the link's address; the console plain text."""
    html = str(markdown_html(ARTICLE))
    assert to_whatsapp(html).startswith("*Persetujuan Bangunan Gedung*\n\nPBG *wajib* "
                                        "sebelum membangun, _termasuk_ renovasi besar.")
    assert "Daftar di SIMBG (https://simbg.pu.go.id/)." in to_whatsapp(html)
    plain = to_plain(html)
    assert "PBG wajib sebelum membangun, termasuk renovasi besar." in plain
    assert "• KTP pemilik & surat tanah" in plain
    for mark in ("**", "<b>", "&amp;", "# ", "[SIMBG]"):
        assert mark not in plain and mark not in to_whatsapp(html), mark


def test_raw_html_and_script_links_in_markdown_stay_harmless() -> None:
    """HTML typed into an article is shown as text; a javascript: link is no link."""
    html = str(markdown_html('<b onclick="x">hai</b> [klik](javascript:alert(1))'))
    assert "<b onclick" not in html and "&lt;b onclick" in html
    assert "<a " not in html


def test_a_template_keeps_rendered_markdown_as_markup() -> None:
    """Passed into a message, the markup is not escaped a second time."""
    text = render("info.article", "id", title="PBG", date="23-11-2026", part=1, parts=1,
                  body=markdown_html("**penting**"))
    assert "<b>penting</b>" in text and "&lt;b&gt;" not in text


async def test_an_article_reads_well_on_every_channel(any_channel: Harness) -> None:
    """The article screen: no Markdown marks on any channel; Telegram's message carries the
    HTML, WhatsApp's the *bold* of WhatsApp."""
    h = any_channel
    await make_article(h, "Persetujuan Bangunan Gedung (PBG)", "perizinan", ARTICLE)
    await register_warga(h, "budi")
    await h.press("budi", "Info jasa konstruksi")
    await h.press("budi", "Perizinan bangunan (1)")
    await h.press("budi", "Persetujuan Bangunan Gedung (PBG)")
    article = h.last("budi")
    assert "**" not in article.text and "[SIMBG]" not in article.text
    assert "PBG wajib sebelum membangun" in to_plain(article.text.replace("*", "")
                                                     .replace("_", ""))
    if h.channel == "telegram":
        assert "PBG <b>wajib</b>" in article.raw.text
        assert '<a href="https://simbg.pu.go.id/">SIMBG</a>' in article.raw.text
    elif h.channel == "whatsapp":
        assert "PBG *wajib* sebelum membangun, _termasuk_ renovasi" in article.text
        assert "SIMBG (https://simbg.pu.go.id/)" in article.text
    else:
        assert "PBG wajib sebelum membangun, termasuk renovasi" in article.text
