//go:build cgo

package onnx

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	ort "github.com/yalue/onnxruntime_go"
)

var env struct {
	sync.Mutex
	path string
	err  error
	live bool
}

// Init loads the ONNX Runtime library at path and creates the process-wide
// environment. Later calls with the same path are no-ops; a different path
// is an error, since one process holds one runtime.
func Init(path string) error {
	env.Lock()
	defer env.Unlock()
	if env.live {
		if path != env.path {
			return fmt.Errorf("onnxruntime: already initialised from %s", env.path)
		}
		return nil
	}
	ort.SetSharedLibraryPath(path)
	if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
		return fmt.Errorf("onnxruntime: load %s: %w", path, err)
	}
	env.path, env.live = path, true
	return nil
}

// Shutdown destroys the environment. Close every model first.
func Shutdown() error {
	env.Lock()
	defer env.Unlock()
	if !env.live {
		return nil
	}
	env.live = false
	return ort.DestroyEnvironment()
}

// Options tune a session.
type Options struct {
	// IntraOpThreads is ONNX Runtime's intra-op thread count per call
	// (default 1: concurrency comes from calls in flight).
	IntraOpThreads int
	// MaxInFlight bounds concurrent calls on the session (default: the
	// number of CPUs). Callers beyond it wait, honouring their context.
	// See GOMAXPROCSFor.
	MaxInFlight int
	// Observe, when set, is called after each call with the time spent
	// waiting for a slot and the time the call held it (tokenizing, inside
	// ONNX Runtime, reading the output), for metrics.
	Observe func(wait, held time.Duration)
}

func (o Options) withDefaults() Options {
	if o.IntraOpThreads <= 0 {
		o.IntraOpThreads = 1
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = DefaultMaxInFlight()
	}
	return o
}

// session is one shared ONNX Runtime session with bounded calls in flight.
type session struct {
	s       *ort.DynamicAdvancedSession
	typeIDs bool // the graph takes token_type_ids
	outDims []ort.Shape
	sem     chan struct{}
	observe func(wait, held time.Duration)
	closeMu sync.RWMutex
	closed  bool
	padID   int64
}

// graphIO checks the graph's inputs and returns the output shapes of want.
func graphIO(path string, want []string) (typeIDs bool, dims []ort.Shape, err error) {
	ins, outs, err := ort.GetInputOutputInfo(path)
	if err != nil {
		return false, nil, fmt.Errorf("onnx: read %s: %w", path, err)
	}
	seen := map[string]bool{}
	for _, in := range ins {
		switch in.Name {
		case "input_ids", "attention_mask", "token_type_ids":
		default:
			return false, nil, fmt.Errorf("onnx: %s: unexpected input %q (want input_ids, attention_mask and optionally token_type_ids)", path, in.Name)
		}
		if in.DataType != ort.TensorElementDataTypeInt64 {
			return false, nil, fmt.Errorf("onnx: %s: input %q is %v, want int64", path, in.Name, in.DataType)
		}
		if len(in.Dimensions) != 2 {
			return false, nil, fmt.Errorf("onnx: %s: input %q has shape %v, want [batch, sequence]", path, in.Name, in.Dimensions)
		}
		seen[in.Name] = true
	}
	if !seen["input_ids"] || !seen["attention_mask"] {
		return false, nil, fmt.Errorf("onnx: %s: the graph must take input_ids and attention_mask", path)
	}
	byName := map[string]ort.InputOutputInfo{}
	var names []string
	for _, o := range outs {
		byName[o.Name] = o
		names = append(names, o.Name)
	}
	for _, w := range want {
		o, ok := byName[w]
		if !ok {
			return false, nil, fmt.Errorf("onnx: %s: no output %q (have %v)", path, w, names)
		}
		if o.DataType != ort.TensorElementDataTypeFloat {
			return false, nil, fmt.Errorf("onnx: %s: output %q is %v, want float32", path, w, o.DataType)
		}
		dims = append(dims, o.Dimensions)
	}
	return seen["token_type_ids"], dims, nil
}

func newSession(path string, outputs []string, padID int64, o Options) (*session, error) {
	env.Lock()
	live := env.live
	env.Unlock()
	if !live {
		return nil, errors.New("onnx: runtime not initialised (call onnx.Init)")
	}
	o = o.withDefaults()
	typeIDs, dims, err := graphIO(path, outputs)
	if err != nil {
		return nil, err
	}
	inputs := []string{"input_ids", "attention_mask"}
	if typeIDs {
		inputs = append(inputs, "token_type_ids")
	}
	so, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("onnx: session options: %w", err)
	}
	defer so.Destroy()
	if err := so.SetIntraOpNumThreads(o.IntraOpThreads); err != nil {
		return nil, fmt.Errorf("onnx: intra-op threads: %w", err)
	}
	if err := so.SetInterOpNumThreads(1); err != nil {
		return nil, fmt.Errorf("onnx: inter-op threads: %w", err)
	}
	s, err := ort.NewDynamicAdvancedSession(path, inputs, outputs, so)
	if err != nil {
		return nil, fmt.Errorf("onnx: open %s: %w", path, err)
	}
	return &session{s: s, typeIDs: typeIDs, outDims: dims, sem: make(chan struct{}, o.MaxInFlight), observe: o.Observe, padID: padID}, nil
}

// slot waits for one of the session's MaxInFlight slots. The caller does
// all of its CPU work for the call (tokenizing, the run, reading the output)
// while it holds the slot, so that no more threads compute at once than
// there are slots: extra runnable threads on a small machine cost a
// scheduler tick (about 4 ms) to whichever loses its core.
func (s *session) slot(ctx context.Context) (release func(), err error) {
	t0 := time.Now()
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	t1 := time.Now()
	return func() {
		if s.observe != nil {
			s.observe(t1.Sub(t0), time.Since(t1))
		}
		<-s.sem
	}, nil
}

// run executes the graph on a padded batch; the caller holds a slot.
func (s *session) run(ids, mask [][]int64, outs func(batch, seq int) ([]ort.Value, error), read func([]ort.Value) error) error {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return errors.New("onnx: model is closed")
	}

	batch, seq := len(ids), 0
	for _, r := range ids {
		seq = max(seq, len(r))
	}
	flatIDs := make([]int64, batch*seq)
	flatMask := make([]int64, batch*seq)
	for i := range ids {
		row := flatIDs[i*seq : (i+1)*seq]
		n := copy(row, ids[i])
		for j := n; j < seq; j++ {
			row[j] = s.padID
		}
		copy(flatMask[i*seq:], mask[i])
	}
	shape := ort.NewShape(int64(batch), int64(seq))
	var inputs []ort.Value
	defer func() {
		for _, v := range inputs {
			v.Destroy()
		}
	}()
	for _, data := range [][]int64{flatIDs, flatMask} {
		t, err := ort.NewTensor(shape, data)
		if err != nil {
			return fmt.Errorf("onnx: input tensor: %w", err)
		}
		inputs = append(inputs, t)
	}
	if s.typeIDs {
		t, err := ort.NewTensor(shape, make([]int64, batch*seq))
		if err != nil {
			return fmt.Errorf("onnx: input tensor: %w", err)
		}
		inputs = append(inputs, t)
	}
	outputs, err := outs(batch, seq)
	if err != nil {
		return err
	}
	defer func() {
		for _, v := range outputs {
			if v != nil {
				v.Destroy()
			}
		}
	}()
	if err := s.s.Run(inputs, outputs); err != nil {
		return fmt.Errorf("onnx: run: %w", err)
	}
	return read(outputs)
}

func (s *session) close() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.s.Destroy()
}
