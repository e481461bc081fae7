package api

import (
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kefu-chat/kefu/models"
)

type classifyRequest struct {
	Text string `json:"text"`
}

type classifyResponse struct {
	Intent  models.Intent   `json:"intent"`
	Ranking []models.Intent `json:"ranking"`
	OOS     bool            `json:"oos"`
}

// classify serves POST /v1/classify.
func (s *server) classify(w http.ResponseWriter, r *http.Request) error {
	if s.classifier == nil {
		return NewError(CodeNotReady, "classifier is not loaded")
	}
	var req classifyRequest
	if err := decodeJSON(w, r, s.maxBodyBytes, &req); err != nil {
		return err
	}
	if strings.TrimSpace(req.Text) == "" {
		return BadRequest(CodeTextEmpty, "text must not be empty")
	}
	if n := utf8.RuneCountInString(req.Text); n > s.maxTextRunes {
		return BadRequest(CodeTextTooLong, fmt.Sprintf("text is %d characters long; the limit is %d", n, s.maxTextRunes))
	}

	start := time.Now()
	pred, err := s.classifier.Classify(r.Context(), req.Text)
	s.metrics.classifyDuration.Observe(time.Since(start).Seconds())
	if err != nil {
		return fmt.Errorf("api: classify: %w", err)
	}
	s.metrics.confidence.Observe(float64(pred.Intent.Confidence))
	if pred.OOS {
		s.metrics.oos.Inc()
	}

	ranking := pred.Ranking[:min(len(pred.Ranking), maxRanking)]
	if ranking == nil {
		ranking = []models.Intent{} // [] rather than null
	}
	return writeJSON(w, http.StatusOK, classifyResponse{Intent: pred.Intent, Ranking: ranking, OOS: pred.OOS})
}
