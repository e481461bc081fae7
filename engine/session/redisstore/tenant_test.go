package redisstore

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/engine/session/redistest"
	"github.com/redis/go-redis/v9"
)

// TestTenantLegacy: a record written before tenants existed reads with
// Tenant "" and keeps the tenant it is given on its next Save. (That a
// tenant survives Save and Get is in the conformance suite.)
func TestTenantLegacy(t *testing.T) {
	ctx := context.Background()
	addr := redistest.Start(t)
	st := newStore(t, Options{Addr: addr, IdleTTL: time.Hour})

	// A record as the store wrote it before tenants: no "tn" key.
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	err := rdb.HSet(ctx, "kefu:session:legacy", "v", "1", "u", strconv.FormatInt(time.Now().UnixMilli(), 10),
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
