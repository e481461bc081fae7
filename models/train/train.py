#!/usr/bin/python3
"""Trains kefu's intent classifier and exports it in Hugging Face layout.

Input: JSON Lines {"text": "...", "intent": "..."}; intent "oos" marks
out-of-scope examples. Output folder: model.onnx, config.json (id2label and,
under "kefu", the out-of-scope threshold chosen on validation data),
vocab.txt, tokenizer_config.json, special_tokens_map.json and
pytorch_model.bin (the checkpoint --base accepts).

Everything is seeded; on one machine two runs give the same model.
Run with Debian's /usr/bin/python3 (python3-torch).
"""

import os

# One BLAS/OpenMP thread: on small CPUs more threads oversubscribe the cores
# and run several times slower. Set before torch loads.
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import collections
import itertools
import json
import random
import re
import struct
import sys
import time

import torch
from torch import nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fuse  # noqa: E402
import model as M  # noqa: E402
import onnx  # noqa: E402
import tokenization as T  # noqa: E402
import wordnet  # noqa: E402

OOS = "oos"

PRESETS = {
    # name: (layers, hidden, heads, intermediate)
    "tiny": (2, 128, 2, 512),
    "wide": (2, 256, 4, 1024),
    "small": (4, 256, 4, 1024),
}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def read_jsonl(path):
    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise SystemExit("%s:%d: bad JSON: %s" % (path, n, e))
            text, intent = obj.get("text"), obj.get("intent")
            if not isinstance(text, str) or not text.strip():
                raise SystemExit('%s:%d: "text" must be a non-empty string' % (path, n))
            if not isinstance(intent, str) or not intent:
                raise SystemExit('%s:%d: "intent" must be a non-empty string' % (path, n))
            out.append((text, intent))
    if not out:
        raise SystemExit("%s: no examples" % path)
    return out


def read_texts(path):
    """Unlabelled text: JSON Lines with "text", or plain lines."""
    out = []
    try:
        f = open(path, encoding="utf-8")
    except OSError as e:
        raise SystemExit("%s: %s" % (path, e.strerror))
    with f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            if line.startswith("{"):
                try:
                    line = json.loads(line).get("text") or ""
                except json.JSONDecodeError:
                    pass
            if line:
                out.append(line)
    return out


# ---------------------------------------------------------------- vocabulary

FULLWIDTH_PUNCT = "，。？！：；（）【】“”‘’、《》…～·￥—「」『』〈〉"
SUFFIXES = ["s", "es", "ed", "ing", "ly", "er", "ers", "est", "'s", "n't", "ment",
            "tion", "ions", "ness", "able", "ful", "less", "al", "y", "ity", "ive"]


def build_vocab(texts, lower, min_word=1, max_words=30000):
    """A word-level vocabulary with character fall-back.

    Words of the data become whole tokens; every character of the data and
    every printable ASCII character is a token (and a ## continuation), so
    no Latin text becomes [UNK]; frequent word endings are ## pieces so an
    unseen inflection still splits into known parts.
    """
    words = collections.Counter()
    chars = collections.Counter()
    for t in texts:
        for w in T.basic_tokenize(t, lower=lower):
            words[w] += 1
            for ch in w:
                chars[ch] += 1
    vocab = list(T.SPECIALS)
    seen = set(vocab)

    def add(tok):
        if tok not in seen:
            seen.add(tok)
            vocab.append(tok)

    for cp in range(33, 127):
        ch = chr(cp)
        if lower and ch.isupper():
            continue
        add(ch)
        if ch.isalnum():
            add("##" + ch)
    for ch in FULLWIDTH_PUNCT:
        add(ch)
    for ch, _ in sorted(chars.items(), key=lambda kv: (-kv[1], kv[0])):
        add(ch)
        if len(T.basic_tokenize(ch, lower=lower)) == 1 and not T._is_punctuation(ch):
            add("##" + ch)
    for s in SUFFIXES:
        add("##" + s)
    ends = collections.Counter()
    for w, n in words.items():
        if len(w) > 4 and w.isascii() and w.isalpha():
            for k in (2, 3, 4):
                ends[w[-k:]] += n
    for e, n in sorted(ends.items(), key=lambda kv: (-kv[1], kv[0])):
        if n >= 20:
            add("##" + e)
    kept = [w for w, n in sorted(words.items(), key=lambda kv: (-kv[1], kv[0])) if n >= min_word]
    for w in kept[:max_words]:
        add(w)
    return vocab


# -------------------------------------------------------------- augmentation

ZH_PREFIXES = ["", "", "", "亲，", "你好，", "请问", "在吗，", "麻烦问下，", "客服，", "hi ", "您好 "]
ZH_SUFFIXES = ["", "", "", "？", "?", "。", "，谢谢", "呢", "啊", "！", "吗", " 急", "～"]
EN_PREFIXES = ["", "", "", "hi, ", "hey ", "please ", "can you tell me ", "i need to know "]
EN_SUFFIXES = ["", "", "", "?", ".", " please", " thanks", " asap", "!"]


def has_cjk(s):
    return any(T._is_chinese_char(ord(ch)) for ch in s)


def augment(text, rng, synonyms=None):
    """One noisy copy of text: greeting/politeness affixes, a dropped or
    swapped character, random case, the way customers really type; with
    synonyms (English WordNet), some words replaced by a synonym."""
    zh = has_cjk(text)
    if synonyms and not zh and rng.random() < 0.7:
        text = wordnet.replace(text, synonyms, rng)
    pre = rng.choice(ZH_PREFIXES if zh else EN_PREFIXES)
    suf = rng.choice(ZH_SUFFIXES if zh else EN_SUFFIXES)
    chars = list(text)
    r = rng.random()
    if len(chars) > 4 and r < 0.15:
        del chars[rng.randrange(len(chars))]
    elif len(chars) > 4 and r < 0.25:
        i = rng.randrange(len(chars) - 1)
        chars[i], chars[i + 1] = chars[i + 1], chars[i]
    out = pre + "".join(chars) + suf
    if not zh and rng.random() < 0.3:
        out = out.upper() if rng.random() < 0.3 else out.capitalize()
    return out


def features(text):
    """The words of text, lower-cased, and for Chinese the bigrams within
    each run of characters: 我要退货，退款 gives 我要 要退 退货 退款, not 货退."""
    out = set()
    for run in re.findall(r"[^\W\d_]+", text.lower()):
        for cjk, seg in itertools.groupby(run, lambda ch: T._is_chinese_char(ord(ch))):
            seg = "".join(seg)
            if cjk:
                out.update(seg[i:i + 2] for i in range(len(seg) - 1))
            else:
                out.add(seg)
    return out


def clean_outliers(texts, train, stop=wordnet.STOP):
    """texts without those that share a distinctive word with an intent: a
    word (or Chinese bigram) that at least 3 in-scope training examples
    contain, at least half of them from one intent. Labelled oos, such text
    ("check the balance of the account") would contradict the intent's own
    examples and cost in-scope accuracy."""
    by = collections.defaultdict(collections.Counter)
    for t, i in train:
        if i != OOS:
            for f in features(t):
                by[f][i] += 1
    marked = set()
    for f, c in by.items():
        n = sum(c.values())
        if f not in stop and n >= 3 and c.most_common(1)[0][1] * 2 >= n:
            marked.add(f)
    return [t for t in texts if not features(t) & marked]


# ------------------------------------------------------------------ training

def native_bf16():
    """Whether this CPU multiplies bfloat16 natively (else torch emulates
    it, slower than float32)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = next((l.split(":", 1)[1].split() for l in f if l.startswith("flags")), [])
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def autocast(args):
    """The training forward pass's precision: with --bf16, matrix products
    in bfloat16 (weights, optimizer state and losses stay float32)."""
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16)


def batches(items, size, rng=None):
    """Batches of items; with rng, shuffled and bucketed by length so that
    a batch pads little (short customer messages dominate)."""
    idx = list(range(len(items)))
    if rng is None:
        for i in range(0, len(idx), size):
            yield [items[j] for j in idx[i:i + size]]
        return
    rng.shuffle(idx)
    out = []
    pool = size * 50
    for p in range(0, len(idx), pool):
        chunk = sorted(idx[p:p + pool], key=lambda j: len(items[j][0]) if isinstance(items[j], tuple) else len(items[j]))
        out.extend(chunk[i:i + size] for i in range(0, len(chunk), size))
    rng.shuffle(out)
    for b in out:
        yield [items[j] for j in b]


def collate(seqs, pad_id):
    n = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), n), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), n), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = torch.tensor(s)
        mask[i, :len(s)] = 1
    return ids, mask, torch.zeros_like(ids)


def predict(model, encoded, pad_id, bs=128):
    model.eval()
    probs = []
    with torch.no_grad():
        for chunk in batches(encoded, bs):
            ids, mask, tt = collate(chunk, pad_id)
            logits, _ = model(ids, mask, tt)
            probs.append(F.softmax(logits, dim=-1))
    return torch.cat(probs) if probs else torch.zeros(0)


def decide(probs, labels, threshold):
    """Predicted label per row: oos when the oos class wins or the top
    in-scope confidence is under threshold."""
    out = []
    oos_i = labels.index(OOS) if OOS in labels else -1
    for row in probs.tolist():
        best = max(range(len(row)), key=row.__getitem__)
        if labels[best] == OOS:
            out.append(OOS)
            continue
        out.append(OOS if row[best] < threshold else labels[best])
    return out


def scores(gold, pred):
    n = len(gold)
    ins = [(g, p) for g, p in zip(gold, pred) if g != OOS]
    oos_g = [p for g, p in zip(gold, pred) if g == OOS]
    oos_p = [g for g, p in zip(gold, pred) if p == OOS]
    return {
        "n": n,
        "accuracy": sum(g == p for g, p in zip(gold, pred)) / max(n, 1),
        "in_scope_accuracy": sum(g == p for g, p in ins) / max(len(ins), 1),
        "oos_recall": sum(p == OOS for p in oos_g) / len(oos_g) if oos_g else None,
        "oos_precision": sum(g == OOS for g in oos_p) / len(oos_p) if oos_p else None,
    }


def choose_threshold(probs, gold, labels, objective, max_loss=0.005):
    """The confidence threshold that maximises the objective on validation
    data. "balanced": mean of in-scope accuracy and oos recall, where the
    in-scope side may lose at most max_loss against no threshold (customers
    asking real questions matter more than catching every stray one);
    "accuracy": plain accuracy with oos as a label."""
    if OOS not in gold:
        return 0.0, None
    base = scores(gold, decide(probs, labels, 0.0))["in_scope_accuracy"]
    best_t, best_v, best_s = 0.0, -1.0, None
    for i in range(0, 96):
        t = i / 100
        s = scores(gold, decide(probs, labels, t))
        if objective == "accuracy":
            v = s["accuracy"]
        else:
            if s["in_scope_accuracy"] < base - max_loss - 1e-9:
                continue
            v = (s["in_scope_accuracy"] + (s["oos_recall"] or 0)) / 2
        if v > best_v + 1e-9:
            best_t, best_v, best_s = t, v, s
    return best_t, best_s


def load_state(path):
    """A checkpoint's tensors: pytorch_model.bin or model.safetensors."""
    if path.endswith(".safetensors"):
        return read_safetensors(path)
    return torch.load(path, map_location="cpu")


def read_safetensors(path):
    dtypes = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
              "I64": torch.int64, "I32": torch.int32}
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        t = torch.frombuffer(bytearray(data[a:b]), dtype=dtypes[info["dtype"]])
        out[name] = t.reshape(info["shape"]).float() if t.is_floating_point() else t.reshape(info["shape"])
    return out


def adapt_keys(state):
    """Maps common Hugging Face key variants onto ours."""
    out = {}
    if any(k.startswith("members.0.") for k in state):
        # An ensemble checkpoint: fine-tune from its first member.
        state = {k[len("members.0."):]: v for k, v in state.items() if k.startswith("members.0.")}
    for k, v in state.items():
        k = k.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias")
        if k.startswith("embeddings.") or k.startswith("encoder.") or k.startswith("pooler."):
            k = "bert." + k
        out[k] = v
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, nargs="+", help="training JSON Lines file(s)")
    ap.add_argument("--val", nargs="*", default=[], help="validation file(s); default: 10%% of --data")
    ap.add_argument("--out", required=True, help="output model folder")
    ap.add_argument("--base", help="start from this Hugging Face layout checkpoint folder")
    ap.add_argument("--unlabelled", nargs="*", default=[], help="text for masked-LM pretraining")
    ap.add_argument("--size", choices=sorted(PRESETS), default="tiny")
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--mlm-epochs", type=int, default=0)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--dropout", type=float, default=0.2)
    ap.add_argument("--label-smoothing", type=float, default=0.1)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--wordnet", help="WordNet folder (e.g. /usr/share/wordnet) for English synonym augmentation")
    ap.add_argument("--token-dropout", type=float, default=0.1, help="share of word pieces replaced by [UNK] in training")
    ap.add_argument("--branch-loss", type=float, default=0.0, help="weight of the encoder-only and n-gram-only losses")
    ap.add_argument("--augment", type=int, default=4, help="noisy copies per training example")
    ap.add_argument("--ngram-buckets", type=int, default=0, help="n-gram channel buckets (0: auto, -1: off)")
    ap.add_argument("--ngram-dim", type=int, default=64)
    ap.add_argument("--max-len", type=int, default=64)
    ap.add_argument("--cased", action="store_true", help="keep case (do_lower_case false)")
    ap.add_argument("--oos-objective", choices=["balanced", "accuracy"], default="balanced")
    ap.add_argument("--oos-max-loss", type=float, default=0.005,
                    help="in-scope validation accuracy the oos threshold may cost (balanced objective)")
    ap.add_argument("--outliers", nargs="*", default=[],
                    help="unrelated text (plain lines or JSON Lines), sampled as extra oos examples")
    ap.add_argument("--wordnet-outliers", action="store_true",
                    help="add WordNet's example sentences (from --wordnet) to the outlier text")
    ap.add_argument("--outlier-count", type=int, default=500, help="outlier texts sampled per epoch")
    ap.add_argument("--bf16", action="store_true",
                    help="bfloat16 matrix products in training, on CPUs that have them (about 1.7x faster)")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--members", type=int, default=1, help="train an ensemble of N seeds, exported as one graph")
    ap.add_argument("--jobs", type=int, default=1, help="ensemble members trained at once (one core each)")
    ap.add_argument("--member-index", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--member-out", help=argparse.SUPPRESS)
    ap.add_argument("--json", action="store_true", help="print the final scores as JSON on stdout")
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    args.synonyms = wordnet.load(args.wordnet) if args.wordnet else None
    if args.wordnet and not args.synonyms:
        raise SystemExit("--wordnet %s: no WordNet data there (apt-get install wordnet-base)" % args.wordnet)
    if args.outlier_count < 0:
        raise SystemExit("--outlier-count must be 0 or more")
    args.outlier_texts = [t for p in args.outliers for t in read_texts(p)]
    if args.wordnet_outliers:
        if not args.wordnet:
            raise SystemExit("--wordnet-outliers needs --wordnet")
        args.outlier_texts += wordnet.sentences(args.wordnet)
    if args.bf16 and not native_bf16():
        if args.member_index is None:
            log("bf16: this CPU has no native bfloat16 (avx512_bf16 or amx_bf16); training in float32")
        args.bf16 = False
    torch.set_num_threads(args.threads)
    started = time.time()

    train = [ex for p in args.data for ex in read_jsonl(p)]
    if args.val:
        val = [ex for p in args.val for ex in read_jsonl(p)]
    else:
        by = collections.defaultdict(list)
        for ex in train:
            by[ex[1]].append(ex)
        train, val = [], []
        for intent in sorted(by):
            xs = by[intent][:]
            rng.shuffle(xs)
            k = max(1, len(xs) // 10) if len(xs) >= 5 else 0
            val.extend(xs[:k])
            train.extend(xs[k:])
    labels = sorted({i for _, i in train})
    if len(labels) < 2:
        raise SystemExit("need at least two intents in --data")
    unknown = sorted({i for _, i in val} - set(labels))
    if unknown:
        raise SystemExit("validation intents not in training data: %s" % ", ".join(unknown))
    lab = {l: i for i, l in enumerate(labels)}
    if args.outlier_texts:
        if OOS not in lab:
            raise SystemExit("outlier text is labelled %s: --data needs %s examples too" % (OOS, OOS))
        n = len(args.outlier_texts)
        args.outlier_texts = clean_outliers(args.outlier_texts, train)
        log("outliers: %d texts (%d more shared an intent's words), %d a epoch" % (
            len(args.outlier_texts), n - len(args.outlier_texts), min(args.outlier_count, len(args.outlier_texts))))
    lower = not args.cased
    log("data: %d training and %d validation examples, %d intents" % (len(train), len(val), len(labels)))

    base_cfg, base_state = None, None
    if args.base:
        with open(os.path.join(args.base, "config.json"), encoding="utf-8") as f:
            base_cfg = json.load(f)
        ckpt = None
        for name in ("pytorch_model.bin", "model.safetensors"):
            if os.path.exists(os.path.join(args.base, name)):
                ckpt = os.path.join(args.base, name)
                break
        if ckpt is None:
            raise SystemExit("--base %s: no pytorch_model.bin or model.safetensors" % args.base)
        base_state = adapt_keys(load_state(ckpt))
        vocab = T.Tokenizer.from_file(os.path.join(args.base, "vocab.txt")).inv
        tc = os.path.join(args.base, "tokenizer_config.json")
        if os.path.exists(tc):
            with open(tc, encoding="utf-8") as f:
                lower = json.load(f).get("do_lower_case", lower)
        log("base: %s (%d tensors, vocab %d)" % (ckpt, len(base_state), len(vocab)))
    else:
        texts = [t for t, _ in train]
        for p in args.unlabelled:
            texts.extend(read_texts(p))
        vocab = build_vocab(texts, lower)
    tok = T.Tokenizer(vocab, lower=lower, max_len=args.max_len)

    if base_cfg:
        kc = base_cfg.get("kefu", {}).get("ngram", {})
        buckets = kc.get("buckets", 0) if args.ngram_buckets == 0 else max(args.ngram_buckets, 0)
        dim = kc.get("dim", args.ngram_dim)
        cfg = M.Config(**{**base_cfg, "num_labels": len(labels), "ngram_buckets": buckets, "ngram_dim": dim,
                          "hidden_dropout_prob": args.dropout, "attention_probs_dropout_prob": args.dropout})
    else:
        layers, hidden, heads, inter = PRESETS[args.size]
        if args.ngram_buckets == 0:
            grams = set()
            for t, _ in train:
                ids = tok.encode(t)
                grams.update(zip(ids, ids[1:]))
            buckets = min(1 << 18, max(1 << 12, 1 << (2 * len(grams) - 1).bit_length()))
        else:
            buckets = max(args.ngram_buckets, 0)
        cfg = M.Config(len(vocab), hidden, layers, heads, inter, max_position_embeddings=max(128, args.max_len),
                       hidden_dropout_prob=args.dropout, attention_probs_dropout_prob=args.dropout,
                       num_labels=len(labels), ngram_buckets=buckets, ngram_dim=args.ngram_dim)
    val_enc = [tok.encode(t) for t, _ in val]
    val_gold = [i for _, i in val]
    if args.member_index is not None:
        # Child of an ensemble run: train one member and save its weights.
        model = train_member(cfg, tok, train, lab, labels, val_enc, val_gold, base_state, args,
                             args.member_index, started)
        torch.save(model.state_dict(), args.member_out)
        return
    if args.members > 1:
        model = M.Ensemble([m for m in train_ensemble(cfg, args)])
        log("ensemble: %d members, probabilities averaged" % args.members)
    else:
        model = train_member(cfg, tok, train, lab, labels, val_enc, val_gold, base_state, args, 0, started)

    threshold, vs = 0.0, None
    if val:
        probs = predict(model, val_enc, tok.pad_id)
        threshold, vs = choose_threshold(probs, val_gold, labels, args.oos_objective, args.oos_max_loss)
        if vs is None:
            vs = scores(val_gold, decide(probs, labels, 0.0))
    export(model, cfg, tok, labels, threshold, vs, args, time.time() - started)
    result = {"threshold": threshold, "val": vs, "seconds": round(time.time() - started, 1)}
    if vs:
        log("validation: accuracy %.1f%%, in-scope accuracy %.1f%%%s (oos threshold %.2f)" % (
            100 * vs["accuracy"], 100 * vs["in_scope_accuracy"],
            ", oos recall %.1f%%" % (100 * vs["oos_recall"]) if vs.get("oos_recall") is not None else "",
            threshold))
    log("wrote %s in %.0fs" % (args.out, time.time() - started))
    if args.json:
        print(json.dumps(result))


def train_member(cfg, tok, train, lab, labels, val_enc, val_gold, base_state, args, index, started):
    """Trains one model. Members of an ensemble differ only in their seed
    (initialisation, data order, augmentation, dropout)."""
    torch.manual_seed(args.seed + index)
    rng = random.Random(args.seed * 7919 + index)
    model = M.BertClassifier(cfg)
    if base_state is not None:
        mine = model.state_dict()
        load = {k: v for k, v in base_state.items() if k in mine and mine[k].shape == v.shape
                and not k.startswith("classifier.")}
        model.load_state_dict(load, strict=False)
        log("base: loaded %d of %d tensors (classifier re-initialised for %d intents)"
            % (len(load), len(mine), len(labels)))
    nparams = sum(p.numel() for p in model.parameters())
    log("model: %d layers, hidden %d, vocab %d, n-gram buckets %d, %.2fM parameters%s"
        % (cfg.num_hidden_layers, cfg.hidden_size, cfg.vocab_size, cfg.ngram_buckets, nparams / 1e6,
           ", bfloat16 products" if args.bf16 else ""))

    if args.mlm_epochs > 0:
        texts = [t for t, _ in train] + [t for p in args.unlabelled for t in read_texts(p)]
        pretrain_mlm(model, tok, texts, args, rng)

    # Fine-tune.
    # The n-gram table is large and each batch touches few rows: it gets
    # sparse gradients and its own optimizer.
    sparse = [p for n, p in model.named_parameters() if n == "ngram.embeddings.weight"]
    dense = [p for n, p in model.named_parameters() if n != "ngram.embeddings.weight"]
    opts = [torch.optim.AdamW(dense, lr=args.lr, weight_decay=args.weight_decay)]
    if sparse:
        opts.append(torch.optim.SparseAdam(sparse, lr=args.lr))
    extra = min(args.outlier_count, len(args.outlier_texts))
    steps_per_epoch = (len(train) * (1 + args.augment) + extra + args.batch - 1) // args.batch
    total = max(1, steps_per_epoch * args.epochs)
    warm = max(1, total // 20)
    lr_at = lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm)))  # noqa: E731
    scheds = [torch.optim.lr_scheduler.LambdaLR(o, lr_at) for o in opts]
    loss_fn = nn.CrossEntropyLoss(label_smoothing=args.label_smoothing)
    for epoch in range(1, args.epochs + 1):
        model.train()
        items = [(tok.encode(t), lab[i]) for t, i in train]
        for _ in range(args.augment):
            items.extend((tok.encode(augment(t, rng, args.synonyms)), lab[i]) for t, i in train)
        if extra:
            # A fresh sample of unrelated text each epoch, labelled oos.
            items.extend((tok.encode(t), lab[OOS]) for t in rng.sample(args.outlier_texts, extra))
        tot, correct, seen = 0.0, 0, 0
        for chunk in batches(items, args.batch, rng):
            ids, mask, tt = collate([s for s, _ in chunk], tok.pad_id)
            y = torch.tensor([l for _, l in chunk])
            if args.token_dropout > 0:
                drop = (torch.rand(ids.shape) < args.token_dropout) & (ids != tok.pad_id) \
                    & (ids != tok.cls_id) & (ids != tok.sep_id)
                ids = ids.masked_fill(drop, tok.unk_id)
            with autocast(args):
                if model.ngram is not None and args.branch_loss > 0:
                    logits, lb, ln = model.branch_logits(ids, mask, tt)
                    loss = loss_fn(logits.float(), y) + args.branch_loss * (loss_fn(lb.float(), y) + loss_fn(ln.float(), y))
                else:
                    logits, _ = model(ids, mask, tt)
                    loss = loss_fn(logits.float(), y)
            for o in opts:
                o.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(dense, 1.0)
            for o, sc in zip(opts, scheds):
                o.step()
                sc.step()
            tot += loss.item() * len(chunk)
            correct += (logits.argmax(-1) == y).sum().item()
            seen += len(chunk)
        msg = "epoch %d/%d  loss %.4f  train acc %.1f%%" % (epoch, args.epochs, tot / seen, 100 * correct / seen)
        if val_gold and (epoch % 5 == 0 or epoch == args.epochs):
            s = scores(val_gold, decide(predict(model, val_enc, tok.pad_id), labels, 0.0))
            msg += "  val acc %.1f%%" % (100 * s["accuracy"])
        log(msg + "  (%ds)" % (time.time() - started))
    return model


def train_ensemble(cfg, args):
    """Trains the members in child processes, args.jobs at a time (one
    core each), and returns them in order."""
    import subprocess
    import tempfile
    tmp = tempfile.mkdtemp(prefix="kefu-members-")
    argv = [a for a in sys.argv[1:]]
    pending = list(range(args.members))
    running = []
    paths = [os.path.join(tmp, "member-%d.pt" % i) for i in range(args.members)]
    while pending or running:
        while pending and len(running) < max(1, args.jobs):
            i = pending.pop(0)
            cmd = [sys.executable, os.path.abspath(__file__)] + argv + ["--member-index", str(i), "--member-out", paths[i]]
            p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, bufsize=1)
            running.append((i, p))
        i, p = running[0]
        for line in p.stderr:
            if not line.startswith(("data:", "model:", "base:", "outliers:")):
                log("[member %d] %s" % (i, line.rstrip()))
        if p.wait() != 0:
            raise SystemExit("ensemble member %d failed" % i)
        running.pop(0)
    members = []
    for path in paths:
        m = M.BertClassifier(cfg)
        m.load_state_dict(torch.load(path, map_location="cpu"))
        members.append(m)
        os.remove(path)
    os.rmdir(tmp)
    return members


def pretrain_mlm(model, tok, texts, args, rng):
    """Masked-language-model pretraining of the encoder on raw text."""
    head = M.MLMHead(model.config, model.bert.embeddings.word_embeddings)
    params = list(model.bert.parameters()) + [p for n, p in head.named_parameters() if n != "decoder_weight"]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=args.weight_decay)
    enc = [tok.encode(t) for t in texts]
    special = {tok.cls_id, tok.sep_id, tok.pad_id}
    for epoch in range(1, args.mlm_epochs + 1):
        model.train()
        tot, n = 0.0, 0
        for chunk in batches(enc, args.batch, rng):
            ids, mask, tt = collate(chunk, tok.pad_id)
            labels = torch.full_like(ids, -100)
            inp = ids.clone()
            for i, s in enumerate(chunk):
                for j, t in enumerate(s):
                    if t in special or rng.random() >= 0.15:
                        continue
                    labels[i, j] = t
                    r = rng.random()
                    if r < 0.8:
                        inp[i, j] = tok.mask_id
                    elif r < 0.9:
                        inp[i, j] = rng.randrange(len(tok.inv))
            if (labels != -100).sum() == 0:
                continue
            with autocast(args):
                h, _ = model.bert(inp, mask, tt)
                pred = head(h).float()
            loss = F.cross_entropy(pred.view(-1, len(tok.inv)), labels.view(-1), ignore_index=-100)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            tot += loss.item()
            n += 1
        log("mlm epoch %d/%d  loss %.4f" % (epoch, args.mlm_epochs, tot / max(n, 1)))


def export(model, cfg, tok, labels, threshold, val_scores, args, seconds):
    os.makedirs(args.out, exist_ok=True)
    model.eval()
    with open(os.path.join(args.out, "vocab.txt"), "w", encoding="utf-8") as f:
        for t in tok.inv:
            f.write(t + "\n")
    conf = cfg.hf()
    conf["id2label"] = {str(i): l for i, l in enumerate(labels)}
    conf["label2id"] = {l: i for i, l in enumerate(labels)}
    conf["problem_type"] = "single_label_classification"
    conf["kefu"] = {
        "oos_label": OOS,
        "oos_threshold": threshold,
        "ngram": {"buckets": cfg.ngram_buckets, "dim": cfg.ngram_dim},
        "ensemble": args.members,
        "validation": val_scores,
        "recipe": {k: v for k, v in vars(args).items()
                   if k not in ("out", "json", "threads", "member_index", "member_out", "synonyms", "outlier_texts")},
        "train_seconds": round(seconds, 1),
    }
    with open(os.path.join(args.out, "config.json"), "w", encoding="utf-8") as f:
        json.dump(conf, f, ensure_ascii=False, indent=2, sort_keys=True)
        f.write("\n")
    with open(os.path.join(args.out, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump({"tokenizer_class": "BertTokenizer", "do_lower_case": tok.lower, "strip_accents": None,
                   "tokenize_chinese_chars": True, "model_max_length": args.max_len,
                   "unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]",
                   "cls_token": "[CLS]", "mask_token": "[MASK]"}, f, indent=2, sort_keys=True)
        f.write("\n")
    with open(os.path.join(args.out, "special_tokens_map.json"), "w", encoding="utf-8") as f:
        json.dump({"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]",
                   "cls_token": "[CLS]", "mask_token": "[MASK]"}, f, indent=2, sort_keys=True)
        f.write("\n")
    torch.save(model.state_dict(), os.path.join(args.out, "pytorch_model.bin"))
    # Parity fixture: torch's logits for a few texts, which kefu's tests
    # compare with ONNX Runtime's through the Go tokenizer.
    probe = ["你好", "我的快递到哪了？", "refund什么时候到", "請問什麼時候發貨", "Hello, where is my order #123?", "😭"]
    with torch.no_grad():
        golden = []
        for t in probe:
            ids = tok.encode(t)
            logits, _ = model(torch.tensor([ids]), torch.ones(1, len(ids), dtype=torch.long),
                              torch.zeros(1, len(ids), dtype=torch.long))
            golden.append({"text": t, "ids": ids, "logits": [round(v, 6) for v in logits[0].tolist()]})
    with open(os.path.join(args.out, "golden.json"), "w", encoding="utf-8") as f:
        json.dump(golden, f, ensure_ascii=False)
        f.write("\n")
    ids, mask, tt = collate([tok.encode("你好，我的快递到哪了"), tok.encode("hi")], tok.pad_id)
    torch.onnx.export(
        M.Exported(model), (ids, mask, tt), os.path.join(args.out, "model.onnx"),
        opset_version=14, do_constant_folding=True,
        input_names=["input_ids", "attention_mask", "token_type_ids"],
        output_names=["logits", "last_hidden_state"],
        dynamic_axes={"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
                      "token_type_ids": {0: "batch", 1: "sequence"}, "logits": {0: "batch"},
                      "last_hidden_state": {0: "batch", 1: "sequence"}})
    # One fused Attention node per block instead of torch's twenty-odd:
    # about a quarter off each call on small models, the same outputs.
    path = os.path.join(args.out, "model.onnx")
    onnx_model = onnx.load(path)
    fuse.fuse(onnx_model, cfg.num_attention_heads)
    onnx.save(onnx_model, path)


if __name__ == "__main__":
    main()
