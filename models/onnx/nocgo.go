//go:build !cgo

package onnx

import (
	"context"
	"errors"
	"time"

	"github.com/kefu-chat/kefu/models"
)

// ErrNoCgo is returned by every constructor of a build without cgo.
var ErrNoCgo = errors.New("onnx: kefu was built with CGO_ENABLED=0; ONNX Runtime needs cgo")

type Options struct {
	IntraOpThreads int
	MaxInFlight    int
	Observe        func(wait, run time.Duration)
}

type ClassifierOptions struct {
	Options
	Threshold *float32
}

func Init(string) error { return ErrNoCgo }
func Shutdown() error   { return nil }

type Classifier struct{}

func NewClassifier(*models.Folder, ClassifierOptions) (*Classifier, error) { return nil, ErrNoCgo }
func (*Classifier) Classify(context.Context, string) (models.Prediction, error) {
	return models.Prediction{}, ErrNoCgo
}
func (*Classifier) Logits(context.Context, []string) ([][]float32, error) { return nil, ErrNoCgo }
func (*Classifier) Threshold() float32                                    { return 0 }
func (*Classifier) Labels() []string                                      { return nil }
func (*Classifier) Folder() *models.Folder                                { return nil }
func (*Classifier) Close() error                                          { return nil }

type Embedder struct{}

func NewEmbedder(*models.Folder, Options) (*Embedder, error)           { return nil, ErrNoCgo }
func (*Embedder) Embed(context.Context, []string) ([][]float32, error) { return nil, ErrNoCgo }
func (*Embedder) Dim() int                                             { return 0 }
func (*Embedder) Close() error                                         { return nil }
