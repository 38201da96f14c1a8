"""Writes N HTML pages derived from samples/pages/*.html into a directory.

Even pages are edited copies of a seed page (own canonical URL, title suffix, paragraph order
rotated): re-publications. Odd pages mix paragraphs of all seeds in a pseudo-random order:
distinct articles on related subjects, which fill the dedup and story windows.
"""
import random
import pathlib
import re
import sys

src = pathlib.Path(__file__).resolve().parent.parent / "samples" / "pages"
out = pathlib.Path(sys.argv[1])
n = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
out.mkdir(parents=True, exist_ok=True)
pages = [p.read_text(encoding="utf-8") for p in sorted(src.glob("*.html"))]
all_paras = [p for page in pages for p in re.findall(r"<p>.*?</p>", page)]
rng = random.Random(7)
for i in range(n):
    if i % 2 == 1:
        paras = rng.sample(all_paras, 8)
        page = pages[0]
        original = re.findall(r"<p>.*?</p>", page)
        page = page.replace("\n".join(original), "\n".join(paras))
        page = re.sub(r'href="(https://[^"]+)"', lambda m: f'href="{m.group(1)}-mix-{i}"', page, count=1)
        page = page.replace("</h1>", f" {i}</h1>", 1)
        (out / f"{i:06d}.html").write_text(page, encoding="utf-8")
        continue
    page = pages[i % len(pages)]
    page = re.sub(r'href="(https://[^"]+)"', lambda m: f'href="{m.group(1)}-{i}"', page, count=1)
    paras = re.findall(r"<p>.*?</p>", page)
    if len(paras) > 3:
        k = (i // len(pages)) % (len(paras) - 2) + 1
        rotated = paras[:1] + paras[k:] + paras[1:k]
        body = "\n".join(rotated)
        page = page.replace("\n".join(paras), body)
    page = page.replace("</h1>", f" {i}</h1>", 1)
    (out / f"{i:06d}.html").write_text(page, encoding="utf-8")
print(f"wrote {n} pages to {out}")
