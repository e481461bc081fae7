package boltstore

import (
	"context"
	"encoding/binary"
	"path/filepath"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/engine/session/sessiontest"
	bolt "go.etcd.io/bbolt"
)

// TestTenantLegacy: a session's tenant survives reopening the file, and a
// record written before tenants existed reads with Tenant "" and keeps the
// tenant it is given on its next Save. (That a tenant survives Save and Get
// is in the conformance suite.)
func TestTenantLegacy(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sessions.db")
	st, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := sessiontest.Sample("owned", 2)
	s.Tenant = "shop-a"
	if err := st.Save(ctx, s); err != nil {
		t.Fatal(err)
	}

	// A record as the store wrote it before tenants: no "tn" key.
	now := time.Now().UnixNano()
	rec := make([]byte, headerLen, 128)
	rec[0] = headerFormat
	binary.BigEndian.PutUint64(rec[1:], 1)
	binary.BigEndian.PutUint64(rec[9:], uint64(now))
	rec = append(rec, `{"f":1,"id":"legacy","u":"u1","t":[{"id":"t1","x":"你好","r":["您好"]}]}`...)
	err = st.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketSessions).Put([]byte("legacy"), rec); err != nil {
			return err
		}
		return tx.Bucket(bucketIdle).Put(idleKey(now, []byte("legacy")), nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	old, err := st.Get(ctx, "legacy")
	if err != nil || old.Tenant != "" || old.UserID != "u1" || len(old.Turns) != 1 || old.Version != 1 {
		t.Fatalf("legacy Get = %+v, %v", old, err)
	}
	old.Tenant = "shop-b" // adopted
	if err := st.Save(ctx, old); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for id, want := range map[string]string{"owned": "shop-a", "legacy": "shop-b"} {
		got, err := st.Get(ctx, id)
		if err != nil || got.Tenant != want {
			t.Errorf("after reopening, Get(%q) = %+v, %v; want Tenant %q", id, got, err, want)
		}
	}
}
