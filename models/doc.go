// Package models owns what kefu knows about models, independent of the
// runtime that executes them: the Hugging Face layout model folder
// (OpenFolder: config.json with id2label and the out-of-scope threshold,
// vocab.txt or tokenizer.json, tokenizer_config.json), the prediction types,
// softmax ranking, the out-of-scope decision, and mean pooling.
//
// Subpackages hold one thing each: wordpiece (the BERT tokenizer, pure Go),
// onnx (ONNX Runtime sessions, the classifier and the embedder; cgo),
// evaluate (scoring predictions against labelled data) and train (the
// Python training recipe, embedded in the binary).
package models
