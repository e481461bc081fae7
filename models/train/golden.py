#!/usr/bin/python3
"""Writes the tokenizer golden files that the Go tokenizer is tested against.

usage: golden.py --vocab VOCAB --strings STRINGS.jsonl --out GOLDEN.jsonl
                 [--cased] [--no-strip-accents] [--max-len N]

STRINGS.jsonl holds one JSON string per line. Each output line is
{"text": ..., "tokens": [...], "ids": [...]} where ids are the encoding
with [CLS]/[SEP], truncated to --max-len.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tokenization as T  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vocab", required=True)
    ap.add_argument("--strings", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--cased", action="store_true")
    ap.add_argument("--no-strip-accents", action="store_true")
    ap.add_argument("--max-len", type=int, default=64)
    a = ap.parse_args()
    tok = T.Tokenizer.from_file(a.vocab, lower=not a.cased,
                                strip_accents=False if a.no_strip_accents else None,
                                max_len=a.max_len)
    n = 0
    with open(a.strings, encoding="utf-8") as f, open(a.out, "w", encoding="utf-8") as out:
        for line in f:
            if not line.strip():
                continue
            text = json.loads(line)
            out.write(json.dumps({"text": text, "tokens": tok.tokenize(text), "ids": tok.encode(text)},
                                 ensure_ascii=False) + "\n")
            n += 1
    print("wrote %d cases to %s" % (n, a.out), file=sys.stderr)


if __name__ == "__main__":
    main()
