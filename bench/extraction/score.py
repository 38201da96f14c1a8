#!/usr/bin/env python3
"""Scores an extractor on any folder laid out like the 990-page benchmark (evaldata.json and
pages/<file>.gz), with the benchmark's own score.py, unchanged:

  python3 bench/extraction/score.py --data bench/extraction/arabic \
      --cmd '/work/target-extract/release/newswire extract --format plain {path}' -j 1 [-v]

--data defaults to bench/extraction/arabic; --scorer to ../shared/corpora/trafilatura-eval/score.py
(relative to the repository root). Every other option is score.py's.
"""
import importlib.util, os, sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def take(flag, default):
    if flag in sys.argv:
        i = sys.argv.index(flag)
        value = sys.argv[i + 1]
        del sys.argv[i:i + 2]
        return value
    return default


data = os.path.abspath(take("--data", os.path.join(ROOT, "bench/extraction/arabic")))
scorer = take("--scorer", os.path.join(ROOT, "../shared/corpora/trafilatura-eval/score.py"))
spec = importlib.util.spec_from_file_location("trafilatura_eval_score", scorer)
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
mod.HERE = data  # evaldata.json and pages/ are read from here
sys.exit(mod.main())
