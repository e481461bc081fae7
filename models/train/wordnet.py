"""English synonyms from a WordNet database folder (Debian's wordnet-base,
/usr/share/wordnet), for synonym-replacement augmentation.

Only single-word lemmas of each word's most frequent sense per part of
speech are used: rarer senses bring in synonyms that change the meaning.
"""

import os

# Words whose "synonyms" in WordNet change a customer's question.
STOP = set("""
a an the and or but if then else when where what which who whom whose why how
i me my mine we us our you your he him his she her it its they them their
am is are was were be been being do does did doing have has had having
can could will would shall should may might must
to of in on at by for with from up down out off over under into onto about
as than so too very just not no yes please thanks thank hi hello hey
this that these those there here all any some each every much many more most
get got go going want need like know tell let make say
""".split())


def load(folder):
    """Returns {word: [synonyms]} built from data.* and index.* files."""
    syn = {}
    for pos in ("noun", "verb", "adj", "adv"):
        index = os.path.join(folder, "index." + pos)
        data = os.path.join(folder, "data." + pos)
        if not (os.path.exists(index) and os.path.exists(data)):
            continue
        lemmas = {}
        with open(data, encoding="latin-1") as f:
            for line in f:
                if line.startswith("  "):
                    continue
                parts = line.split()
                offset, w_cnt = parts[0], int(parts[3], 16)
                lemmas[offset] = [parts[4 + 2 * i].lower() for i in range(w_cnt)]
        with open(index, encoding="latin-1") as f:
            for line in f:
                if line.startswith("  "):
                    continue
                parts = line.split()
                word = parts[0]
                if "_" in word or word in STOP:
                    continue
                n_synsets, n_ptrs = int(parts[2]), int(parts[3])
                offsets = parts[6 + n_ptrs:6 + n_ptrs + n_synsets][:1]
                out = syn.setdefault(word, [])
                for off in offsets:
                    for lemma in lemmas.get(off, []):
                        lemma = lemma.split("(")[0]
                        if lemma != word and "_" not in lemma and lemma.isalpha() and lemma not in out:
                            out.append(lemma)
    return {w: s for w, s in syn.items() if s}


def replace(text, syn, rng, share=0.15):
    """text with about share of its replaceable words swapped for a synonym."""
    words = text.split()
    cands = [i for i, w in enumerate(words) if w.lower().strip(".,?!'\"") in syn]
    if not cands:
        return text
    k = max(1, round(share * len(words)))
    for i in rng.sample(cands, min(k, len(cands))):
        core = words[i].lower().strip(".,?!'\"")
        words[i] = words[i].lower().replace(core, rng.choice(syn[core]))
    return " ".join(words)


def sentences(folder, min_words=3):
    """WordNet's example sentences (the quoted parts of its glosses):
    everyday English on every topic, for use as outlier text. Lower-cased,
    deduplicated, in file order."""
    out, seen = [], set()
    for pos in ("noun", "verb", "adj", "adv"):
        path = os.path.join(folder, "data." + pos)
        if not os.path.exists(path):
            continue
        with open(path, encoding="latin-1") as f:
            for line in f:
                if line.startswith("  ") or "|" not in line:
                    continue
                gloss = line.split("|", 1)[1]
                for part in gloss.split('"')[1::2]:
                    s = " ".join(part.replace("`", "'").split()).lower()
                    if len(s.split()) >= min_words and s not in seen:
                        seen.add(s)
                        out.append(s)
    return out
