"""The Python stack a user would otherwise run (see ../shared/MEASUREMENTS.md): trafilatura
extraction, langdetect, and datasketch MinHash LSH (128 permutations) over word 3-shingles.
Prints articles per second."""
import pathlib
import sys
import time

import trafilatura
from datasketch import MinHash, MinHashLSH
from langdetect import DetectorFactory, detect

DetectorFactory.seed = 0
files = sorted(pathlib.Path(sys.argv[1]).glob("*.html"))
lsh = MinHashLSH(threshold=0.6, num_perm=128)
start = time.perf_counter()
dups = 0
for i, f in enumerate(files):
    html = f.read_text(encoding="utf-8")
    text = trafilatura.extract(html) or ""
    lang = detect(text) if text.strip() else "und"
    words = text.split()
    m = MinHash(num_perm=128)
    for j in range(max(1, len(words) - 2)):
        m.update(" ".join(words[j : j + 3]).encode("utf-8"))
    if lsh.query(m):
        dups += 1
    else:
        lsh.insert(str(i), m)
elapsed = time.perf_counter() - start
print(f"{len(files) / elapsed:.1f}")
