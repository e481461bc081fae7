"""A BERT for sequence classification in plain torch, with Hugging Face's
parameter names (bert.embeddings..., bert.encoder.layer.N..., classifier),
so a Hugging Face BERT checkpoint loads into it and its checkpoints load
back into Hugging Face tools.

Beside the encoder sits an optional n-gram channel (fastText style): the
word-piece ids of the input, their bigrams and trigrams are hashed in the
graph into one embedding table and averaged. Its vector is concatenated to
the pooled [CLS] vector before the classifier. It is computed from
input_ids alone, so the exported model keeps BERT's inputs.
"""

import math

import torch
from torch import nn
import torch.nn.functional as F

# Multiplier of the in-graph n-gram hash. Ids and bucket numbers stay far
# below 2**40, so the products fit in int64.
_HASH_MUL = 1000003


class Config:
    def __init__(self, vocab_size, hidden_size=256, num_hidden_layers=4,
                 num_attention_heads=4, intermediate_size=1024,
                 max_position_embeddings=128, type_vocab_size=2,
                 hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
                 layer_norm_eps=1e-12, num_labels=2, ngram_buckets=0,
                 ngram_dim=0, **_):
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.max_position_embeddings = max_position_embeddings
        self.type_vocab_size = type_vocab_size
        self.hidden_dropout_prob = hidden_dropout_prob
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.layer_norm_eps = layer_norm_eps
        self.num_labels = num_labels
        self.ngram_buckets = ngram_buckets
        self.ngram_dim = ngram_dim

    def hf(self):
        """The Hugging Face config.json fields of this model."""
        return {
            "model_type": "bert",
            "architectures": ["BertForSequenceClassification"],
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "num_hidden_layers": self.num_hidden_layers,
            "num_attention_heads": self.num_attention_heads,
            "intermediate_size": self.intermediate_size,
            "hidden_act": "gelu",
            "hidden_dropout_prob": self.hidden_dropout_prob,
            "attention_probs_dropout_prob": self.attention_probs_dropout_prob,
            "max_position_embeddings": self.max_position_embeddings,
            "type_vocab_size": self.type_vocab_size,
            "layer_norm_eps": self.layer_norm_eps,
            "initializer_range": 0.02,
            "pad_token_id": 0,
        }


class Embeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.word_embeddings = nn.Embedding(c.vocab_size, c.hidden_size)
        self.position_embeddings = nn.Embedding(c.max_position_embeddings, c.hidden_size)
        self.token_type_embeddings = nn.Embedding(c.type_vocab_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)

    def forward(self, ids, token_type_ids):
        pos = torch.arange(ids.shape[1], device=ids.device).unsqueeze(0)
        x = self.word_embeddings(ids) + self.position_embeddings(pos) + self.token_type_embeddings(token_type_ids)
        return self.dropout(self.LayerNorm(x))


class SelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.heads = c.num_attention_heads
        self.head_dim = c.hidden_size // c.num_attention_heads
        self.query = nn.Linear(c.hidden_size, c.hidden_size)
        self.key = nn.Linear(c.hidden_size, c.hidden_size)
        self.value = nn.Linear(c.hidden_size, c.hidden_size)
        self.dropout = nn.Dropout(c.attention_probs_dropout_prob)

    def forward(self, x, bias):
        b, s, h = x.shape

        def split(t):
            return t.view(b, s, self.heads, self.head_dim).transpose(1, 2)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.head_dim) + bias
        p = self.dropout(F.softmax(scores, dim=-1))
        return (p @ v).transpose(1, 2).reshape(b, s, h)


class DenseNorm(nn.Module):
    """Linear, dropout, residual add and LayerNorm (BertSelfOutput/BertOutput)."""

    def __init__(self, n_in, c):
        super().__init__()
        self.dense = nn.Linear(n_in, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)

    def forward(self, x, residual):
        return self.LayerNorm(self.dropout(self.dense(x)) + residual)


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        setattr(self, "self", SelfAttention(c))
        self.output = DenseNorm(c.hidden_size, c)

    def forward(self, x, bias):
        return self.output(getattr(self, "self")(x, bias), x)


class Intermediate(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.intermediate_size)

    def forward(self, x):
        return F.gelu(self.dense(x))


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = Attention(c)
        self.intermediate = Intermediate(c)
        self.output = DenseNorm(c.intermediate_size, c)

    def forward(self, x, bias):
        a = self.attention(x, bias)
        return self.output(self.intermediate(a), a)


class Encoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList([Layer(c) for _ in range(c.num_hidden_layers)])

    def forward(self, x, bias):
        for layer in self.layer:
            x = layer(x, bias)
        return x


class Pooler(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.hidden_size)

    def forward(self, h):
        return torch.tanh(self.dense(h[:, 0]))


class Bert(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embeddings = Embeddings(c)
        self.encoder = Encoder(c)
        self.pooler = Pooler(c)

    def forward(self, ids, mask, token_type_ids):
        bias = (1.0 - mask[:, None, None, :].float()) * -10000.0
        h = self.encoder(self.embeddings(ids, token_type_ids), bias)
        return h, self.pooler(h)


class NGrams(nn.Module):
    """Hashed unigram, bigram and trigram embeddings of the word pieces."""

    def __init__(self, c):
        super().__init__()
        self.vocab = c.vocab_size
        self.buckets = c.ngram_buckets
        self.embeddings = nn.Embedding(c.vocab_size + 2 * c.ngram_buckets, c.ngram_dim, sparse=True)
        self.LayerNorm = nn.LayerNorm(c.ngram_dim, eps=c.layer_norm_eps)
        nn.init.normal_(self.embeddings.weight, std=0.02)

    def forward(self, ids, mask):
        m = mask.float()
        h2 = (ids[:, :-1] * _HASH_MUL + ids[:, 1:]) % self.buckets
        h3 = (h2[:, :-1] * _HASH_MUL + ids[:, 2:]) % self.buckets
        idx = torch.cat([ids, h2 + self.vocab, h3 + (self.vocab + self.buckets)], dim=1)
        m2 = m[:, :-1] * m[:, 1:]
        valid = torch.cat([m, m2, m2[:, :-1] * m[:, 2:]], dim=1)
        e = self.embeddings(idx) * valid.unsqueeze(-1)
        v = e.sum(1) / valid.sum(1, keepdim=True).clamp(min=1.0)
        return self.LayerNorm(v)


class BertClassifier(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.config = c
        self.bert = Bert(c)
        self.ngram = NGrams(c) if c.ngram_buckets > 0 else None
        self.dropout = nn.Dropout(c.hidden_dropout_prob)
        width = c.hidden_size + (c.ngram_dim if self.ngram is not None else 0)
        self.classifier = nn.Linear(width, c.num_labels)
        self.apply(self._init)

    @staticmethod
    def _init(m):
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(self, ids, mask, token_type_ids):
        h, pooled = self.bert(ids, mask, token_type_ids)
        feats = pooled
        if self.ngram is not None:
            feats = torch.cat([pooled, self.ngram(ids, mask)], dim=-1)
        return self.classifier(self.dropout(feats)), h

    def branch_logits(self, ids, mask, token_type_ids):
        """Logits of the encoder alone and of the n-gram channel alone,
        through their halves of the classifier. Training adds their losses
        so that neither branch leans on the other (the n-gram channel would
        otherwise memorise the training set and starve the encoder)."""
        h, pooled = self.bert(ids, mask, token_type_ids)
        ng = self.ngram(ids, mask)
        w, b = self.classifier.weight, self.classifier.bias
        hs = self.config.hidden_size
        feats = self.dropout(torch.cat([pooled, ng], dim=-1))
        return (F.linear(feats, w, b), F.linear(feats[:, :hs], w[:, :hs], b),
                F.linear(feats[:, hs:], w[:, hs:], b))


class Exported(nn.Module):
    """The graph we export: logits and the last hidden state."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, token_type_ids):
        return self.model(input_ids, attention_mask, token_type_ids)


class MLMHead(nn.Module):
    """Masked-language-model head for optional pretraining (not exported)."""

    def __init__(self, c, word_embeddings):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.decoder_weight = word_embeddings.weight
        self.bias = nn.Parameter(torch.zeros(c.vocab_size))

    def forward(self, h):
        # float(): under bfloat16 autocast the product comes back bfloat16,
        # which layer_norm with float32 weights refuses.
        return self.LayerNorm(F.gelu(self.dense(h)).float()) @ self.decoder_weight.t() + self.bias


class Ensemble(nn.Module):
    """Members trained from different seeds; the exported logits are the
    log of their mean softmax, so softmax(logits) is the averaged
    probability. last_hidden_state comes from the first member."""

    def __init__(self, members):
        super().__init__()
        self.members = nn.ModuleList(members)
        self.config = members[0].config
        self.ngram = members[0].ngram

    def forward(self, ids, mask, token_type_ids):
        outs = [m(ids, mask, token_type_ids) for m in self.members]
        p = torch.stack([F.softmax(logits, dim=-1) for logits, _ in outs]).mean(0)
        return torch.log(p.clamp_min(1e-12)), outs[0][1]
