package embedded

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/kefu-chat/kefu/knowledge"
)

// results is what a store answers to a fixed set of searches.
func results(t *testing.T, s *Store, d *dataset) map[string][]string {
	t.Helper()
	ctx := context.Background()
	out := map[string][]string{}
	for i, q := range d.queries {
		hits, err := s.SearchDense(ctx, q, 10, knowledge.Filter{})
		must(t, err)
		out[fmt.Sprint("dense", i)] = ids(hits)
	}
	for _, q := range []string{"退货", "运费", "发票"} {
		hits, err := s.SearchSparse(ctx, knowledge.QueryVector(q), 10, knowledge.Filter{})
		must(t, err)
		out["sparse "+q] = ids(hits)
	}
	docs, err := s.Documents(ctx)
	must(t, err)
	out["docs"] = nil
	for doc, n := range docs {
		out["docs"] = append(out["docs"], fmt.Sprint(doc, n))
	}
	slices.Sort(out["docs"])
	return out
}

// persistData is n vectors with sparse texts, some of them about 退货,
// 运费 or 发票.
func persistData(t *testing.T, s *Store, d *dataset, per int) {
	t.Helper()
	ctx := context.Background()
	words := []string{"退货", "运费", "发票", "积分", "会员"}
	for start := 0; start < len(d.vecs); start += per {
		doc, _ := chunkID(start, per)
		var cs []knowledge.Chunk
		for i := start; i < min(start+per, len(d.vecs)); i++ {
			_, id := chunkID(i, per)
			c := textChunk(doc, i-start, fmt.Sprintf("%s问题%d", words[i%len(words)], i))
			c.ID, c.Vector = id, d.vecs[i]
			cs = append(cs, c)
		}
		must(t, s.ReplaceDocument(ctx, doc, cs))
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	must(t, err)
	must(t, os.WriteFile(to, b, 0o600))
}

func TestPersistence(t *testing.T) {
	for _, exactBelow := range []int{1 << 30, 200} {
		t.Run(fmt.Sprintf("ExactBelow=%d", exactBelow), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "knowledge.db")
			opts := Options{ExactBelow: exactBelow}
			d := clustered(7, 600, 20, 32, 40, 0.1)
			s := open(t, path, opts)
			persistData(t, s, d, 20)
			want := results(t, s, d)
			must(t, s.Close())
			_, err := os.Stat(path + ".hnsw")
			if snap := err == nil; snap != (exactBelow == 200) {
				t.Fatalf("snapshot written: %v", snap)
			}

			s = open(t, path, opts)
			if wantFrom := map[int]string{200: "snapshot"}[exactBelow]; s.loaded != wantFrom {
				t.Errorf("graph from %q, want %q", s.loaded, wantFrom)
			}
			if diff := cmp.Diff(want, results(t, s, d)); diff != "" {
				t.Errorf("results after reopening (-before +after):\n%s", diff)
			}
			if s.graph != nil {
				checkGraph(t, s)
			}
		})
	}
}

// TestSnapshots checks which snapshots Open takes: an older one is
// brought up to date, others are ignored and the graph rebuilt.
func TestSnapshots(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "knowledge.db")
	opts := Options{ExactBelow: 200}
	d := clustered(8, 800, 20, 32, 40, 0.1)
	s := open(t, path, opts)
	persistData(t, s, d, 20)
	must(t, s.Close())
	copyFile(t, path+".hnsw", filepath.Join(dir, "old.hnsw"))
	copyFile(t, path, filepath.Join(dir, "old.db"))

	// Change a tenth: rewrite two documents, delete one, add one.
	s = open(t, path, opts)
	for i := range d.vecs[:40] {
		d.vecs[i] = d.vecs[len(d.vecs)-1-i]
	}
	persistData(t, s, &dataset{dim: 32, vecs: d.vecs[:40]}, 20)
	_, err := s.DeleteDocument(ctx, "doc-00002")
	must(t, err)
	c := textChunk("new", 0, "新文档")
	c.Vector = idVector(c.ID, 32)
	must(t, s.ReplaceDocument(ctx, "new", []knowledge.Chunk{c}))
	want := results(t, s, d)
	must(t, s.Close())
	copyFile(t, path+".hnsw", filepath.Join(dir, "new.hnsw"))

	reopen := func(t *testing.T, opts Options, wantFrom string) *Store {
		t.Helper()
		s := open(t, path, opts)
		if s.loaded != wantFrom {
			t.Errorf("graph from %q, want %q", s.loaded, wantFrom)
		}
		checkGraph(t, s)
		if s.snapGen != s.gen {
			t.Errorf("snapshot of generation %d after Open, file at %d", s.snapGen, s.gen)
		}
		return s
	}
	check := func(t *testing.T, s *Store) {
		t.Helper()
		got := results(t, s, d)
		for k, ids := range want {
			if !strings.HasPrefix(k, "dense") {
				if diff := cmp.Diff(ids, got[k]); diff != "" {
					t.Errorf("%s (-before +after):\n%s", k, diff)
				}
			}
		}
		// Dense results depend on the graph: compare with brute force.
		var rec float64
		for i, q := range d.queries {
			var want []string
			for _, c := range s.exact(q, 10, nil) {
				want = append(want, s.slots[c.id].chunk.ID)
			}
			rec += recall(want, hitsOf(got[fmt.Sprint("dense", i)]))
		}
		if rec /= float64(len(d.queries)); rec < 0.95 {
			t.Errorf("recall@10 %.3f", rec)
		}
		s.Close()
	}

	t.Run("older", func(t *testing.T) {
		copyFile(t, filepath.Join(dir, "old.hnsw"), path+".hnsw")
		check(t, reopen(t, opts, "snapshot"))
	})
	t.Run("current", func(t *testing.T) {
		copyFile(t, filepath.Join(dir, "new.hnsw"), path+".hnsw")
		check(t, reopen(t, opts, "snapshot"))
	})
	t.Run("corrupt", func(t *testing.T) {
		b, err := os.ReadFile(filepath.Join(dir, "new.hnsw"))
		must(t, err)
		b[len(b)/2] ^= 1
		must(t, os.WriteFile(path+".hnsw", b, 0o600))
		check(t, reopen(t, opts, "rebuilt"))
	})
	t.Run("other M", func(t *testing.T) {
		copyFile(t, filepath.Join(dir, "new.hnsw"), path+".hnsw")
		check(t, reopen(t, Options{ExactBelow: 200, M: 8}, "rebuilt"))
	})
	t.Run("other file", func(t *testing.T) {
		other := open(t, filepath.Join(dir, "other.db"), opts)
		persistData(t, other, d, 20)
		must(t, other.Close())
		copyFile(t, filepath.Join(dir, "other.db.hnsw"), path+".hnsw")
		check(t, reopen(t, opts, "rebuilt"))
	})
	t.Run("ahead of the file", func(t *testing.T) {
		// The file restored from before the changes, the snapshot after.
		copyFile(t, filepath.Join(dir, "new.hnsw"), filepath.Join(dir, "old.db.hnsw"))
		s := open(t, filepath.Join(dir, "old.db"), opts)
		if s.loaded != "rebuilt" {
			t.Errorf("graph from %q, want rebuilt", s.loaded)
		}
		checkGraph(t, s)
	})
	t.Run("too old", func(t *testing.T) {
		// Rewrite half the documents: the old snapshot is not worth updating.
		s := open(t, path, opts)
		persistData(t, s, &dataset{dim: 32, vecs: d.vecs[:400]}, 20)
		s.Close()
		copyFile(t, filepath.Join(dir, "old.hnsw"), path+".hnsw")
		reopen(t, opts, "rebuilt")
	})
}

func hitsOf(ids []string) []knowledge.Hit {
	var hits []knowledge.Hit
	for _, id := range ids {
		hits = append(hits, knowledge.Hit{Chunk: knowledge.Chunk{ID: id}})
	}
	return hits
}

// crashEnv names the store file the child of TestCrash writes to.
const crashEnv = "KEFU_EMBEDDED_CRASH_CHILD"

// TestCrash kills a process with SIGKILL while it writes documents and
// checks that the file opens cleanly with every document it reported
// committed, each whole.
func TestCrash(t *testing.T) {
	if path := os.Getenv(crashEnv); path != "" {
		crashChild(path)
		return
	}
	if runtime.GOOS == "windows" {
		t.Skip("no SIGKILL")
	}
	path := filepath.Join(t.TempDir(), "knowledge.db")
	opts := Options{ExactBelow: 100}
	d := clustered(9, 300, 10, 32, 20, 0.1)
	s := open(t, path, opts)
	persistData(t, s, d, 10) // 30 documents, a graph and its snapshot
	must(t, s.Close())

	cmd := exec.Command(os.Args[0], "-test.run=^TestCrash$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	must(t, err)
	must(t, cmd.Start())
	committed := map[string]int{} // document -> last version reported
	sc := bufio.NewScanner(out)
	deadline := time.Now().Add(5 * time.Second)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 || f[0] != "committed" {
			continue
		}
		v, _ := strconv.Atoi(f[2])
		committed[f[1]] = v
		if len(committed) >= 12 && v >= 3 || time.Now().After(deadline) {
			break
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	if len(committed) == 0 {
		t.Fatal("the child committed nothing")
	}
	t.Logf("killed after %d documents, versions %v", len(committed), committed)

	s = open(t, path, opts)
	ctx := context.Background()
	docs, err := s.Documents(ctx)
	must(t, err)
	var extra []string
	for doc, n := range docs {
		if _, ok := committed[doc]; !ok && strings.HasPrefix(doc, "crash-") {
			extra = append(extra, doc)
		}
		if strings.HasPrefix(doc, "crash-") && n != 3 {
			t.Errorf("%s has %d chunks, want 3", doc, n)
		}
	}
	if len(extra) > 1 {
		t.Errorf("documents never reported committed: %v (only the one in flight may be there)", extra)
	}
	// Every committed document is there at its last committed version or
	// the next (in flight when killed), all its chunks of one version.
	var inFlight int
	for doc, v := range committed {
		got := map[int]bool{}
		must(t, s.Scan(ctx, func(c knowledge.Chunk) error {
			if c.DocID == doc {
				n, _ := strconv.Atoi(strings.TrimPrefix(c.Title, "v"))
				got[n] = true
			}
			return nil
		}))
		switch {
		case len(got) != 1:
			t.Errorf("%s: chunks of versions %v, want one version", doc, got)
		case got[v+1]:
			inFlight++
		case !got[v]:
			t.Errorf("%s: versions %v, want %d", doc, got, v)
		}
	}
	if inFlight+len(extra) > 1 {
		t.Errorf("%d documents ahead of their last commit, at most one may be", inFlight+len(extra))
	}
	if s.graph == nil || s.loaded != "snapshot" {
		t.Errorf("graph from %q after the crash, want the old snapshot brought up to date", s.loaded)
	}
	checkGraph(t, s)
	hits, err := s.SearchDense(ctx, d.queries[0], 5, knowledge.Filter{})
	if err != nil || len(hits) != 5 {
		t.Errorf("SearchDense after the crash: %d hits, %v", len(hits), err)
	}
}

// crashChild writes documents crash-0 … crash-11 over and over, each
// version a new vector, printing each committed write, until killed.
func crashChild(path string) {
	s, err := Open(path, Options{ExactBelow: 100})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	d := clustered(10, 1000, 0, 32, 20, 0.1)
	ctx := context.Background()
	for v := 0; ; v++ {
		for i := range 12 {
			doc := fmt.Sprint("crash-", i)
			var cs []knowledge.Chunk
			for pos := range 3 {
				c := textChunk(doc, pos, "退货")
				c.Title = fmt.Sprint("v", v)
				c.Vector = d.vecs[(v*36+i*3+pos)%len(d.vecs)]
				cs = append(cs, c)
			}
			if err := s.ReplaceDocument(ctx, doc, cs); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
			fmt.Printf("committed %s %d\n", doc, v)
		}
	}
}
