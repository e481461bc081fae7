package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/kefu-chat/kefu/knowledge"
	"github.com/kefu-chat/kefu/knowledge/chunk"
)

// Knowledge is what the knowledge endpoints need.
type Knowledge interface {
	Search(ctx context.Context, query string, k int, f knowledge.Filter) ([]knowledge.Result, error)
	// IngestFile reads one file's content (format: markdown, text,
	// faq-jsonl or faq-csv) as the document id and stores it.
	IngestFile(ctx context.Context, id, format string, content []byte, tags []string) (IngestResult, error)
	DeleteDocument(ctx context.Context, id string) (int, error)
	Documents(ctx context.Context) (map[string]int, error)
}

// IngestResult reports an ingestion.
type IngestResult struct {
	Documents int       `json:"documents"`
	Chunks    int       `json:"chunks"`
	Skipped   []Skipped `json:"skipped"`
}

// Skipped is a part of the input ingestion left out, and why.
type Skipped struct {
	Source string `json:"source"`
	Line   int    `json:"line,omitempty"`
	Reason string `json:"reason"`
}

// ErrBadDocument marks ingestion input that cannot be read; the message is
// shown to the client.
var ErrBadDocument = errors.New("bad document")

const maxTopK = 50

type searchRequest struct {
	Query string   `json:"query"`
	TopK  int      `json:"top_k"`
	Tags  []string `json:"tags"`
}

type searchHit struct {
	ID      string   `json:"id"`
	DocID   string   `json:"doc_id"`
	Title   string   `json:"title"`
	Text    string   `json:"text"`
	Answer  string   `json:"answer,omitempty"`
	Tags    []string `json:"tags"`
	Score   float64  `json:"score"`
	Dense   float64  `json:"dense"`
	Lexical float64  `json:"lexical"`
	Matched []string `json:"matched"`
}

func (s *server) knowledgeReady() error {
	if s.knowledge == nil {
		return NewError(CodeNotReady, "no knowledge base is configured (knowledge.store)")
	}
	return nil
}

// searchKnowledge serves POST /v1/knowledge/search.
func (s *server) searchKnowledge(w http.ResponseWriter, r *http.Request) error {
	if err := s.knowledgeReady(); err != nil {
		return err
	}
	var req searchRequest
	if err := decodeJSON(w, r, s.maxBodyBytes, &req); err != nil {
		return err
	}
	if err := s.checkText(req.Query); err != nil {
		return relabel(err, "query")
	}
	if req.TopK < 0 || req.TopK > maxTopK {
		return BadRequest(CodeInvalidArgument, fmt.Sprintf("top_k must be between 1 and %d", maxTopK))
	}
	res, err := s.knowledge.Search(r.Context(), req.Query, req.TopK, knowledge.Filter{Tags: req.Tags})
	switch {
	case errors.Is(err, knowledge.ErrEmptyQuery):
		return BadRequest(CodeInvalidArgument, "query has no words to search for")
	case err != nil:
		return fmt.Errorf("api: knowledge search: %w", err)
	}
	hits := make([]searchHit, 0, len(res))
	for _, h := range res {
		c := h.Chunk
		tags := c.Tags
		if tags == nil {
			tags = []string{}
		}
		hits = append(hits, searchHit{ID: c.ID, DocID: c.DocID, Title: c.Title, Text: c.Text, Answer: c.Answer,
			Tags: tags, Score: h.Score, Dense: h.Dense, Lexical: h.Lexical, Matched: h.Matched})
	}
	return writeJSON(w, http.StatusOK, map[string]any{"hits": hits})
}

// relabel rewrites a text error's message for another field name.
func relabel(err error, field string) error {
	var e *Error
	if errors.As(err, &e) {
		c := *e
		c.Message = strings.Replace(c.Message, "text", field, 1)
		return &c
	}
	return err
}

type documentRequest struct {
	ID      string   `json:"id"`
	Format  string   `json:"format"`
	Content string   `json:"content"`
	Tags    []string `json:"tags"`
}

// putDocument serves POST /v1/knowledge/documents: ingest one document
// (or one FAQ file), replacing any earlier version with the same id.
func (s *server) putDocument(w http.ResponseWriter, r *http.Request) error {
	if err := s.knowledgeReady(); err != nil {
		return err
	}
	var req documentRequest
	if err := decodeJSON(w, r, s.maxBodyBytes, &req); err != nil {
		return err
	}
	if err := validNewDocID(req.ID); err != nil {
		return err
	}
	if req.Format == "" {
		req.Format = chunk.FormatOf(req.ID)
	}
	_, known := chunk.Extension(req.Format)
	switch {
	case known:
	case req.Format == "":
		return BadRequest(CodeInvalidArgument, "format is required when the id has no known extension (markdown, text, faq-jsonl, faq-csv)")
	default:
		return BadRequest(CodeInvalidArgument, fmt.Sprintf("format %q is not markdown, text, faq-jsonl or faq-csv", req.Format))
	}
	if !utf8.ValidString(req.Content) {
		return BadRequest(CodeInvalidUTF8, "content is not valid UTF-8")
	}
	if strings.TrimSpace(req.Content) == "" {
		return BadRequest(CodeInvalidArgument, "content must not be empty")
	}
	res, err := s.knowledge.IngestFile(r.Context(), req.ID, req.Format, []byte(req.Content), req.Tags)
	if errors.Is(err, ErrBadDocument) {
		return BadRequest(CodeInvalidArgument, err.Error())
	}
	if err != nil {
		return fmt.Errorf("api: ingest: %w", err)
	}
	if res.Skipped == nil {
		res.Skipped = []Skipped{}
	}
	return writeJSON(w, http.StatusOK, res)
}

// maxDocIDBytes bounds a document id.
const maxDocIDBytes = 512

// validDocID checks a document id a client names: UTF-8 text on one line,
// at most 512 bytes, with no control or invisible format characters, so
// it cannot rewrite a terminal or a log line it is printed to.
func validDocID(id string) error {
	switch {
	case id == "":
		return BadRequest(CodeInvalidArgument, "id is required (e.g. articles/配送说明.md)")
	case len(id) > maxDocIDBytes:
		return BadRequest(CodeInvalidArgument, fmt.Sprintf("id is longer than %d bytes", maxDocIDBytes))
	case !utf8.ValidString(id):
		return BadRequest(CodeInvalidArgument, "id must be UTF-8 text on one line")
	case strings.IndexFunc(id, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }) >= 0:
		return BadRequest(CodeInvalidArgument, "id must be UTF-8 text on one line, without control or format characters")
	}
	return nil
}

// validNewDocID checks the id of a document to store. Beyond validDocID,
// it must look like the ids `kefu ingest` gives files: a relative path
// with "/" between its parts, none of them empty, "." or "..", and no
// backslash. The id is only a key in the knowledge store, never a file
// name, but an id such as ../../etc/passwd would mislead whoever reads it
// (and any tool that one day exports the documents as files).
func validNewDocID(id string) error {
	if err := validDocID(id); err != nil {
		return err
	}
	bad := strings.Contains(id, "\\")
	for part := range strings.SplitSeq(id, "/") {
		bad = bad || part == "" || part == "." || part == ".."
	}
	if bad {
		return BadRequest(CodeInvalidArgument, `id must be a relative path such as articles/配送说明.md: no leading "/", no empty, "." or ".." parts, no backslashes`)
	}
	return nil
}

// deleteDocument serves DELETE /v1/knowledge/documents/{id...}.
func (s *server) deleteDocument(w http.ResponseWriter, r *http.Request) error {
	if err := s.knowledgeReady(); err != nil {
		return err
	}
	id, err := pathParam(r, "*")
	if err != nil {
		return BadRequest(CodeInvalidArgument, "bad document id escape")
	}
	if err := validDocID(id); err != nil {
		return err
	}
	n, err := s.knowledge.DeleteDocument(r.Context(), id)
	if err != nil {
		return fmt.Errorf("api: delete document: %w", err)
	}
	if n == 0 {
		return NewError(CodeNotFound, fmt.Sprintf("document %q not found", id))
	}
	return writeJSON(w, http.StatusOK, map[string]any{"id": id, "deleted_chunks": n})
}

// listDocuments serves GET /v1/knowledge/documents.
func (s *server) listDocuments(w http.ResponseWriter, r *http.Request) error {
	if err := s.knowledgeReady(); err != nil {
		return err
	}
	docs, err := s.knowledge.Documents(r.Context())
	if err != nil {
		return fmt.Errorf("api: documents: %w", err)
	}
	type doc struct {
		ID     string `json:"id"`
		Chunks int    `json:"chunks"`
	}
	out := make([]doc, 0, len(docs))
	for id, n := range docs {
		out = append(out, doc{id, n})
	}
	sortDocs(out, func(d doc) string { return d.ID })
	return writeJSON(w, http.StatusOK, map[string]any{"documents": out})
}

func sortDocs[T any](s []T, key func(T) string) {
	slices.SortFunc(s, func(a, b T) int { return strings.Compare(key(a), key(b)) })
}
