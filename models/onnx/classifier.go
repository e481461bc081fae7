//go:build cgo

package onnx

import (
	"context"
	"fmt"
	"slices"
	"sort"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/kefu-chat/kefu/models"
)

// Classifier is an intent classifier: a sequence-classification model with
// a "logits" output of one score per label. It is safe for concurrent use.
type Classifier struct {
	folder    *models.Folder
	s         *session
	threshold float32
}

var _ models.Classifier = (*Classifier)(nil)

// ClassifierOptions configure NewClassifier.
type ClassifierOptions struct {
	Options
	// Threshold overrides the out-of-scope threshold stored with the model.
	Threshold *float32
}

// NewClassifier opens the folder's model, checks that its graph matches
// the folder (inputs, a logits output with one score per label) and runs a
// probe inference.
func NewClassifier(f *models.Folder, o ClassifierOptions) (*Classifier, error) {
	if len(f.Labels) < 2 {
		return nil, fmt.Errorf("onnx: %s: config.json has no id2label with at least two labels; is this a classification model?", f.Dir)
	}
	s, err := newSession(f.ModelPath, []string{"logits"}, f.Tokenizer.PadID(), o.Options)
	if err != nil {
		return nil, err
	}
	if d := s.outDims[0]; len(d) != 2 || (d[1] > 0 && int(d[1]) != len(f.Labels)) {
		s.close()
		return nil, fmt.Errorf("onnx: %s: logits have shape %v but config.json names %d labels", f.Dir, d, len(f.Labels))
	}
	c := &Classifier{folder: f, s: s}
	if f.Threshold != nil {
		c.threshold = *f.Threshold
	}
	if o.Threshold != nil {
		c.threshold = *o.Threshold
	}
	if _, err := c.Classify(context.Background(), "你好 hello"); err != nil {
		s.close()
		return nil, fmt.Errorf("onnx: %s: probe inference: %w", f.Dir, err)
	}
	return c, nil
}

// Threshold reports the out-of-scope threshold in use.
func (c *Classifier) Threshold() float32 { return c.threshold }

// Labels reports the model's labels by output index.
func (c *Classifier) Labels() []string { return c.folder.Labels }

// Folder reports the model folder.
func (c *Classifier) Folder() *models.Folder { return c.folder }

// Classify ranks the model's intents for text.
func (c *Classifier) Classify(ctx context.Context, text string) (models.Prediction, error) {
	release, err := c.s.slot(ctx)
	if err != nil {
		return models.Prediction{}, err
	}
	defer release()
	logits, err := c.logits([]string{text})
	if err != nil {
		return models.Prediction{}, err
	}
	return models.Decide(models.Rank(c.folder.Labels, logits[0]), c.folder.OOSLabel, c.threshold), nil
}

// Logits runs the model on a batch of texts and returns one row of logits
// per text. Batches are padded to their longest member; on small CPUs
// concurrent single-text calls beat batching.
func (c *Classifier) Logits(ctx context.Context, texts []string) ([][]float32, error) {
	release, err := c.s.slot(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	return c.logits(texts)
}

func (c *Classifier) logits(texts []string) ([][]float32, error) {
	ids := make([][]int64, len(texts))
	mask := make([][]int64, len(texts))
	for i, t := range texts {
		e := c.folder.Tokenizer.Encode(t)
		ids[i], mask[i] = e.IDs, e.Mask
	}
	n := len(c.folder.Labels)
	var out [][]float32
	err := c.s.run(ids, mask,
		func(batch, _ int) ([]ort.Value, error) {
			t, err := ort.NewEmptyTensor[float32](ort.NewShape(int64(batch), int64(n)))
			if err != nil {
				return nil, fmt.Errorf("onnx: output tensor: %w", err)
			}
			return []ort.Value{t}, nil
		},
		func(vals []ort.Value) error {
			data := vals[0].(*ort.Tensor[float32]).GetData()
			out = make([][]float32, len(texts))
			for i := range out {
				out[i] = append([]float32(nil), data[i*n:(i+1)*n]...)
			}
			return nil
		})
	return out, err
}

// Close releases the session. Calls in flight finish first.
func (c *Classifier) Close() error { return c.s.close() }

// Embedder turns texts into sentence vectors, L2-normalised: by default the
// mean of the last hidden state over real tokens, which any BERT-family
// export with a last_hidden_state output gives. It is safe for concurrent
// use.
type Embedder struct {
	folder  *models.Folder
	s       *session
	dim     int
	pooling Pooling
	// batch is the most texts per run; texts are sorted by length first so
	// that a batch pads little.
	batch int
}

// Pooling is how an Embedder turns a model's outputs into one vector.
type Pooling string

const (
	// PoolMean averages last_hidden_state over real tokens (the default).
	PoolMean Pooling = "mean"
	// PoolCLS takes last_hidden_state at the first token ([CLS]).
	PoolCLS Pooling = "cls"
	// PoolSoftmax takes a sequence classifier's class probabilities: for a
	// model trained to classify a knowledge base's questions by entry,
	// texts about the same entry get similar vectors, and texts about
	// different entries nearly orthogonal ones.
	PoolSoftmax Pooling = "softmax"
	// PoolLogits takes the same classifier's raw logits: its rankings are
	// a little better, its similarities spread less.
	PoolLogits Pooling = "logits"
)

// NewEmbedder opens the folder's model for embeddings with the given
// pooling ("" means mean).
func NewEmbedder(f *models.Folder, o Options, pooling Pooling) (*Embedder, error) {
	if pooling == "" {
		pooling = PoolMean
	}
	out := "last_hidden_state"
	switch pooling {
	case PoolMean, PoolCLS:
	case PoolSoftmax, PoolLogits:
		out = "logits"
	default:
		return nil, fmt.Errorf("onnx: unknown pooling %q (have: mean, cls, softmax, logits)", pooling)
	}
	s, err := newSession(f.ModelPath, []string{out}, f.Tokenizer.PadID(), o)
	if err != nil {
		return nil, err
	}
	d := s.outDims[0]
	switch {
	case (pooling == PoolSoftmax || pooling == PoolLogits) && len(d) != 2:
		s.close()
		return nil, fmt.Errorf("onnx: %s: logits has shape %v, want [batch, labels]", f.Dir, d)
	case pooling != PoolSoftmax && pooling != PoolLogits && len(d) != 3:
		s.close()
		return nil, fmt.Errorf("onnx: %s: last_hidden_state has shape %v, want [batch, sequence, hidden]", f.Dir, d)
	}
	e := &Embedder{folder: f, s: s, dim: int(d[len(d)-1]), batch: 8, pooling: pooling}
	if _, err := e.Embed(context.Background(), []string{"你好 hello"}); err != nil {
		s.close()
		return nil, fmt.Errorf("onnx: %s: probe inference: %w", f.Dir, err)
	}
	return e, nil
}

// Dim reports the vector size (0 until known for graphs with a dynamic
// hidden size).
func (e *Embedder) Dim() int { return e.dim }

// Embed returns one unit-length vector per text, in order. Each batch of
// up to 8 texts takes one slot.
func (e *Embedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	encs := make([]struct {
		i   int
		ids []int64
		m   []int64
	}, len(texts))
	for i, t := range texts {
		en := e.folder.Tokenizer.Encode(t)
		encs[i].i, encs[i].ids, encs[i].m = i, en.IDs, en.Mask
	}
	sort.SliceStable(encs, func(a, b int) bool { return len(encs[a].ids) < len(encs[b].ids) })
	out := make([][]float32, len(texts))
	for start := 0; start < len(encs); start += e.batch {
		part := encs[start:min(start+e.batch, len(encs))]
		ids := make([][]int64, len(part))
		mask := make([][]int64, len(part))
		for j, p := range part {
			ids[j], mask[j] = p.ids, p.m
		}
		release, err := e.s.slot(ctx)
		if err != nil {
			return nil, err
		}
		err = e.s.run(ids, mask,
			func(batch, seq int) ([]ort.Value, error) {
				if e.dim <= 0 {
					return []ort.Value{nil}, nil // ORT allocates
				}
				shape := ort.NewShape(int64(batch), int64(seq), int64(e.dim))
				if e.pooling == PoolSoftmax || e.pooling == PoolLogits {
					shape = ort.NewShape(int64(batch), int64(e.dim))
				}
				t, err := ort.NewEmptyTensor[float32](shape)
				if err != nil {
					return nil, fmt.Errorf("onnx: output tensor: %w", err)
				}
				return []ort.Value{t}, nil
			},
			func(vals []ort.Value) error {
				t, ok := vals[0].(*ort.Tensor[float32])
				if !ok {
					return fmt.Errorf("onnx: last_hidden_state is %T, want a float32 tensor", vals[0])
				}
				shape := t.GetShape()
				data := t.GetData()
				if e.pooling == PoolSoftmax || e.pooling == PoolLogits {
					dim := int(shape[1])
					for j, p := range part {
						row := data[j*dim : (j+1)*dim]
						if e.pooling == PoolSoftmax {
							out[p.i] = models.Normalize(models.Softmax(row))
						} else {
							out[p.i] = models.Normalize(slices.Clone(row))
						}
					}
					return nil
				}
				seq, dim := int(shape[1]), int(shape[2])
				for j, p := range part {
					if e.pooling == PoolCLS {
						out[p.i] = models.Normalize(slices.Clone(data[j*seq*dim : j*seq*dim+dim]))
						continue
					}
					m := make([]int64, seq)
					copy(m, p.m)
					out[p.i] = models.MeanPool(data[j*seq*dim:(j+1)*seq*dim], m, dim)
				}
				return nil
			})
		release()
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Close releases the session.
func (e *Embedder) Close() error { return e.s.close() }
