package demoshop_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/kefu-chat/kefu/engine/service"
	"github.com/kefu-chat/kefu/engine/service/demoshop"
)

// servicesYAML is the services section the package doc suggests.
const servicesYAML = `
订单服务:
  base_url: BASE
  timeout: 2s
  retries: 1
  operations:
    查询:   {method: GET,  path: "/orders/{订单号}"}
    取消:   {method: POST, path: "/orders/{订单号}/cancel", params: [订单号, 原因]}
    退货:   {method: POST, path: "/orders/{订单号}/returns", params: [订单号, 原因]}
    换货:   {method: POST, path: "/orders/{订单号}/exchanges", params: [订单号, 原因, 新规格]}
    改地址: {method: POST, path: "/orders/{订单号}/address", params: [订单号, 新地址]}
    开发票: {method: POST, path: "/invoices", params: [订单号, 抬头, 税号, 邮箱]}
`

// TestWithServiceClient drives the shop through engine/service, the way
// the demo bot's flows do.
func TestWithServiceClient(t *testing.T) {
	srv := httptest.NewServer(demoshop.New(func() time.Time { return time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC) }))
	defer srv.Close()
	var cfg service.Config
	dec := yaml.NewDecoder(strings.NewReader(strings.Replace(servicesYAML, "BASE", srv.URL, 1)))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	c, err := service.New(cfg, service.Deps{Sleep: func(context.Context, time.Duration) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	got, err := c.Call(ctx, "订单服务", "查询", map[string]any{"订单号": "A2024112200003"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	order := got.(map[string]any)
	if order["状态"] != "已签收" || order["签收天数"] != float64(3) {
		t.Errorf("order = %v", order)
	}

	args, err := c.Bind("订单服务", "退货", []any{"A2024112200003", "尺码不合适"})
	if err != nil {
		t.Fatal(err)
	}
	got, err = c.Call(ctx, "订单服务", "退货", args, 0)
	if err != nil || got.(map[string]any)["退货单号"] != "R202611220001" {
		t.Errorf("退货 = %v, %v", got, err)
	}

	_, err = c.Call(ctx, "订单服务", "取消", map[string]any{"订单号": "A2024112200001"}, 0)
	var e *service.Error
	if service.KindOf(err) != service.KindRejected || !errors.As(err, &e) || e.Status != 409 ||
		e.Body.(map[string]any)["error"] != "订单已发货，无法取消" {
		t.Errorf("取消 shipped order: %v", err)
	}

	_, err = c.Call(ctx, "订单服务", "查询", map[string]any{"订单号": "A2099"}, 0)
	if service.KindOf(err) != service.KindNotFound {
		t.Errorf("unknown order: %v", err)
	}

	_, err = c.Call(ctx, "订单服务", "查询", map[string]any{"订单号": demoshop.BrokenOrder}, 0)
	if err == nil || err.Error() != "service 订单服务.查询: unavailable: HTTP 500 (2 attempts)" {
		t.Errorf("broken order: %v", err)
	}

	start := time.Now()
	_, err = c.Call(ctx, "订单服务", "查询", map[string]any{"订单号": demoshop.SlowOrder}, 100*time.Millisecond)
	if err == nil || err.Error() != "service 订单服务.查询: timeout after 100ms (2 attempts)" || time.Since(start) > 3*time.Second {
		t.Errorf("slow order: %v after %v", err, time.Since(start))
	}

	got, err = c.Call(ctx, "订单服务", "开发票", map[string]any{"订单号": "A2024112200001", "抬头": "个人", "邮箱": "a@example.com"}, 0)
	if err != nil || got.(map[string]any)["预计开具"] != "1-3个工作日" {
		t.Errorf("开发票 = %v, %v", got, err)
	}
}
