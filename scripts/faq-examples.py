#!/usr/bin/env python3
"""Turns FAQ files (JSON Lines and CSV, the formats kefu ingests) into
training examples for the recipe: one {"text", "intent"} line per question
and alternative, the intent being the entry's id. A model trained on them
classifies a customer's question by FAQ entry; kefu uses its logits as the
knowledge base's sentence vectors (models.embedder.pooling: logits)."""
import csv
import json
import sys


def entries(path):
    if path.endswith(".csv"):
        with open(path, encoding="utf-8-sig", newline="") as f:
            for row in csv.DictReader(f):
                row = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
                alts = [q for q in row.get("questions", "").split("|") if q.strip()]
                yield row.get("id"), [row.get("question", "")] + alts
    else:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    e = json.loads(line)
                    yield e.get("id"), [e.get("question", "")] + e.get("questions", [])


for path in sys.argv[1:]:
    for id_, questions in entries(path):
        for q in questions:
            if id_ and q.strip():
                print(json.dumps({"text": q.strip(), "intent": id_}, ensure_ascii=False))
