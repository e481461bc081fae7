package embedded

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/knowledge"
)

func TestScratchRecall(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("N"))
	if n == 0 {
		t.Skip()
	}
	ef, _ := strconv.Atoi(os.Getenv("EF"))
	efc, _ := strconv.Atoi(os.Getenv("EFC"))
	path := filepath.Join(t.TempDir(), "k.db")
	if p := os.Getenv("DBPATH"); p != "" {
		path = p
		if _, err := os.Stat(p); err == nil {
			start := time.Now()
			s, err := Open(path, Options{ExactBelow: 1000, EfSearch: ef, EfConstruction: efc})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("open %v %s", time.Since(start), s.loaded)
			s.Close()
			return
		}
	}
	d := clustered(1, n, 200, 384, 1000, 0.05)
	s, err := Open(path, Options{ExactBelow: 1000, EfSearch: ef, EfConstruction: efc, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	ingest(t, s, d, 100, nil)
	t.Logf("ingest %v (%.0f chunks/s)", time.Since(start), float64(n)/time.Since(start).Seconds())
	var lat []time.Duration
	var rec float64
	for _, q := range d.queries {
		var want []string
		for _, i := range bruteForce(d.vecs, q, 10, nil) {
			_, id := chunkID(i, 100)
			want = append(want, id)
		}
		st := time.Now()
		hits, err := s.SearchDense(context.Background(), q, 10, knowledge.Filter{})
		lat = append(lat, time.Since(st))
		if err != nil {
			t.Fatal(err)
		}
		rec += recall(want, hits)
	}
	slices.Sort(lat)
	t.Logf("recall %.4f p50 %v p99 %v", rec/float64(len(d.queries)), lat[len(lat)/2], lat[len(lat)*99/100])
	start = time.Now()
	s.Close()
	t.Logf("close %v", time.Since(start))
	start = time.Now()
	s, err = Open(s.path, Options{ExactBelow: 1000, EfSearch: ef, EfConstruction: efc})
	t.Logf("open %v %s", time.Since(start), s.loaded)
	s.Close()
}

var distCount int64

func BenchmarkScratchSearch(b *testing.B) {
	s, err := Open("/tmp/k100/k.db", Options{ExactBelow: 1000})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ef, _ := strconv.Atoi(os.Getenv("EF"))
	s.opts.EfSearch = ef
	d := clustered(1, 100000, 200, 384, 1000, 0.05)
	ctx := context.Background()
	i := 0
	for b.Loop() {
		s.SearchDense(ctx, d.queries[i%200], 10, knowledge.Filter{})
		i++
	}
}

func TestScratchEf(t *testing.T) {
	if os.Getenv("EFS") == "" {
		t.Skip()
	}
	s, err := Open("/tmp/k100/k.db", Options{ExactBelow: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d := clustered(1, 100000, 200, 384, 1000, 0.05)
	ctx := context.Background()
	var wants [][]string
	for _, q := range d.queries {
		var want []string
		for _, i := range bruteForce(d.vecs, q, 10, nil) {
			_, id := chunkID(i, 100)
			want = append(want, id)
		}
		wants = append(wants, want)
	}
	for _, ef := range []int{10, 16, 24, 32, 48, 64, 96} {
		s.opts.EfSearch = ef
		var rec float64
		var lat []time.Duration
		for rep := 0; rep < 3; rep++ {
			for i, q := range d.queries {
				st := time.Now()
				hits, _ := s.SearchDense(ctx, q, 10, knowledge.Filter{})
				lat = append(lat, time.Since(st))
				if rep == 0 {
					rec += recall(wants[i], hits)
				}
			}
		}
		slices.Sort(lat)
		t.Logf("ef %d recall %.4f p50 %v p99 %v", ef, rec/200, lat[len(lat)/2], lat[len(lat)*99/100])
	}
}
