# SPDX-License-Identifier: MIT
"""Agreement of facteur's rule hits with SpamAssassin's on the same messages.

facteur's filter (filter/filter_test: the pipeline of smtpd on a file) and
`spamassassin -L -t` (Debian's SpamAssassin 4.0.1, no network, no Bayes)
read the same rules (/usr/share/spamassassin with /etc/spamassassin) and
check the same messages: the samples shipped with SpamAssassin, messages
this test builds (headers, MIME, HTML, URIs, dates, images), the messages
in tests/integration/agreement/ and a slice of /work/shared/corpus.  For each message the rule hits of both are compared,
restricted to the rules facteur can fairly be compared on (filter_test
--list-rules: not the network, not the classifier, not SPF/DKIM/DMARC, not
an eval function it lacks, nor a meta rule using one of those).  The
envelope sender of both is the Return-Path field (SpamAssassin's
`envelope_sender_header Return-Path`, filter_test --return-path).

agreement = hits both report / hits either reports.  The floor and the
per-rule bound below are what was measured, less a margin; the rules that
disagree are printed (pytest -s) with their counts.

The compiled rules are cached in $FACTEUR_TEST_RULES_CACHE, else
$FACTEUR_BUILDDIR/tests/rules-cache: the first run compiles the whole
rule set (about 3 minutes of CPU).
"""
import base64
import collections
import concurrent.futures
import os
import shutil
import struct
import subprocess
import zlib
from email.message import EmailMessage
from email.utils import formatdate

import pytest

from facteur_it import make_workdir

BUILDDIR = os.environ.get("FACTEUR_BUILDDIR", ".")
FILTER_TEST = os.path.join(BUILDDIR, "filter", "filter_test")
SA_RULES = "/usr/share/spamassassin"
SA_CONFIG = "/etc/spamassassin"
CORPUS = "/work/shared/corpus"
SAMPLES = "/usr/share/doc/spamassassin/examples"
# Messages kept as files (Received chains, HTML links ...), each a case
# for the rules that read it.
MESSAGES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "agreement")
# Corpus slice: every STEP-th file of ham/ and spam/ in name order.
HAM_STEP, SPAM_STEP = 66, 10
# Measured floors (see filter/README.md); the margin absorbs nothing but
# rounding: a drop means a regression to look at.
AGREEMENT_FLOOR = 0.9
RULE_DISAGREEMENT_MAX = 6
# Disagreements whose cause is known and outside the evals, counted in the
# agreement but not held to RULE_DISAGREEMENT_MAX; each must still show,
# so that a fix makes this test say to remove it.
KNOWN = set()

pytestmark = pytest.mark.skipif(
    shutil.which("spamassassin") is None or not os.path.isdir(SA_RULES),
    reason="needs Debian's spamassassin and its rules")


def png(width, height):
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))
    raw = b"".join(b"\0" + b"\0" * width * 3 for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" +
            chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def gif(width, height):
    return (b"GIF89a" + struct.pack("<HH", width, height) + b"\x80\0\0" +
            b"\0\0\0\xff\xff\xff" + b",\0\0\0\0" + struct.pack("<HH", width, height) +
            b"\0\x02\x02D\x01\0;")


def base(subject, frm="Alice Example <alice@example.org>", to="bob@example.net",
         date="Tue, 01 Dec 2026 10:00:00 +0000",
         rcvd_date="Tue, 01 Dec 2026 10:00:05 +0000"):
    m = EmailMessage()
    m["Return-Path"] = "<" + frm.split("<")[-1].rstrip(">") + ">" if "<" in frm else "<%s>" % frm
    m["Received"] = ("from mail.example.org (mail.example.org [192.0.2.10]) by "
                     "mx.example.net (Postfix) with ESMTP id 4AB12345; " + rcvd_date)
    m["From"] = frm
    if to:
        m["To"] = to
    m["Subject"] = subject
    m["Date"] = date
    m["Message-ID"] = "<%s@example.org>" % abs(hash(subject))
    return m


def generated():
    """Messages exercising the headers, MIME, HTML and URIs facteur checks."""
    out = {}
    m = base("Lunch tomorrow?")
    m.set_content("Hi Bob,\n\nLunch tomorrow at noon?\nThe usual place.\n\nAlice\n")
    out["plain"] = m
    m = base("no recipients here", to=None)
    m.set_content("A message without To.\n")
    out["no-to"] = m
    m = base("Date far in the past", date="Mon, 01 Jan 2024 10:00:00 +0000")
    m.set_content("Old date, recent Received.\n")
    out["date-past"] = m
    m = base("Date in the future", date="Sun, 06 Dec 2026 10:00:00 +0000")
    m.set_content("Future date.\n")
    out["date-future"] = m
    m = base("FREE MONEY FOR YOU NOW", frm="Winner <winner12@gmail.com>")
    m["Reply-To"] = "claims99@yahoo.com"
    m.set_content("CLICK HERE TO CLAIM YOUR PRIZE NOW!!! " * 12 +
                  "\nVisit http://claims.example.com/win?id=1234 today\n")
    out["freemail-caps"] = m
    m = base("Newsletter", frm="News <news@shop.example.com>")
    m.set_content("Our news in plain text. Visit https://shop.example.com/ for more.\n")
    m.add_alternative(
        "<html><head><title>Newsletter of the shop, with a title much longer than the "
        "subject of the message itself</title></head><body><p>Our <b>news</b> in HTML."
        "</p><a href=\"https://shop.example.com/\">shop</a><!-- saved from url=(0022)"
        "http://internet.e-mail --></body></html>\n", subtype="html")
    out["alternative"] = m
    m = base("HTML only", frm="Promo <promo@deals.example.com>")
    m.set_content("<html><body><center><font size=7>BIG DEAL</font></center>"
                  "<img src=\"http://deals.example.com/x.gif\" width=400 height=300>"
                  "</body></html>\n", subtype="html")
    out["html-only"] = m
    m = base("picture", frm="Carol <carol@example.org>")
    m.set_content("See the picture.\n")
    m.add_attachment(png(300, 200), maintype="image", subtype="png", filename="a.png")
    m.add_attachment(gif(500, 400), maintype="image", subtype="gif", filename="b.gif")
    out["images"] = m
    m = base("base64 text")
    m.set_content("Plain text sent as base64 for no reason.\n" * 3, cte="base64")
    out["b64-text"] = m
    m = base("quoted printable", frm="Dan <dan@example.org>")
    m.set_content("caf\u00e9 na\u00efve " * 30 + "\n", cte="quoted-printable")
    out["qp"] = m
    m = base("Many recipients",
             to=", ".join("user%02d@example%d.net" % (i, i % 3) for i in range(9)))
    m.set_content("To many people, sorted.\n")
    out["recipients"] = m
    m = base("bob, your account", frm="Bank <security@bank.example>")
    m.set_content("Dear bob,\nverify your account at http://192.0.2.55/login now.\n")
    out["to-in-subject"] = m
    m = base("attachment", frm="Eve <eve@example.org>")
    m.set_content("see attached\n")
    m.add_attachment(b"MZ" + b"\0" * 200, maintype="application",
                     subtype="octet-stream", filename="x.exe")
    out["attachment"] = m
    # FreeMail's body addresses: an <a href="mailto:..."> the text does
    # not show counts, one before "wrote:" or in a URL does not.
    m = base("your order", frm="Shop Desk <shopdesk77@msn.com>")
    m["Reply-To"] = "shopdesk77@msn.com"
    m.set_content("<html><body><p>Questions? <a href=\"mailto:orders.desk@yahoo.com?"
                  "Subject=Order%20help\">Write to us</a></p></body></html>\n",
                  subtype="html")
    out["freemail-mailto"] = m
    m = base("Re: lunch", frm="Carol <carol.lunch@gmail.com>")
    m.set_content("Sure.\n\nOn Monday, dave.lunch@yahoo.com wrote:\n> lunch?\n"
                  "See http://example.com/u?who=erin.lunch@hotmail.com\n")
    out["freemail-wrote"] = m
    # The recipient's domain and user in the envelope sender (RATWARE_EFROM,
    # a pattern quoting them), and the user as the Subject (LOCALPART_IN_SUBJECT).
    m = base("bob", to="Bob <Bob@mail.Example.net>")
    del m["Return-Path"]
    m["Return-Path"] = "<EXAMPLE.net+bob@bulk.example.org>"
    m.set_content("Offer inside.\n")
    out["ratware-efrom"] = m
    out = {k: v.as_bytes() for k, v in out.items()}
    # UTF-8 labelled ISO-8859-1: SpamAssassin reads the text as UTF-8
    out["utf8-labelled-latin1"] = (
        "From: Alice <alice@example.org>\nTo: bob@example.net\nSubject: menu\n"
        "Date: Tue, 01 Dec 2026 10:00:00 +0000\nMessage-ID: <l1@example.org>\n"
        "MIME-Version: 1.0\nContent-Type: text/plain; charset=iso-8859-1\n"
        "Content-Transfer-Encoding: 8bit\n\nCaf\u00e9 cr\u00e8me \u2013 d\u00e9j\u00e0 "
        "servi, \u201cd\u00e9licieux\u201d.\n").encode("utf-8")
    return out


def strip_mbox(data):
    if data.startswith(b"From "):
        data = data.split(b"\n", 1)[1] if b"\n" in data else b""
    return data


def corpus_slice():
    files = []
    for label, step in (("ham", HAM_STEP), ("spam", SPAM_STEP)):
        d = os.path.join(CORPUS, label)
        if not os.path.isdir(d):
            continue
        names = sorted(os.listdir(d))
        files += [(label + "-" + n.split(".")[0] + "." + n.split(".")[1], os.path.join(d, n))
                  for n in names[::step]]
    return files


def spamassassin_tests(path, prefs):
    """The rule names SpamAssassin reports for the message in path."""
    with open(path, "rb") as f:
        r = subprocess.run(
            ["timeout", "120", "spamassassin", "-L", "-t", "--prefspath=" + prefs,
             "--cf=use_bayes 0", "--cf=envelope_sender_header Return-Path",
             "--cf=add_header all Tests _TESTS(,)_"],
            stdin=f, capture_output=True, check=False)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    headers = r.stdout.split(b"\n\n", 1)[0].decode("latin-1")
    value, inside = "", False
    for line in headers.split("\n"):
        if line.startswith("X-Spam-Tests:"):
            value, inside = line[len("X-Spam-Tests:"):], True
        elif inside and line[:1] in (" ", "\t"):
            value += line
        else:
            inside = False
    names = {t.strip() for t in value.replace("\n", "").split(",")}
    return {n for n in names if n and n != "none"}


@pytest.fixture(scope="module")
def setup():
    work = make_workdir("agreement-")
    cache = os.environ.get("FACTEUR_TEST_RULES_CACHE",
                           os.path.join(os.path.abspath(BUILDDIR), "tests", "rules-cache"))
    os.makedirs(cache, exist_ok=True)
    conf = os.path.join(work, "facteur.conf")
    with open(conf, "w") as f:
        f.write("spool_directory = %s\nfilter_rules = %s\nfilter_rules_config = %s\n"
                "filter_rules_cache = %s\nspf_enable = no\ndkim_verify = no\n"
                "dmarc_enable = no\nav_enable = no\nbayes_enable = no\n"
                % (os.path.join(work, "spool"), SA_RULES, SA_CONFIG, cache))
    prefs = os.path.join(work, "user_prefs")
    open(prefs, "w").close()
    msgdir = os.path.join(work, "msgs")
    os.makedirs(msgdir)
    messages = {}
    for name in ("sample-spam.txt", "sample-nonspam.txt"):
        p = os.path.join(SAMPLES, name)
        if os.path.exists(p):
            with open(p, "rb") as f:
                messages["sa-" + name] = f.read()
    for name, data in generated().items():
        messages["gen-" + name] = data
    for name in sorted(os.listdir(MESSAGES)):
        with open(os.path.join(MESSAGES, name), "rb") as f:
            messages["file-" + name.rsplit(".", 1)[0]] = f.read()
    for name, path in corpus_slice():
        with open(path, "rb") as f:
            messages[name] = f.read()
    paths = {}
    for name, data in messages.items():
        p = os.path.join(msgdir, name + ".eml")
        with open(p, "wb") as f:
            f.write(strip_mbox(data))
        paths[name] = p
    yield {"conf": conf, "prefs": prefs, "paths": paths}
    shutil.rmtree(work, ignore_errors=True)


def facteur_hits(conf, paths):
    r = subprocess.run(["timeout", "1800", FILTER_TEST, "-c", conf, "--return-path"] +
                       list(paths), capture_output=True, check=False)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    hits, cur = {}, None
    for line in r.stdout.decode().splitlines():
        if line.startswith("file "):
            cur = line[5:]
            hits[cur] = set()
        elif line.startswith("score "):
            continue
        elif cur is not None:
            hits[cur].add(line.split()[0])
    return hits


def comparable_rules(conf):
    r = subprocess.run(["timeout", "600", FILTER_TEST, "-c", conf, "--list-rules"],
                       capture_output=True, check=True)
    yes, no = set(), set()
    for line in r.stdout.decode().splitlines():
        parts = line.split()
        (yes if parts[1] == "yes" else no).add(parts[0])
    return yes, no


# Which MIME parts each kind of rule reads: body rules the text of
# text/plain, text/html and parts named *.html (rendered as HTML, whatever
# their type); rawbody rules the decoded bytes of text/ parts but
# text/calendar, of parts named *.html and of message/ leaves; neither
# reads an image.  One word per part, one rule per word and kind; the
# HTML evals read the parts named *.html too.
PART_RULES = """
body     T_PS_BODY_PLAIN     /plainword/
body     T_PS_BODY_HTMLNAME  /htmlattachmentword/
rawbody  T_PS_RAW_HTMLNAME   /<b>htmlattachmentword/
body     T_PS_BODY_TAGS      /<[bp]>/
body     T_PS_BODY_CAL       /calendarword/
rawbody  T_PS_RAW_CAL        /calendarword/
body     T_PS_BODY_VCARD     /vcardword/
rawbody  T_PS_RAW_VCARD      /vcardword/
body     T_PS_BODY_IMG       /imagebytesword/
rawbody  T_PS_RAW_IMG        /imagebytesword/
body     T_PS_BODY_DSN       /dsnword/
rawbody  T_PS_RAW_DSN        /dsnword/
body     T_PS_HTML_MESSAGE   eval:html_test('html')
body     T_PS_HTML_BOLD      eval:html_tag_exists('b')
"""


def part_messages():
    gif_bytes = base64.b64encode(b"GIF89a\x01\x00\x01\x00imagebytesword\x00\x00").decode()
    page = base64.b64encode(b"<html><body><b>htmlattachmentword</b></body></html>\n").decode()
    head = ("From: a@example.org\nTo: b@example.net\nSubject: parts\n"
            "Date: Wed, 02 Dec 2026 10:00:00 +0000\nMessage-ID: <%d@example.org>\n"
            "MIME-Version: 1.0\n")
    mixed = head % 1 + (
        "Content-Type: multipart/mixed; boundary=\"b1\"\n\n"
        "--b1\nContent-Type: text/plain; charset=us-ascii\n\nplainword here\n"
        "--b1\nContent-Type: application/octet-stream\n"
        "Content-Disposition: attachment; filename=\"page.html\"\n"
        "Content-Transfer-Encoding: base64\n\n" + page + "\n"
        "--b1\nContent-Type: text/calendar; charset=us-ascii\n\n"
        "BEGIN:VCALENDAR\nSUMMARY:calendarword\nEND:VCALENDAR\n"
        "--b1\nContent-Type: text/x-vcard; charset=us-ascii\n\n"
        "BEGIN:VCARD\nFN:vcardword\nEND:VCARD\n"
        "--b1\nContent-Type: image/gif; name=\"i.gif\"\n"
        "Content-Transfer-Encoding: base64\n\n" + gif_bytes + "\n"
        "--b1\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; mx.example.org\n\n"
        "Final-Recipient: rfc822; dsnword@example.net\nAction: failed\n"
        "--b1--\n")
    named = head % 2 + (
        "Content-Type: text/plain; charset=utf-8; name=\"NOTES.SHTM\"\n\n"
        "<p><b>htmlattachmentword</b> and <i>plainword</i></p>\n")
    return {"mixed": mixed.encode(), "named": named.encode()}


def custom_rule_hits(prefix, rules_text, messages):
    """{name: (SpamAssassin's hits, facteur's)} of the rules named prefix*
    in rules_text (with Debian's plugins and TLD list) on each message."""
    work = make_workdir("agreement-custom-")
    rules, site = os.path.join(work, "rules"), os.path.join(work, "site")
    os.makedirs(rules)
    os.makedirs(site)
    with open(os.path.join(rules, "10_custom.cf"), "w") as f:
        f.write(rules_text)
    # SpamAssassin needs its plugins (.pre) and its list of TLDs.
    shutil.copy(os.path.join(SA_RULES, "20_aux_tlds.cf"), rules)
    for name in os.listdir(SA_CONFIG):
        if name.endswith(".pre"):
            shutil.copy(os.path.join(SA_CONFIG, name), site)
    conf = os.path.join(work, "facteur.conf")
    with open(conf, "w") as f:
        f.write("spool_directory = %s\nfilter_rules = %s\nfilter_rules_config = %s\n"
                "filter_rules_cache = %s\nspf_enable = no\ndkim_verify = no\n"
                "dmarc_enable = no\nav_enable = no\nbayes_enable = no\n"
                % (os.path.join(work, "spool"), rules, site, os.path.join(work, "cache")))
    prefs = os.path.join(work, "user_prefs")
    open(prefs, "w").close()
    paths = {}
    for name, data in messages.items():
        p = os.path.join(work, name + ".eml")
        with open(p, "wb") as f:
            f.write(data)
        paths[name] = p
    ours = facteur_hits(conf, paths.values())
    out = {}
    for name, p in paths.items():
        with open(p, "rb") as f:
            r = subprocess.run(
                ["timeout", "120", "spamassassin", "-L", "-t", "-C", rules,
                 "--siteconfigpath=" + site, "--prefspath=" + prefs,
                 "--cf=add_header all Tests _TESTS(,)_"],
                stdin=f, capture_output=True, check=False)
        assert r.returncode == 0, r.stderr.decode(errors="replace")
        headers = r.stdout.split(b"\n\n", 1)[0].decode().replace("\n\t", "")
        line = [h for h in headers.split("\n") if h.startswith("X-Spam-Tests:")][0]
        theirs = {t.strip() for t in line[len("X-Spam-Tests:"):].split(",")} - {"none"}
        mine = {t for t in ours[p] if t.startswith(prefix)}
        print("%s: SpamAssassin %s, facteur %s" % (name, sorted(theirs), sorted(mine)))
        out[name] = (theirs, mine)
    shutil.rmtree(work, ignore_errors=True)
    return out


def test_rule_kinds_read_the_parts_spamassassin_reads():
    for name, (theirs, mine) in custom_rule_hits("T_PS_", PART_RULES,
                                                 part_messages()).items():
        assert "T_PS_BODY_HTMLNAME" in theirs, "SpamAssassin did not read the page"
        assert mine == theirs, name


# HTML.pm's text_style: the colours, sizes and visibility of the text as
# the elements set them (font, body text=, style= on span/div/p/a/table/
# td/tr, big/small, basefont), close_tag and close_table_tag popping them,
# and name_to_rgb's reading of colours (names, #hex flex, rgb() in
# numbers and percents, no '#': invalid).  Each message is one HTML part;
# STYLE_HITS is what SpamAssassin says of each, so the messages are known
# to exercise what they are meant to.
STYLE_RULES = """
body     T_TS_LOW       eval:html_test('font_low_contrast')
body     T_TS_INVALID   eval:html_test('font_invalid_color')
body     T_TS_MAX2      eval:html_range('max_size', '2', 'inf')
body     T_TS_MAX4      eval:html_range('max_size', '4', 'inf')
body     T_TS_MAX6      eval:html_range('max_size', '6', 'inf')
body     T_TS_MIN       eval:html_range('min_size', '-100', '-1')
"""
STYLE_PAGES = {
    "same-colour": '<font color="#FFFFFF">hidden words</font> shown',
    "near-colour": '<span style="color: #fefefe">hidden words</span>',
    "style-both": '<div style="background-color: red; color: red">hidden</div>',
    "no-hash": '<font color="ff0000">red?</font>',
    "bad-name": '<font color="notacolour">what</font>',
    "rgb": '<span style="color: rgb(255, 255, 254)">pale</span>',
    "rgb-percent": '<span style="color: rgb(100%, 100%, 100%) !important">pale</span>',
    "font-rgb-percent": '<font color="rgb(100%, 99%,100%)">pale</font>',
    "font-rgb": '<font color="rgb(255,255, 250)">pale</font>',
    "background": ('<table><tr><td style="background: url(\'a b.png\') #000 no-repeat; '
                   'color:#000001">dark on dark</td></tr></table> after'),
    "transparent": '<span style="color: transparent">gone</span>',
    "body-text": '<body text="#ffffff">white on white</body>',
    "bgcolor-ignored": '<body bgcolor="#000000"><font color="#000000">black</font></body>',
    "sizes": '<font size=7>big</font> <font size="+4">bigger</font>',
    "basefont": '<basefont size=5><font size=-1 color=blue>four</font>',
    "big-small": '<big><big><font color=blue>x</font></big></big> <small><small><small>'
                 '<small><font color=red>y</font></small></small></small></small>',
    "tiny": '<font size="1">tiny</font> <span style="display: none">none</span> '
            '<span style="visibility: hidden">hidden</span>',
    "closed": ('<font color=white><table><tr><td>in</td><td>cells</td></tr></table></font>'
               '<p>out</p>'),
    "td-closes-font": ('<table><tr><td><font color="#ffffff">a<td>b</font>c</td></tr>'
                       '<tr><td>visible</td></tr></table>'),
    "visible": '<p style="color: #333">Plain <b>visible</b> text.</p>',
}
STYLE_HITS = {
    "same-colour": {"T_TS_LOW", "T_TS_MAX2"},
    "near-colour": {"T_TS_LOW", "T_TS_MAX2"},
    "style-both": {"T_TS_LOW", "T_TS_MAX2"},
    "no-hash": {"T_TS_INVALID", "T_TS_MAX2"},
    "bad-name": {"T_TS_INVALID", "T_TS_MAX2"},
    "rgb": {"T_TS_LOW", "T_TS_MAX2"},
    # in style=, rgb() keeps its digits and commas: 100% is 100 (#646464)
    "rgb-percent": {"T_TS_MAX2"},
    "font-rgb-percent": {"T_TS_LOW", "T_TS_MAX2"},
    "font-rgb": {"T_TS_LOW", "T_TS_MAX2"},
    "background": {"T_TS_LOW", "T_TS_MAX2"},
    "transparent": {"T_TS_LOW", "T_TS_MAX2"},
    "body-text": {"T_TS_LOW", "T_TS_MAX2"},
    "bgcolor-ignored": {"T_TS_MAX2"},
    "sizes": {"T_TS_MAX2", "T_TS_MAX4", "T_TS_MAX6"},
    "basefont": {"T_TS_MAX2"},
    "big-small": {"T_TS_MAX2", "T_TS_MAX4", "T_TS_MIN"},
    "tiny": {"T_TS_MAX2"},
    "closed": {"T_TS_LOW", "T_TS_MAX2"},
    "td-closes-font": {"T_TS_LOW", "T_TS_MAX2"},
    "visible": {"T_TS_MAX2"},
}


def style_messages():
    out = {}
    for i, (name, page) in enumerate(sorted(STYLE_PAGES.items())):
        out["style-" + name] = (
            "From: a@example.org\nTo: b@example.net\nSubject: style\n"
            "Date: Wed, 02 Dec 2026 10:00:00 +0000\nMessage-ID: <s%d@example.org>\n"
            "MIME-Version: 1.0\nContent-Type: text/html; charset=us-ascii\n\n"
            "<html>%s</html>\n" % (i, page)).encode()
    return out


def test_text_style_is_spamassassins():
    for name, (theirs, mine) in custom_rule_hits("T_TS_", STYLE_RULES,
                                                 style_messages()).items():
        assert theirs == STYLE_HITS[name[len("style-"):]], (name, theirs)
        assert mine == theirs, (name, theirs, mine)


# uri rules match SpamAssassin's URI list (get_uri_list): every canonical
# form uri_list_canonicalize makes of the URIs of the text and of the
# HTML, not the URIs as written.  Each rule below matches one form only a
# canonicalization step makes; URI_LIST_HITS says which ones SpamAssassin
# finds, so that the messages are known to exercise them.  T_UL_LOWER
# hits neither: SpamAssassin 4 makes no lower-case form of an ASCII host.
URI_LIST_RULES = """
uri      T_UL_HEX_IP         m{^http://93\\.184\\.216\\.34/}
uri      T_UL_DECIMAL_IP     m{^http://10\\.0\\.0\\.1/}
uri      T_UL_UNESCAPED      m{^http://www\\.escaped\\.example\\.com/}
uri      T_UL_NO_PORT        m{^http://port\\.example\\.com/p}
uri      T_UL_LOWER          m{^http://upper\\.example\\.com/}
uri      T_UL_AT_HOST        m{^http://evil3\\.example\\.com/}
redirector_pattern           m{^https?://redir\\.example\\.net/r\\?to=(.*)$}i
uri      T_UL_REDIRECTOR     m{^http://www\\.target2\\.example\\.org/y}
uri      T_UL_SCHEMELESS     m{^http://www\\.schemeless\\.example\\.com}
uri      T_UL_REDIRECT       m{^http://target\\.example\\.org/x}
uri      T_UL_TEXT_ADDRESS   m{^mailto:unsub-list\\@lists\\.example\\.org}
uri      T_UL_BAD_TLD_TEXT   /text\\.host\\.zzinvalid/
uri      T_UL_BAD_TLD_HTML   /html\\.host\\.zzinvalid/
uri      T_UL_AFTER_COMMENT  /after-comment\\.example\\.com/
body     T_UL_BODY_COMMENT   /visible after the comment/
uri      T_UL_HTML_ENTITY    m{^http://entity\\.example\\.com/}
"""
URI_LIST_HITS = {
    "text": {"T_UL_HEX_IP", "T_UL_DECIMAL_IP", "T_UL_UNESCAPED", "T_UL_NO_PORT",
             "T_UL_SCHEMELESS", "T_UL_REDIRECT", "T_UL_TEXT_ADDRESS", "T_UL_AT_HOST",
             "T_UL_REDIRECTOR"},
    "html": {"T_UL_BAD_TLD_HTML", "T_UL_AFTER_COMMENT", "T_UL_BODY_COMMENT",
             "T_UL_HTML_ENTITY"},
}


def uri_list_messages():
    head = ("From: a@example.org\nTo: b@example.net\nSubject: links\n"
            "Date: Wed, 02 Dec 2026 10:00:00 +0000\nMessage-ID: <%d@example.org>\n"
            "MIME-Version: 1.0\n")
    text = head % 1 + (
        "Content-Type: text/plain; charset=us-ascii\n\n"
        "Hex: http://0x5d.0xb8.0xd8.0x22/offer and decimal http://167772161/a\n"
        "Escaped: http://%77%77%77.escaped.example.com/x\n"
        "Port: http://port.example.com:80/p and http://UPPER.Example.COM/y\n"
        "Bare: www.schemeless.example.com/z\n"
        "Redirect: http://redir.example.com/go?u=http://target.example.org/x\n"
        "Redirector: http://redir.example.net/r?to=www.target2.example.org/y\n"
        "Users: http://a@b@evil3.example.com/q\n"
        "To leave, write to unsub-list@lists.example.org today.\n"
        "Unknown: http://text.host.zzinvalid/w\n")
    html = head % 2 + (
        "Content-Type: text/html; charset=us-ascii\n\n"
        "<html><body><p>See <a href=\"http://html.host.zzinvalid/v\">this</a>\n"
        "and <a href=\"http://entity&#46;example&#46;com/e\">that</a>.\n"
        "<!--#rotate>visible after the comment\n"
        "<a href=\"http://after-comment.example.com/c\">here</a></p>\n"
        "</body></html>\n")
    return {"text": text.encode(), "html": html.encode()}


def test_uri_rules_see_the_canonical_uri_list():
    for name, (theirs, mine) in custom_rule_hits("T_UL_", URI_LIST_RULES,
                                                 uri_list_messages()).items():
        assert theirs == URI_LIST_HITS[name], "SpamAssassin's hits changed: %s" % name
        assert mine == theirs, name


SA_LISTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sa_lists.pl")
# Measured on the agreement messages (120 and 120 of 126): what is left
# are characters of entities SpamAssassin leaves as latin-1 octets, base64
# with garbage after it, and a part mostly but not wholly UTF-8
# (SpamAssassin reads it in its declared charset, facteur each valid UTF-8
# sequence as UTF-8).
TEXT_SAME_FLOOR = 0.94
TEXT_SAME_BUT_SPACES_FLOOR = 0.95


def both_lists(setup, what):
    """filter_test --WHAT and sa_lists.pl WHAT (uris or text) on the
    agreement messages: facteur's output, SpamAssassin's."""
    paths = list(setup["paths"].values())
    out = []
    for cmd in ([FILTER_TEST, "-c", setup["conf"], "--" + what],
                ["perl", SA_LISTS, what, SA_RULES, SA_CONFIG, setup["prefs"]]):
        r = subprocess.run(["timeout", "1800"] + cmd + paths, capture_output=True, check=False)
        assert r.returncode == 0, r.stderr.decode(errors="replace")
        out.append(r.stdout)
    return out


def body_texts(data):
    """{path: bytes} from "file PATH" / "text N" / N bytes."""
    out, i = {}, 0
    while True:
        j = data.find(b"file ", i)
        if j < 0:
            return out
        e = data.find(b"\n", j)
        k = data.find(b"\ntext ", e - 1)
        e2 = data.find(b"\n", k + 1)
        n = int(data[k + 6:e2])
        out[data[j + 5:e].decode()] = data[e2 + 1:e2 + 1 + n]
        i = e2 + 1 + n


def test_body_text_is_spamassassins(setup):
    """The text body rules read is SpamAssassin's body text array: its
    HTML rendering, part joins, white space and paragraphs, charsets."""
    paths = setup["paths"]
    ours, theirs = both_lists(setup, "text")
    ours, theirs = body_texts(ours), body_texts(theirs)
    assert set(theirs) == set(paths.values()) == set(ours)
    same = [p for p in theirs if theirs[p] == ours[p]]
    spaces = [p for p in theirs if theirs[p].split() == ours[p].split()]
    print("\nbody text: %d messages, %d the same, %d but for white space"
          % (len(theirs), len(same), len(spaces)))
    for p in sorted(set(theirs) - set(same))[:10]:
        a, b = theirs[p], ours[p]
        k = 0
        while k < min(len(a), len(b)) and a[k] == b[k]:
            k += 1
        print("  %s at %d\n    SpamAssassin %r\n    facteur      %r"
              % (os.path.basename(p), k, a[max(0, k - 30):k + 30], b[max(0, k - 30):k + 30]))
    labelled = [p for p in theirs if p.endswith("gen-utf8-labelled-latin1.eml")]
    assert labelled and theirs[labelled[0]] == ours[labelled[0]], "mislabelled UTF-8"
    assert len(same) >= TEXT_SAME_FLOOR * len(theirs)
    assert len(spaces) >= TEXT_SAME_BUT_SPACES_FLOOR * len(theirs)


# HTML.pm's white space around paragraph breaks and invisible text, page
# by page: HTML::Parser's text events, the spaces display_text trims
# beside a white space element (br, p, td ...) and those it keeps when the
# text is invisible (text_style: font size 1 or less, the background's
# colour, display: none ...).  WS_PAIRS are pages SpamAssassin renders
# differently, so that the pages are known to exercise what they are
# meant to.
WS_PAGES = {
    "breaks-spaces": "<br><br>\n<table>\n <tr>\n <td>\n <p>You are here",
    "hr-table": "<hr><br>\n<table>\n <tr>\n <td>\n <p>Text</p></td></tr></table>",
    "lead-br": '<p>x<font size="-2"><br>\n Under the bill</font></p>',
    "lead-invisible": '<p>x<font size="-2"><p>\n Under the bill</font></p>',
    "lead-visible": '<p>x<font size="-1"><p>\n Under the bill</font></p>',
    "trail-invisible": "<font size=1.5 color=blue>contacts </font><p>next",
    "trail-visible": "<font size=2 color=blue>contacts </font><p>next",
    "colour-invisible": ("<body bgcolor=white><font color=white>hidden words </font><p>"
                         " shown</body>"),
    "colour-visible": ("<body bgcolor=white><font color=black>hidden words </font><p>"
                       " shown</body>"),
    "display-none": ('<div>a</div><span style="display: none"> b </span><br> c'
                     '<div style="visibility: hidden">d </div> e'),
    "td-closes-font": ("<table><tr><td><font size=1>in </font><td> cell </td></tr>"
                       "<tr><td>row </td></tr></table> out"),
    "big-small": "<small><small><small>tiny </small></small></small><p> big",
    "nested-close": "<font size=1><span>a </span></font><br> b <p> c </p> d",
}
WS_PAIRS = [("lead-invisible", "lead-visible"), ("trail-invisible", "trail-visible"),
            ("colour-invisible", "colour-visible")]


def test_html_white_space_is_spamassassins(setup):
    """Body text of HTML pages: white space as HTML.pm leaves it, invisible
    text included."""
    work = make_workdir("agreement-ws-")
    paths = {}
    for i, (name, page) in enumerate(sorted(WS_PAGES.items())):
        p = os.path.join(work, "ws-%s.eml" % name)
        with open(p, "w") as f:
            f.write("From: a@example.org\nTo: b@example.net\nSubject: ws\n"
                    "Date: Thu, 03 Dec 2026 10:00:00 +0000\nMessage-ID: <w%d@example.org>\n"
                    "MIME-Version: 1.0\nContent-Type: text/html; charset=us-ascii\n\n"
                    "<html>%s</html>\n" % (i, page))
        paths[name] = p
    out = []
    for cmd in ([FILTER_TEST, "-c", setup["conf"], "--text"],
                ["perl", SA_LISTS, "text", SA_RULES, SA_CONFIG, setup["prefs"]]):
        r = subprocess.run(["timeout", "600"] + cmd + list(paths.values()),
                           capture_output=True, check=False)
        assert r.returncode == 0, r.stderr.decode(errors="replace")
        out.append(body_texts(r.stdout))
    ours, theirs = out
    for a, b in WS_PAIRS:
        assert theirs[paths[a]] != theirs[paths[b]], (a, b, theirs[paths[a]])
    for name, p in sorted(paths.items()):
        assert ours[p] == theirs[p], (name, theirs[p], ours[p])
    shutil.rmtree(work, ignore_errors=True)


def uri_lists(lines):
    """{path: set of URIs} from "file PATH" / "uri U" lines."""
    out, cur = {}, None
    for line in lines.split(b"\n"):
        if line.startswith(b"file "):
            cur = line[5:].decode()
            out[cur] = set()
        elif line.startswith(b"uri ") and cur is not None:
            out[cur].add(line[4:])
    return out


def test_uri_list_is_spamassassins(setup):
    """The list uri rules see is SpamAssassin's get_uri_list(), entry for
    entry, on every message (tests/integration/sa_lists.pl prints it)."""
    paths = setup["paths"]
    ours, theirs = both_lists(setup, "uris")
    ours, theirs = uri_lists(ours), uri_lists(theirs)
    assert set(theirs) == set(paths.values())
    total = sum(len(u) for u in theirs.values())
    differ = {p: (theirs[p] - ours.get(p, set()), ours.get(p, set()) - theirs[p])
              for p in theirs if theirs[p] != ours.get(p, set())}
    print("\nURI lists: %d messages, %d URIs, %d differ" % (len(theirs), total, len(differ)))
    for p, (sa_only, fa_only) in sorted(differ.items()):
        print("  %s\n    SpamAssassin only: %s\n    facteur only: %s"
              % (os.path.basename(p), sorted(sa_only)[:5], sorted(fa_only)[:5]))
    assert total > 200, "too few URIs to compare"
    assert not differ


# RelayEval's check_for_from_domain_in_received_headers: the From domain
# in a relay's rDNS and "by" (not in Debian's rules; admins write them).
RELAY_RULES = """
header   T_RD_IN_RCVD        eval:check_for_from_domain_in_received_headers('example.org', 'true')
header   T_RD_NOT_IN_RCVD    eval:check_for_from_domain_in_received_headers('example.org', 'false')
"""
RELAY_HITS = {"inside": {"T_RD_IN_RCVD"}, "elsewhere": {"T_RD_NOT_IN_RCVD"}, "other": set()}


def relay_messages():
    def msg(frm, by):
        return ("Received: from mail.example.org (mail.example.org [192.0.2.10]) by %s "
                "(Postfix) with ESMTP id 4AB12345; Wed, 02 Dec 2026 10:00:05 +0000\n"
                "From: %s\nTo: b@example.net\nSubject: relay\n"
                "Date: Wed, 02 Dec 2026 10:00:00 +0000\nMessage-ID: <r@example.org>\n\n"
                "hello\n" % (by, frm)).encode()
    return {"inside": msg("a@example.org", "mx.example.org"),
            "elsewhere": msg("a@example.org", "mx.example.net"),
            "other": msg("a@other.example.com", "mx.example.org")}


def test_from_domain_in_received_headers():
    for name, (theirs, mine) in custom_rule_hits("T_RD_", RELAY_RULES,
                                                 relay_messages()).items():
        assert theirs == RELAY_HITS[name], "SpamAssassin's hits changed: %s" % name
        assert mine == theirs, name


def test_rule_hits_agree_with_spamassassin(setup):
    conf, prefs, paths = setup["conf"], setup["prefs"], setup["paths"]
    yes, no = comparable_rules(conf)
    assert len(yes) > 2000, "too few rules to compare: %d" % len(yes)
    ours = facteur_hits(conf, paths.values())
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        theirs = dict(zip(paths.values(),
                          pool.map(lambda p: spamassassin_tests(p, prefs), paths.values())))
    both = either = 0
    only_sa, only_facteur = collections.Counter(), collections.Counter()
    examples = collections.defaultdict(list)
    for name, path in sorted(paths.items()):
        sa = theirs[path] & yes
        fa = ours.get(path, set()) & yes
        both += len(sa & fa)
        either += len(sa | fa)
        for rule in sa - fa:
            only_sa[rule] += 1
            examples[rule].append(name)
        for rule in fa - sa:
            only_facteur[rule] += 1
            examples[rule].append(name)
    rate = both / either if either else 1.0
    print("\nagreement: %d of %d hits on %d messages: %.3f" % (both, either, len(paths), rate))
    for rule, n in (only_sa + only_facteur).most_common():
        side = "SpamAssassin only" if rule in only_sa else "facteur only"
        print("  %-32s %3d  %s  e.g. %s" % (rule, n, side, ", ".join(examples[rule][:3])))
    assert either > 100, "too few hits to measure anything"
    assert rate >= AGREEMENT_FLOOR, "agreement %.3f below %.2f" % (rate, AGREEMENT_FLOOR)
    for rule, n in (only_sa + only_facteur).items():
        if rule not in KNOWN:
            assert n <= RULE_DISAGREEMENT_MAX, "%s disagrees on %d messages" % (rule, n)
    for rule in KNOWN:
        assert only_sa[rule] + only_facteur[rule] > 0, \
            "%s agrees now: remove it from KNOWN" % rule
