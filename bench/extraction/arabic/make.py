#!/usr/bin/env python3
"""Builds the Arabic extraction set: the five seed articles (../shared/seeds, real Arabic news
texts) set into four kinds of Arabic news-site templates written here, with the expected main
text ("with") and boilerplate ("without") segments in the format of the 990-page benchmark.

  python3 bench/extraction/arabic/make.py     # writes pages/*.html.gz and evaldata.json here

Templates: a modern HTML5 site (menu, breaking-news ticker, ads between paragraphs, "read also"
teaser, share bar, tags, related news, comments, most-read sidebar, footer); a legacy table
layout in windows-1256 (marquee ticker, link column, br-separated text, related-topics table,
visitor comments, poll); an AMP page (amp-sidebar, amp-ad, amp-social-share, related posts,
JSON-LD); a WordPress-style blog (top bar, breadcrumbs, ticker, ad blocks, share buttons, tags,
author box, related posts, comment list and form, widget sidebar with newsletter, cookie notice).
Each seed's own boilerplate (source and tag lines, a pasted "read also" article, comment notice,
wire disclaimer, rights and newsletter lines) stays in the page as the outlet publishes it.
"""
import gzip, html, json, os, re

HERE = os.path.dirname(os.path.abspath(__file__))
SEEDS = os.path.join(HERE, "../../../../shared/seeds")

# Per seed: title line (or an explicit title), body line range, lines that are the outlet's own
# boilerplate (kept inside the page), and extra lines before the body (date, label, caption).
SPEC = {
    "000_25edafe2ef25a816": dict(title=1, before=[2], body=(3, 7), trailer=(8, 19)),
    "001_347a1e20d77f6830": dict(title=3, before=[1], body=(5, 25), trailer=(27, 29)),
    "002_6917428d12f6681e": dict(title="روسيا وأمريكا تتفقان على التحضير لقمة بين بوتين وترامب", caption=1, body=(2, 10), trailer=(11, 13)),
    "003_d60cf795c66ab44c": dict(title="لافروف: محادثات الرياض مع الوفد الأمريكي كانت مفيدة", body=(1, 73), trailer=(75, 79)),
    "004_48cd9145e992c68d": dict(title=3, before=[1], body=(5, 41), trailer=(43, 47)),
}

SITES = ["شبكة الأخبار العربية", "بوابة الخليج", "صدى المدينة", "النهار الرقمي", "موجز الأخبار", "الوطن اليوم"]
MENU = ["الرئيسية", "محليات", "عربي ودولي", "اقتصاد", "رياضة", "ثقافة وفنون", "منوعات", "فيديو", "كتاب الرأي"]
TICKER = [
    "ارتفاع أسعار النفط مع تراجع المخزونات الأمريكية",
    "الأرصاد تحذر من موجة برد تضرب المنطقة نهاية الأسبوع",
    "افتتاح معرض الكتاب الدولي بمشاركة أربعين دولة",
    "المنتخب الوطني يتأهل إلى نصف نهائي البطولة",
    "البنك المركزي يثبت أسعار الفائدة للمرة الثالثة",
    "انطلاق موسم الحج بإجراءات تنظيمية جديدة",
]
RELATED = [
    "وزير الخارجية يستقبل نظيره الفرنسي لبحث العلاقات الثنائية",
    "قمة اقتصادية مرتقبة في العاصمة الشهر المقبل",
    "مجلس الأمن يعقد جلسة طارئة بشأن الأوضاع الإنسانية",
    "تقرير: ارتفاع حجم التبادل التجاري بين البلدين",
    "محللون: الدبلوماسية تعود إلى الواجهة بعد سنوات من التوتر",
    "الأمم المتحدة ترحب باستئناف الحوار بين الأطراف",
]
MOST_READ = [
    "طريقة سهلة لتحضير الكنافة في البيت",
    "أسعار الذهب اليوم في الأسواق المحلية",
    "موعد صرف الرواتب لشهر مارس",
    "نتائج مباريات الدوري الممتاز",
    "حالة الطقس غدا في جميع المحافظات",
]
COMMENTS = [
    ("أبو خالد", "كلام جميل لكن الواقع مختلف تماما، ننتظر الأفعال لا الأقوال من الطرفين."),
    ("سارة", "أتمنى أن تنعكس هذه المحادثات على حياة الناس البسطاء في المنطقة."),
    ("محمد العلي", "لا أثق بهذه الوعود، سمعنا مثلها كثيرا في السنوات الماضية دون نتيجة."),
]


def lines(seed):
    with open(os.path.join(SEEDS, seed + ".txt"), encoding="utf-8") as fh:
        return [l.rstrip("\n") for l in fh]


def article(seed):
    spec, ls = SPEC[seed], lines(seed)
    get = lambda n: ls[n - 1].strip()
    title = spec["title"] if isinstance(spec["title"], str) else get(spec["title"])
    body = [get(n) for n in range(spec["body"][0], spec["body"][1] + 1) if get(n)]
    # A short line without final punctuation is a subheading.
    blocks = [("h", t) if len(t) < 70 and not t.endswith((".", ":", "”", "»", '"')) else ("p", t) for t in body]
    trailer = [get(n) for n in range(spec["trailer"][0], spec["trailer"][1] + 1) if get(n)]
    before = [get(n) for n in spec.get("before", [])]
    caption = get(spec["caption"]) if "caption" in spec else None
    return dict(seed=seed, title=title, blocks=blocks, trailer=trailer, before=before, caption=caption)


def esc(t):
    return html.escape(t, quote=False)


def seg(text, words=7, where="middle"):
    """A segment of a few words of `text` (the benchmark's segments are parts of paragraphs)."""
    w = text.split()
    if len(w) <= words:
        return text
    start = 0 if where == "start" else max(0, len(w) // 2 - words // 2)
    return " ".join(w[start:start + words])


class Page:
    def __init__(self):
        self.chrome = []  # boilerplate strings put in the page

    def c(self, t):
        self.chrome.append(t)
        return esc(t)


def body_html(a, page, ad, teaser, p_tag="p", h_tag="h2", every=3):
    out = []
    for i, (kind, t) in enumerate(a["blocks"]):
        out.append(f"<{h_tag}>{esc(t)}</{h_tag}>" if kind == "h" else f"<{p_tag}>{esc(t)}</{p_tag}>")
        if i == 1:
            out.append(ad(page))
        if i == 2:
            out.append(teaser(page))
        if i > 2 and i % (every * 2) == 0:
            out.append(ad(page))
    out += [f"<p>{esc(t)}</p>" for t in a["trailer"]]
    return "\n".join(out)


def modern(a, n):
    p, site = Page(), SITES[n % len(SITES)]
    menu = "".join(f'<li><a href="/cat/{i}">{p.c(m)}</a></li>' for i, m in enumerate(MENU))
    ticker = "".join(f'<li><a href="/n/{i}">{p.c(t)}</a></li>' for i, t in enumerate(TICKER[:4]))
    ad = lambda p: f'<div class="ad-slot ad-inarticle"><span class="ad-label">{p.c("إعلان")}</span><div id="div-gpt-ad-{n}"></div></div>'
    teaser = lambda p: f'<div class="read-also"><span>{p.c("اقرأ أيضا:")}</span> <a href="/n/77">{p.c(RELATED[0])}</a></div>'
    before = "".join(f'<span class="label">{p.c(b)}</span>' for b in a["before"])
    fig = f'<figure class="main-image"><img src="/i/1.jpg" alt=""><figcaption>{p.c(a["caption"])}</figcaption></figure>' if a["caption"] else '<figure><img src="/i/1.jpg" alt=""></figure>'
    related = "".join(f'<li><a href="/r/{i}"><img src="/t/{i}.jpg">{p.c(t)}</a></li>' for i, t in enumerate(RELATED[1:5]))
    comments = "".join(f'<div class="comment"><div class="comment-author">{p.c(nm)}</div><p>{p.c(t)}</p><a href="#">{p.c("رد")}</a></div>' for nm, t in COMMENTS)
    most = "".join(f'<li><a href="/m/{i}">{p.c(t)}</a></li>' for i, t in enumerate(MOST_READ))
    page = f"""<!DOCTYPE html>
<html lang="ar" dir="rtl"><head><meta charset="utf-8"><title>{esc(a['title'])} | {esc(site)}</title>
<meta property="og:title" content="{esc(a['title'])}"><meta name="viewport" content="width=device-width">
<link rel="stylesheet" href="/css/main.css"><script>window.dataLayer=[];</script>
<script type="application/ld+json">{{"@context":"https://schema.org","@type":"NewsArticle","headline":{json.dumps(a['title'], ensure_ascii=False)},"datePublished":"2025-02-16T10:00:00+03:00"}}</script>
</head><body>
<header class="site-header"><div class="logo"><a href="/">{p.c(site)}</a></div><nav class="main-menu"><ul>{menu}</ul></nav>
<div class="search"><form action="/search"><input name="q" placeholder="بحث"></form></div></header>
<div class="breaking-news"><span class="breaking-title">{p.c("عاجل")}</span><ul>{ticker}</ul></div>
<main class="container"><div class="row"><div class="col-md-8">
<article class="news-article">{before}<h1>{esc(a['title'])}</h1>
<div class="post-meta"><span class="author">{p.c("بقلم: محرر الشؤون الدولية")}</span> <time datetime="2025-02-16">16 فبراير 2025</time></div>
{fig}
<div class="article-body">
{body_html(a, p, ad, teaser)}
</div>
<div class="share-bar"><span>{p.c("شارك الخبر:")}</span> <a href="#">{p.c("فيسبوك")}</a> <a href="#">{p.c("تويتر")}</a> <a href="#">{p.c("واتساب")}</a></div>
<div class="tags"><span>{p.c("الوسوم:")}</span> <a href="/t/1">روسيا</a> <a href="/t/2">أمريكا</a></div>
</article>
<section class="related-news"><h3>{p.c("أخبار ذات صلة")}</h3><ul>{related}</ul></section>
<section id="comments"><h3>{p.c("التعليقات (3)")}</h3>{comments}</section>
</div>
<aside class="col-md-4 sidebar"><div class="most-read"><h3>{p.c("الأكثر قراءة")}</h3><ol>{most}</ol></div>
<div class="newsletter"><h4>{p.c("النشرة البريدية")}</h4><p>{p.c("اشترك ليصلك ملخص أهم الأخبار كل صباح على بريدك")}</p></div></aside>
</div></main>
<footer class="site-footer"><ul><li><a href="/about">{p.c("من نحن")}</a></li><li><a href="/contact">{p.c("اتصل بنا")}</a></li><li><a href="/privacy">{p.c("سياسة الخصوصية")}</a></li></ul>
<p>{p.c("جميع الحقوق محفوظة © 2025 " + site)}</p></footer>
<script src="/js/app.js"></script></body></html>"""
    return page.encode("utf-8"), p.chrome


def legacy(a, n):
    p, site = Page(), SITES[(n + 1) % len(SITES)]
    links = "<br>".join(f'<a href="cat.asp?id={i}">{p.c(m)}</a>' for i, m in enumerate(MENU[:7]))
    marquee = " *** ".join(p.c(t) for t in TICKER[1:5])
    paras = []
    for i, (kind, t) in enumerate(a["blocks"]):
        paras.append(f"<b>{esc(t)}</b>" if kind == "h" else esc(t))
        if i == 2:
            paras.append(f'<table align="center" class="adv"><tr><td><a href="ads.asp?id=4"><img src="banner.gif" alt="{esc("إعلان")}"></a><br><font size="1">{p.c("مساحة إعلانية")}</font></td></tr></table>')
    paras += [esc(t) for t in a["trailer"]]
    text = "<br><br>\n".join(paras)
    before = "".join(f'<font color="#990000">{p.c(b)}</font><br>' for b in a["before"])
    cap = f'<br><font size="1" color="gray">{p.c(a["caption"])}</font>' if a["caption"] else ""
    related = "".join(f'<tr><td>&raquo; <a href="news.asp?id={30 + i}">{p.c(t)}</a></td></tr>' for i, t in enumerate(RELATED[2:6]))
    comments = "".join(f'<tr><td class="comment_name"><b>{p.c(nm)}</b></td></tr><tr><td class="comment_text">{p.c(t)}</td></tr>' for nm, t in COMMENTS[:2])
    most = "<br>".join(f'<a href="news.asp?id={50 + i}">{p.c(t)}</a>' for i, t in enumerate(MOST_READ[:4]))
    page = f"""<html dir="rtl"><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1256">
<title>{esc(site)} - {esc(a['title'])}</title></head>
<body bgcolor="#FFFFFF" topmargin="0"><table width="780" border="0" cellpadding="0" cellspacing="0" align="center">
<tr><td colspan="3" bgcolor="#003366"><img src="logo.gif" alt="{esc(site)}"><font color="white" size="5">{p.c(site)}</font></td></tr>
<tr><td colspan="3" bgcolor="#FFCC00"><marquee direction="right" scrollamount="3">{marquee}</marquee></td></tr>
<tr><td width="150" valign="top" bgcolor="#EEEEEE" class="right_menu">{links}</td>
<td width="480" valign="top">{before}<font size="4" color="#003366"><b>{esc(a['title'])}</b></font><br>
<font size="1" color="gray">{p.c("تاريخ الإضافة: 16/02/2025 - عدد القراءات: 1532")}</font><br>
<img src="news/photo.jpg" width="300">{cap}<br><br>
<font size="3">{text}</font>
<br><br><a href="print.asp?id=12">{p.c("نسخة للطباعة")}</a> | <a href="send.asp?id=12">{p.c("أرسل لصديق")}</a>
<br><br><table width="100%" class="related_topics"><tr><td bgcolor="#CCCCCC"><b>{p.c("مواضيع ذات صلة")}</b></td></tr>{related}</table>
<br><table width="100%" id="comments_table"><tr><td bgcolor="#CCCCCC"><b>{p.c("تعليقات الزوار")}</b></td></tr>{comments}</table>
</td>
<td width="150" valign="top" bgcolor="#EEEEEE" class="left_side"><b>{p.c("الأكثر قراءة")}</b><br>{most}<br><br>
<b>{p.c("استطلاع الرأي")}</b><br>{p.c("هل تتوقع نجاح المفاوضات؟")}<br><form action="poll.asp"><input type="radio" name="v">نعم<br><input type="radio" name="v">لا</form></td></tr>
<tr><td colspan="3" align="center" bgcolor="#003366"><font color="white" size="1">{p.c("جميع الحقوق محفوظة لموقع " + site + " 2005-2025")}</font></td></tr>
</table></body></html>"""
    return page.encode("cp1256", errors="xmlcharrefreplace"), p.chrome


def amp(a, n):
    p, site = Page(), SITES[(n + 2) % len(SITES)]
    side = "".join(f'<li><a href="/amp/c/{i}">{p.c(m)}</a></li>' for i, m in enumerate(MENU))
    ad = lambda p: '<amp-ad width="300" height="250" type="doubleclick" data-slot="/1234/ar_news"><div placeholder></div></amp-ad>'
    teaser = lambda p: f'<p class="read-more-inline"><strong>{p.c("اقرأ أيضا:")}</strong> <a href="/amp/n/88">{p.c(RELATED[3])}</a></p>'
    related = "".join(f'<li><a href="/amp/r/{i}"><amp-img src="/t/{i}.jpg" width="100" height="60"></amp-img><span>{p.c(t)}</span></a></li>' for i, t in enumerate(RELATED[:3]))
    before = "".join(f'<div class="amp-category">{p.c(b)}</div>' for b in a["before"])
    cap = f'<figure><amp-img src="/i/2.jpg" width="600" height="400" layout="responsive"></amp-img><figcaption>{p.c(a["caption"])}</figcaption></figure>' if a["caption"] else '<amp-img src="/i/2.jpg" width="600" height="400" layout="responsive"></amp-img>'
    page = f"""<!doctype html>
<html amp lang="ar" dir="rtl"><head><meta charset="utf-8"><title>{esc(a['title'])}</title>
<link rel="canonical" href="https://news.example/ar/{a['seed']}">
<meta name="viewport" content="width=device-width,minimum-scale=1">
<script async src="https://cdn.ampproject.org/v0.js"></script>
<script async custom-element="amp-ad" src="https://cdn.ampproject.org/v0/amp-ad-0.1.js"></script>
<style amp-boilerplate>body{{visibility:hidden}}</style><style amp-custom>.amp-title{{font-size:24px}}</style>
<script type="application/ld+json">{{"@context":"https://schema.org","@type":"NewsArticle","headline":{json.dumps(a['title'], ensure_ascii=False)},"datePublished":"2025-02-18T09:00:00Z","publisher":{{"@type":"Organization","name":{json.dumps(site, ensure_ascii=False)}}}}}</script>
</head><body>
<amp-sidebar id="sidebar" layout="nodisplay" side="right"><ul>{side}</ul></amp-sidebar>
<header class="amp-header"><button on="tap:sidebar.toggle">&#9776;</button><a href="/amp/" class="brand">{p.c(site)}</a></header>
<div class="amp-wrapper">{before}<h1 class="amp-title">{esc(a['title'])}</h1>
<div class="amp-meta"><span class="amp-author">{p.c("وكالات")}</span> <span class="amp-date">{p.c("منذ ساعتين")}</span></div>
{cap}
<div class="amp-article-content">
{body_html(a, p, ad, teaser, every=2)}
</div>
<div class="amp-share"><amp-social-share type="facebook" width="40" height="40"></amp-social-share><amp-social-share type="whatsapp" width="40" height="40"></amp-social-share></div>
<div class="amp-related-posts"><h2>{p.c("مواضيع ذات صلة")}</h2><ul>{related}</ul></div>
<footer class="amp-footer"><p>{p.c("© 2025 " + site + ". جميع الحقوق محفوظة")}</p><a href="/">{p.c("النسخة الكاملة للموقع")}</a></footer>
</div></body></html>"""
    return page.encode("utf-8"), p.chrome


def blog(a, n):
    p, site = Page(), SITES[(n + 3) % len(SITES)]
    menu = "".join(f'<li class="menu-item"><a href="/category/{i}/">{p.c(m)}</a></li>' for i, m in enumerate(MENU[:6]))
    ticker = "".join(f'<li><a href="/p/{i}/">{p.c(t)}</a></li>' for i, t in enumerate(TICKER[2:6]))
    ad = lambda p: f'<div class="code-block code-block-3" style="margin: 8px auto; text-align: center;"><span class="ads-title">{p.c("إعلانات")}</span><ins class="adsbygoogle" data-ad-slot="123"></ins></div>'
    teaser = lambda p: f'<p><strong>{p.c("اقرأ أيضًا:")}</strong> <a href="/p/91/">{p.c(RELATED[4])}</a></p>'
    before = "".join(f'<span class="cat-label">{p.c(b)}</span>' for b in a["before"])
    cap = f'<figure class="wp-block-image"><img src="/wp-content/uploads/a.jpg"><figcaption>{p.c(a["caption"])}</figcaption></figure>' if a["caption"] else ""
    related = "".join(f'<div class="jp-relatedposts-post"><a href="/p/{60 + i}/">{p.c(t)}</a></div>' for i, t in enumerate(RELATED[1:4]))
    comments = "".join(f'<li class="comment"><article class="comment-body"><footer class="comment-meta"><b class="fn">{p.c(nm)}</b> <span>{p.c("16 فبراير 2025 في 11:" + str(10 + i))}</span></footer><div class="comment-content"><p>{p.c(t)}</p></div></article></li>' for i, (nm, t) in enumerate(COMMENTS))
    recent = "".join(f'<li><a href="/p/{70 + i}/">{p.c(t)}</a></li>' for i, t in enumerate(MOST_READ[1:5]))
    page = f"""<!DOCTYPE html>
<html dir="rtl" lang="ar"><head><meta charset="UTF-8"><title>{esc(a['title'])} &#8211; {esc(site)}</title>
<meta property="og:title" content="{esc(a['title'])}"><meta property="article:published_time" content="2025-02-16T12:30:00+00:00">
<link rel="canonical" href="https://blog.example/{a['seed']}/"></head>
<body class="post-template-default single single-post postid-4512 has-sidebar right-sidebar">
<div id="page" class="site">
<div class="top-bar"><span class="date-today">{p.c("الأحد، 16 فبراير 2025")}</span><div class="social-icons"><a href="#">{p.c("تابعنا على فيسبوك")}</a> <a href="#">{p.c("يوتيوب")}</a></div></div>
<div id="masthead" class="site-header"><div class="site-branding"><p class="site-title"><a href="/">{p.c(site)}</a></p></div>
<div class="main-navigation"><ul id="menu-main">{menu}</ul></div></div>
<div class="ticker-wrap"><span class="ticker-title">{p.c("آخر الأخبار")}</span><ul class="news-ticker">{ticker}</ul></div>
<div id="content" class="site-content"><div id="primary" class="content-area"><div class="single-post-wrap">
<div class="breadcrumbs"><a href="/">{p.c("الرئيسية")}</a> &raquo; <a href="/world/">{p.c("أخبار دولية")}</a> &raquo; <span>{esc(a['title'])}</span></div>
{before}<h1 class="entry-title">{esc(a['title'])}</h1>
<div class="entry-meta"><span class="posted-on">{p.c("نشر في 16 فبراير 2025")}</span> <span class="byline">{p.c("بواسطة فريق التحرير")}</span></div>
{cap}
<div class="entry-content">
{body_html(a, p, ad, teaser, h_tag="h3")}
</div>
<div class="sharedaddy sd-sharing-enabled"><h3 class="sd-title">{p.c("شارك هذا:")}</h3><ul><li><a href="#">{p.c("انقر للمشاركة على تويتر")}</a></li><li><a href="#">{p.c("انقر للمشاركة على فيسبوك")}</a></li></ul></div>
<div class="post-tags"><span>{p.c("الوسوم:")}</span> <a href="/tag/a/">الخارجية</a> <a href="/tag/b/">موسكو</a></div>
<div class="author-box"><h4>{p.c("عن الكاتب")}</h4><p>{p.c("صحفي متخصص في الشؤون الدولية، عمل مراسلا في عدة عواصم قبل انضمامه إلى فريق الموقع.")}</p></div>
<div id="jp-relatedposts" class="jp-relatedposts"><h3 class="jp-relatedposts-headline">{p.c("أخبار ذات صلة")}</h3>{related}</div>
<div id="comments" class="comments-area"><h2 class="comments-title">{p.c("3 تعليقات")}</h2><ol class="comment-list">{comments}</ol>
<div id="respond" class="comment-respond"><h3 class="comment-reply-title">{p.c("اترك تعليقاً")}</h3><form class="comment-form"><p class="comment-notes">{p.c("لن يتم نشر عنوان بريدك الإلكتروني.")}</p><textarea name="comment"></textarea><input type="submit" value="إرسال التعليق"></form></div></div>
</div></div>
<div id="secondary" class="widget-area"><section class="widget widget_recent_entries"><h2 class="widget-title">{p.c("أحدث المقالات")}</h2><ul>{recent}</ul></section>
<section class="widget widget_text"><h2 class="widget-title">{p.c("النشرة البريدية")}</h2><div class="textwidget"><p>{p.c("اشترك في نشرتنا البريدية ليصلك كل جديد")}</p></div></section></div>
</div>
<div class="cookie-notice-container"><span>{p.c("يستخدم هذا الموقع ملفات تعريف الارتباط لتحسين تجربتك.")}</span><a href="#">{p.c("موافق")}</a></div>
<footer id="colophon" class="site-footer"><div class="site-info">{p.c("جميع الحقوق محفوظة © " + site)} | <a href="/privacy/">{p.c("سياسة الخصوصية")}</a></div></footer>
</div></body></html>"""
    return page.encode("utf-8"), p.chrome


TEMPLATES = [("modern", modern), ("legacy", legacy), ("amp", amp), ("blog", blog)]


def expected(a, chrome):
    main = [t for _, t in a["blocks"]]
    main_text = " ".join(main)
    paras = [t for k, t in a["blocks"] if k == "p"]
    heads = [t for k, t in a["blocks"] if k == "h"]
    # Up to six paragraphs spread over the text, first and last included, and one subheading.
    pick = sorted({0, len(paras) - 1, *range(0, len(paras), max(1, len(paras) // 5))})[:6]
    with_ = [seg(paras[i]) for i in pick] + [seg(h, 4, "start") for h in heads[:1]]
    # Chrome the main text could contain is not a test of anything.
    without = [seg(t, 6, "start") for t in a["trailer"] + a["before"] + ([a["caption"]] if a["caption"] else [])]
    without += [t for t in dict.fromkeys(chrome) if len(t) >= 3 and t not in main_text and t not in a["title"]]
    without = [w for w in dict.fromkeys(without) if w not in main_text]
    return with_, without


def main():
    os.makedirs(os.path.join(HERE, "pages"), exist_ok=True)
    ev = {}
    for n, seed in enumerate(sorted(SPEC)):
        a = article(seed)
        for k, (name, tpl) in enumerate(TEMPLATES):
            data, chrome = tpl(a, n + k)
            fname = f"{seed[:3]}-{name}.html"
            with open(os.path.join(HERE, "pages", fname + ".gz"), "wb") as fh:
                fh.write(gzip.compress(data, mtime=0))
            w, wo = expected(a, chrome)
            ev[f"https://arabic.bench.example/{seed[:3]}/{name}"] = {"file": fname, "with": w, "without": wo}
    with open(os.path.join(HERE, "evaldata.json"), "w", encoding="utf-8") as fh:
        json.dump(ev, fh, ensure_ascii=False, indent=1)
    print(f"{len(ev)} pages, {sum(len(e['with']) for e in ev.values())} text and "
          f"{sum(len(e['without']) for e in ev.values())} boilerplate segments")


if __name__ == "__main__":
    main()
