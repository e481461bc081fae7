"""BERT tokenization, written to give the ids of Hugging Face's BertTokenizer.

This is the reference tokenizer of the recipe: the golden file that the Go
tokenizer is tested against is produced by it. It follows transformers'
BasicTokenizer and WordpieceTokenizer step by step (clean, split CJK, NFC,
lowercase, strip accents, split punctuation, greedy longest-match WordPiece).

One deliberate difference: special-token strings typed in the text ("[SEP]")
are plain text here, as in kefu; Hugging Face maps them to the special ids.
"""

import unicodedata

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def _is_whitespace(ch):
    if ch in (" ", "\t", "\n", "\r"):
        return True
    return unicodedata.category(ch) == "Zs"


def _is_control(ch):
    if ch in ("\t", "\n", "\r"):
        return False
    return unicodedata.category(ch).startswith("C")


def _is_punctuation(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_chinese_char(cp):
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x2A6DF
        or 0x2A700 <= cp <= 0x2B73F
        or 0x2B740 <= cp <= 0x2B81F
        or 0x2B820 <= cp <= 0x2CEAF
        or 0xF900 <= cp <= 0xFAFF
        or 0x2F800 <= cp <= 0x2FA1F
    )


def _strip_accents(text):
    text = unicodedata.normalize("NFD", text)
    return "".join(ch for ch in text if unicodedata.category(ch) != "Mn")


def _split_on_punc(text):
    out, cur = [], []
    for ch in text:
        if _is_punctuation(ch):
            if cur:
                out.append("".join(cur))
                cur = []
            out.append(ch)
        else:
            cur.append(ch)
    if cur:
        out.append("".join(cur))
    return out


def basic_tokenize(text, lower=True, strip_accents=None, split_cjk=True):
    """Returns the words of text (transformers' BasicTokenizer.tokenize)."""
    chars = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD or _is_control(ch):
            continue
        if _is_whitespace(ch):
            chars.append(" ")
        elif split_cjk and _is_chinese_char(cp):
            chars.extend((" ", ch, " "))
        else:
            chars.append(ch)
    text = unicodedata.normalize("NFC", "".join(chars))
    words = []
    for tok in text.split():
        if lower:
            tok = tok.lower()
            if strip_accents is not False:
                tok = _strip_accents(tok)
        elif strip_accents:
            tok = _strip_accents(tok)
        words.extend(_split_on_punc(tok))
    return " ".join(words).split()


class Tokenizer:
    """A BERT WordPiece tokenizer over a vocab list (index = id)."""

    def __init__(self, vocab, lower=True, strip_accents=None, split_cjk=True,
                 max_len=64, max_chars_per_word=100):
        self.vocab = {}
        for i, tok in enumerate(vocab):
            self.vocab.setdefault(tok, i)
        self.inv = list(vocab)
        self.lower = lower
        self.strip_accents = strip_accents
        self.split_cjk = split_cjk
        self.max_len = max_len
        self.max_chars_per_word = max_chars_per_word
        for s in ("[PAD]", "[UNK]", "[CLS]", "[SEP]"):
            if s not in self.vocab:
                raise ValueError("special token %s missing from vocab" % s)
        self.pad_id = self.vocab["[PAD]"]
        self.unk_id = self.vocab["[UNK]"]
        self.cls_id = self.vocab["[CLS]"]
        self.sep_id = self.vocab["[SEP]"]
        self.mask_id = self.vocab.get("[MASK]", self.unk_id)

    @classmethod
    def from_file(cls, path, **kw):
        with open(path, encoding="utf-8") as f:
            vocab = [line.rstrip("\n").rstrip("\r") for line in f]
        return cls(vocab, **kw)

    def words(self, text):
        return basic_tokenize(text, self.lower, self.strip_accents, self.split_cjk)

    def wordpiece(self, word):
        if len(word) > self.max_chars_per_word:
            return ["[UNK]"]
        pieces, start = [], 0
        while start < len(word):
            end, cur = len(word), None
            while start < end:
                sub = word[start:end]
                if start > 0:
                    sub = "##" + sub
                if sub in self.vocab:
                    cur = sub
                    break
                end -= 1
            if cur is None:
                return ["[UNK]"]
            pieces.append(cur)
            start = end
        return pieces

    def tokenize(self, text):
        out = []
        for w in self.words(text):
            out.extend(self.wordpiece(w))
        return out

    def encode(self, text, max_len=None):
        """[CLS] + pieces + [SEP], truncated to max_len (default self.max_len)."""
        max_len = max_len or self.max_len
        ids = [self.vocab[p] for p in self.tokenize(text)][: max_len - 2]
        return [self.cls_id] + ids + [self.sep_id]
