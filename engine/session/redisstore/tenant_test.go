package redisstore

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/engine/session/redistest"
	"github.com/kefu-chat/kefu/engine/session/sessiontest"
	"github.com/redis/go-redis/v9"
)

// TestTenantKept: a session's tenant survives Save and Get, and a record
// written before tenants existed reads with Tenant "" and keeps the tenant
// it is given on its next Save.
func TestTenantKept(t *testing.T) {
	ctx := context.Background()
	addr := redistest.Start(t)
	st := newStore(t, Options{Addr: addr, IdleTTL: time.Hour})
	s := sessiontest.Sample("owned", 2)
	s.Tenant = "shop-a"
	if err := st.Save(ctx, s); err != nil {
		t.Fatal(err)
	}
	got, err := st.Get(ctx, "owned")
	if err != nil || got.Tenant != "shop-a" {
		t.Fatalf("Get = %+v, %v; want Tenant shop-a", got, err)
	}
	got.UserID = "changed"
	if err := st.Save(ctx, got); err != nil {
		t.Fatal(err)
	}
	if got, err = st.Get(ctx, "owned"); err != nil || got.Tenant != "shop-a" || got.UserID != "changed" {
		t.Fatalf("after a second Save: %+v, %v", got, err)
	}

	// A record as the store wrote it before tenants: no "tn" key.
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	err = rdb.HSet(ctx, "kefu:session:legacy", "v", "1", "u", strconv.FormatInt(time.Now().UnixMilli(), 10),
		"d", `{"f":1,"id":"legacy","u":"u1","t":[{"id":"t1","x":"你好","r":["您好"]}]}`).Err()
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
	if got, err := st.Get(ctx, "legacy"); err != nil || got.Tenant != "shop-b" {
		t.Fatalf("legacy after adoption: %+v, %v", got, err)
	}
}
