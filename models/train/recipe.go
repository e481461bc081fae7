// Package train holds the training recipe for kefu's intent models: Python
// scripts (Debian's python3-torch) that train a BERT-architecture
// classifier from a JSON Lines intent file and export it in Hugging Face
// layout. The scripts are embedded so `kefu train` works from the binary.
package train

import "embed"

// Recipe holds train.py, model.py, tokenization.py and golden.py.
//
//go:embed *.py
var Recipe embed.FS
