package boltstore

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/kefu-chat/kefu/engine/session/sessiontest"
)

// BenchmarkSaveParallel saves new 5-turn sessions from many goroutines,
// each Save its own fsynced transaction.
func BenchmarkSaveParallel(b *testing.B) {
	st, err := Open(filepath.Join(b.TempDir(), "sessions.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	var n atomic.Int64
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := st.Save(context.Background(), sessiontest.Sample(fmt.Sprint(n.Add(1)), 5)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkTurn is one engine turn on an existing session: Lock, Get,
// Append, Save, unlock.
func BenchmarkTurn(b *testing.B) {
	st, err := Open(filepath.Join(b.TempDir(), "sessions.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	for b.Loop() {
		if err := sessiontest.Increment(ctx, st, "s"); err != nil {
			b.Fatal(err)
		}
	}
}
