package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/kefu-chat/kefu/engine"
	"github.com/kefu-chat/kefu/engine/session"
)

func tenantTurn(fx *fixture, tenant, sid, text string) (*engine.Reply, error) {
	return fx.e.Turn(context.Background(), engine.Request{SessionID: sid, Tenant: tenant, Text: text})
}

func wantForbidden(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, engine.ErrForbidden) {
		t.Fatalf("%s: err = %v, want ErrForbidden", what, err)
	}
	if strings.Contains(err.Error(), "shop-a") {
		t.Errorf("%s: the error names the owning tenant: %v", what, err)
	}
}

func TestTenantOwnsSession(t *testing.T) {
	fx := newFixture(t, flows)
	ctx := context.Background()
	if _, err := tenantTurn(fx, "shop-a", "s", "我要退货"); err != nil {
		t.Fatal(err)
	}
	stored, err := fx.store.Get(ctx, "s")
	if err != nil || stored.Tenant != "shop-a" {
		t.Fatalf("stored session %+v, %v; want Tenant shop-a", stored, err)
	}

	// The owner continues, reads.
	if r, err := tenantTurn(fx, "shop-a", "s", "A1234"); err != nil || r.Route != engine.RouteFlow {
		t.Fatalf("owner's second turn: %+v, %v", r, err)
	}
	if v, err := fx.e.SessionFor(ctx, "shop-a", "s"); err != nil || len(v.Turns) != 2 {
		t.Fatalf("owner's SessionFor: %+v, %v", v, err)
	}

	// Another tenant is refused everything, and the session is left as
	// it was.
	_, err = tenantTurn(fx, "shop-b", "s", "我要退货")
	wantForbidden(t, "Turn", err)
	_, err = fx.e.SessionFor(ctx, "shop-b", "s")
	wantForbidden(t, "SessionFor", err)
	wantForbidden(t, "ResetFor", fx.e.ResetFor(ctx, "shop-b", "s"))
	after, err := fx.store.Get(ctx, "s")
	if err != nil || after.Version != 2 || len(after.Turns) != 2 || after.Tenant != "shop-a" {
		t.Fatalf("a refused tenant changed the session: %+v, %v", after, err)
	}
	// The operator ("": channel adapters, tools) continues any session
	// and leaves it its tenant.
	if _, err := tenantTurn(fx, "", "s", "谢谢"); err != nil {
		t.Fatalf("the operator's turn: %v", err)
	}
	if _, err := fx.e.SessionFor(ctx, "", "s"); err != nil {
		t.Fatalf("the operator's SessionFor: %v", err)
	}
	if after, err := fx.store.Get(ctx, "s"); err != nil || after.Tenant != "shop-a" || len(after.Turns) != 3 {
		t.Fatalf("after the operator's turn: %+v, %v", after, err)
	}
	// Agents (Session, Reset) see every tenant's sessions.
	if v, err := fx.e.Session(ctx, "s"); err != nil || len(v.Turns) != 3 {
		t.Fatalf("Session: %+v, %v", v, err)
	}

	// A missing session is not found for every tenant, whoever asks.
	if _, err := fx.e.SessionFor(ctx, "shop-b", "nope"); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("SessionFor(missing) = %v", err)
	}
	if err := fx.e.ResetFor(ctx, "shop-a", "s"); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.store.Get(ctx, "s"); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("after the owner's ResetFor: %v", err)
	}
	// Deleted, the id is free: the next tenant to use it owns it.
	if _, err := tenantTurn(fx, "shop-b", "s", "谢谢"); err != nil {
		t.Fatal(err)
	}
	_, err = tenantTurn(fx, "shop-a", "s", "谢谢")
	wantForbidden(t, "Turn by the old owner", err)
}

// TestTenantAdoptsLegacySession: a session stored before tenants existed
// (Tenant "") is readable by anyone until a turn claims it for its tenant.
func TestTenantAdoptsLegacySession(t *testing.T) {
	fx := newFixture(t, flows)
	ctx := context.Background()
	legacy := &session.Session{ID: "old", UserID: "u1"}
	legacy.Append(session.Turn{ID: "t0", Text: "你好", Replies: []string{"您好"}}, 0)
	if err := fx.store.Save(ctx, legacy); err != nil {
		t.Fatal(err)
	}
	for _, tenant := range []string{"shop-a", "shop-b", ""} {
		if _, err := fx.e.SessionFor(ctx, tenant, "old"); err != nil {
			t.Fatalf("SessionFor(%q) of a tenantless session: %v", tenant, err)
		}
	}
	if _, err := tenantTurn(fx, "shop-b", "old", "谢谢"); err != nil {
		t.Fatal(err)
	}
	s, err := fx.store.Get(ctx, "old")
	if err != nil || s.Tenant != "shop-b" || len(s.Turns) != 2 || s.UserID != "u1" {
		t.Fatalf("after adoption: %+v, %v", s, err)
	}
	if _, err := tenantTurn(fx, "shop-b", "old", "谢谢"); err != nil {
		t.Fatalf("the adopting tenant's next turn: %v", err)
	}
	_, err = tenantTurn(fx, "shop-c", "old", "谢谢")
	if !errors.Is(err, engine.ErrForbidden) {
		t.Fatalf("another tenant after adoption: %v", err)
	}

	// A channel adapter (the operator, "") creates tenantless sessions and
	// keeps them so; a tenant that uses one claims it, and the channel
	// still continues it (one customer on two channels, linked by
	// channels.identities).
	for range 2 {
		if _, err := tenantTurn(fx, "", "customer-42", "谢谢"); err != nil {
			t.Fatal(err)
		}
	}
	if s, err := fx.store.Get(ctx, "customer-42"); err != nil || s.Tenant != "" {
		t.Fatalf("channel session: %+v, %v", s, err)
	}
	if _, err := tenantTurn(fx, "shop-a", "customer-42", "谢谢"); err != nil {
		t.Fatal(err)
	}
	if _, err := tenantTurn(fx, "", "customer-42", "谢谢"); err != nil {
		t.Fatalf("the channel after a tenant claimed its session: %v", err)
	}
	if s, err := fx.store.Get(ctx, "customer-42"); err != nil || s.Tenant != "shop-a" || len(s.Turns) != 4 {
		t.Fatalf("channel session after the claim: %+v, %v", s, err)
	}
}
