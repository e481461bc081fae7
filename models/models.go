package models

import "context"

// OOS is the label of out-of-scope predictions and examples.
const OOS = "oos"

// Intent is one label with its softmax confidence.
type Intent struct {
	Name       string  `json:"name"`
	Confidence float32 `json:"confidence"`
}

// Prediction is the classifier's answer for one text.
//
// Ranking holds the model's labels sorted by confidence, highest first.
// Intent is Ranking[0] unless the prediction is out of scope, in which case
// Intent.Name is OOS and Intent.Confidence is the top in-scope confidence.
type Prediction struct {
	Intent  Intent
	Ranking []Intent
	OOS     bool
}

// Classifier maps a text to ranked intents. Implementations are safe for
// concurrent use.
type Classifier interface {
	Classify(ctx context.Context, text string) (Prediction, error)
}
