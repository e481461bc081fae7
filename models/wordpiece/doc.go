// Package wordpiece is a BERT tokenizer in pure Go that gives the ids of
// Hugging Face's BertTokenizer: text cleaning, CJK characters one per
// token, lowercasing and accent stripping as configured, punctuation
// splitting (full-width included), then greedy longest-match WordPiece with
// [UNK] for unknown words. Golden files produced by the training recipe's
// reference tokenizer (models/train/tokenization.py) prove the parity.
//
// It is hand-written rather than taken from a tokenizer library: the Go
// libraries we measured were about 80x slower per utterance and one of them
// skipped NFD before stripping accents, giving different ids.
package wordpiece
