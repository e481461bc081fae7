package demoshop

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

var fixedNow = func() time.Time { return time.Date(2026, 11, 22, 10, 0, 0, 0, time.FixedZone("CST", 8*3600)) }

type call struct {
	method, path, body string
	status             int
	want               map[string]any // checked key by key; nil skips
}

func do(t *testing.T, srv *httptest.Server, c call) map[string]any {
	t.Helper()
	var body io.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
	}
	req, _ := http.NewRequest(c.method, srv.URL+c.path, body)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("%s %s: Content-Type %q", c.method, c.path, ct)
	}
	var got map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatalf("%s %s: %v", c.method, c.path, err)
	}
	if resp.StatusCode != c.status {
		t.Errorf("%s %s %s: status %d, want %d (%v)", c.method, c.path, c.body, resp.StatusCode, c.status, got)
	}
	for k, v := range c.want {
		if !reflect.DeepEqual(got[k], v) {
			t.Errorf("%s %s %s: %s = %#v, want %#v", c.method, c.path, c.body, k, got[k], v)
		}
	}
	return got
}

func newServer(t *testing.T) (*Shop, *httptest.Server) {
	t.Helper()
	s := New(fixedNow)
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, srv
}

func TestGetOrder(t *testing.T) {
	_, srv := newServer(t)
	got := do(t, srv, call{method: "GET", path: "/orders/A2024112200001", status: 200})
	want := map[string]any{
		"订单号": "A2024112200001", "状态": "已发货", "快递公司": "顺丰速运", "运单号": "SF1234567890123",
		"最新物流": "【深圳市】快件已到达 深圳转运中心", "签收天数": float64(0), "商品": "无线蓝牙耳机", "金额": float64(199),
		"收货地址": "广东省深圳市南山区科技园路1号 张三 138****0000",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
	for _, c := range []call{
		{"GET", "/orders/A2024112200002", "", 200, map[string]any{"状态": "未发货"}},
		{"GET", "/orders/A2024112200003", "", 200, map[string]any{"状态": "已签收", "签收天数": float64(3)}},
		{"GET", "/orders/A2024112200004", "", 200, map[string]any{"状态": "已签收", "签收天数": float64(20)}},
		{"GET", "/orders/A2024112200005", "", 200, map[string]any{"状态": "已取消"}},
		{"GET", "/orders/A2024112200006", "", 200, map[string]any{"状态": "已发货", "快递公司": "中通快递"}},
		{"GET", "/orders/A2024112299999", "", 404, map[string]any{"error": "订单不存在"}},
		{"GET", "/orders/%E8%AE%A2%E5%8D%95%2F1", "", 404, map[string]any{"error": "订单不存在"}},
		{"GET", "/orders/" + BrokenOrder, "", 500, map[string]any{"error": "系统繁忙，请稍后再试"}},
		{"POST", "/orders/" + BrokenOrder + "/cancel", "", 500, nil},
		{"DELETE", "/orders/A2024112200001", "", 405, map[string]any{"error": "不支持 DELETE 方法"}},
		{"GET", "/nope", "", 404, map[string]any{"error": "接口不存在"}},
	} {
		do(t, srv, c)
	}
}

func TestCancel(t *testing.T) {
	s, srv := newServer(t)
	do(t, srv, call{"POST", "/orders/A2024112200002/cancel", `{"原因":"不想要了"}`, 200, map[string]any{"状态": "已取消"}})
	if o, _ := s.Order("A2024112200002"); o.Status != Cancelled {
		t.Errorf("status after cancel = %s", o.Status)
	}
	for _, c := range []call{
		{"POST", "/orders/A2024112200002/cancel", "", 409, map[string]any{"error": "订单已取消，无需重复操作"}},
		{"POST", "/orders/A2024112200001/cancel", "", 409, map[string]any{"error": "订单已发货，无法取消"}},
		{"POST", "/orders/A2024112200003/cancel", "{}", 409, map[string]any{"error": "订单已签收，无法取消，可以申请退货"}},
		{"POST", "/orders/A2024112299999/cancel", "", 404, map[string]any{"error": "订单不存在"}},
		{"POST", "/orders/A2024112200001/cancel", `{"理由":"x"}`, 400, map[string]any{"error": `未知字段 "理由"（可用：原因）`}},
		{"POST", "/orders/A2024112200001/cancel", `[1]`, 400, map[string]any{"error": "请求体应为 JSON 对象"}},
		{"POST", "/orders/A2024112200001/cancel", `{"原因":{}}`, 400, map[string]any{"error": `字段 "原因" 应为文本`}},
	} {
		do(t, srv, c)
	}
}

func TestReturns(t *testing.T) {
	s, srv := newServer(t)
	do(t, srv, call{"POST", "/orders/A2024112200003/returns", `{"原因":"尺码不合适"}`, 200, map[string]any{
		"订单号": "A2024112200003", "退货单号": "R202611220001", "取件时间": "明天 9:00-18:00", "退款金额": float64(89),
	}})
	if o, _ := s.Order("A2024112200003"); o.Status != Returning {
		t.Errorf("status after return = %s", o.Status)
	}
	for _, c := range []call{
		{"POST", "/orders/A2024112200003/returns", `{"原因":"x"}`, 409, map[string]any{"error": "订单退货中，不能重复申请"}},
		{"POST", "/orders/A2024112200004/returns", `{"原因":"x"}`, 409, map[string]any{"error": "已签收20天，超过7天退货期限"}},
		{"POST", "/orders/A2024112200001/returns", `{"原因":"x"}`, 409, map[string]any{"error": "订单尚未签收，签收后才能申请退货"}},
		{"POST", "/orders/A2024112200002/returns", `{"原因":"x"}`, 409, map[string]any{"error": "订单尚未发货，可以直接取消订单"}},
		{"POST", "/orders/A2024112200005/returns", `{"原因":"x"}`, 409, map[string]any{"error": "订单已取消，无法退货"}},
		{"POST", "/orders/A2024112200001/returns", `{}`, 400, map[string]any{"error": "请填写退货原因"}},
	} {
		do(t, srv, c)
	}
}

func TestExchanges(t *testing.T) {
	_, srv := newServer(t)
	do(t, srv, call{"POST", "/orders/A2024112200003/exchanges", `{"原因":"太小","新规格":"XL码"}`, 200, map[string]any{
		"订单号": "A2024112200003", "换货单号": "E202611220001", "取件时间": "明天 9:00-18:00", "新规格": "XL码",
	}})
	do(t, srv, call{"POST", "/orders/A2024112200004/exchanges", `{"原因":"坏了"}`, 409, map[string]any{"error": "已签收20天，超过15天换货期限"}})
	do(t, srv, call{"POST", "/orders/A2024112200003/returns", `{"原因":"x"}`, 409, map[string]any{"error": "订单换货中，不能重复申请"}})
	do(t, srv, call{"POST", "/orders/A2024112200003/exchanges", `{}`, 400, map[string]any{"error": "请填写换货原因"}})
}

func TestAddress(t *testing.T) {
	s, srv := newServer(t)
	do(t, srv, call{"POST", "/orders/A2024112200002/address", `{"新地址":" 北京市朝阳区建国路1号 "}`, 200, map[string]any{"收货地址": "北京市朝阳区建国路1号"}})
	if o, _ := s.Order("A2024112200002"); o.Address != "北京市朝阳区建国路1号" {
		t.Errorf("address = %q", o.Address)
	}
	do(t, srv, call{"POST", "/orders/A2024112200001/address", `{"新地址":"x"}`, 409, map[string]any{"error": "订单已发货，无法修改地址"}})
	do(t, srv, call{"POST", "/orders/A2024112200002/address", `{"新地址":""}`, 400, map[string]any{"error": "请填写新地址"}})
}

func TestInvoices(t *testing.T) {
	_, srv := newServer(t)
	do(t, srv, call{"POST", "/invoices", `{"订单号":"A2024112200003","抬头":"某某科技有限公司","税号":91440300,"邮箱":"a@example.com"}`, 200, map[string]any{
		"订单号": "A2024112200003", "发票号": "INV202611220001", "预计开具": "1-3个工作日",
	}})
	for _, c := range []call{
		{"POST", "/invoices", `{"订单号":"A2024112200003","抬头":"x","邮箱":"a@example.com"}`, 409, map[string]any{"error": "该订单已申请发票，发票号 INV202611220001"}},
		{"POST", "/invoices", `{"订单号":"A2024112200005","抬头":"x","邮箱":"a@example.com"}`, 409, map[string]any{"error": "订单已取消，无法开具发票"}},
		{"POST", "/invoices", `{"订单号":"A2024112200001","抬头":"x","邮箱":"example.com"}`, 400, map[string]any{"error": "邮箱格式不对"}},
		{"POST", "/invoices", `{"订单号":"A2024112200001","邮箱":"a@example.com"}`, 400, map[string]any{"error": "请填写发票抬头"}},
		{"POST", "/invoices", `{"抬头":"x"}`, 400, map[string]any{"error": "请填写订单号"}},
		{"POST", "/invoices", `{"订单号":"A0","抬头":"x","邮箱":"a@b.c"}`, 404, map[string]any{"error": "订单不存在"}},
		{"POST", "/invoices", `{"订单号":"A2024112200001","公司":"x"}`, 400, map[string]any{"error": `未知字段 "公司"（可用：订单号、抬头、税号、邮箱）`}},
		{"POST", "/invoices", `{"订单号":"` + BrokenOrder + `"}`, 500, nil},
		{"POST", "/invoices", `not json`, 400, map[string]any{"error": "请求体应为 JSON 对象"}},
		{"GET", "/invoices", ``, 405, nil},
	} {
		do(t, srv, c)
	}
}

func TestSlowOrder(t *testing.T) {
	s := New(fixedNow)
	s.slow = 50 * time.Millisecond
	srv := httptest.NewServer(s)
	defer srv.Close()
	start := time.Now()
	do(t, srv, call{"GET", "/orders/" + SlowOrder, "", 200, map[string]any{"订单号": SlowOrder}})
	if el := time.Since(start); el < 50*time.Millisecond {
		t.Errorf("answered after %v, want at least 50ms", el)
	}

	// An abandoned request ends the handler at once.
	s.slow = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	done := make(chan struct{})
	go func() {
		s.ServeHTTP(httptest.NewRecorder(), httptest.NewRequestWithContext(ctx, "GET", "/orders/"+SlowOrder, nil))
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("slow handler ignored its canceled context")
	}
}

func TestConcurrentMutations(t *testing.T) {
	_, srv := newServer(t)
	var wg sync.WaitGroup
	statuses := make(chan int, 20)
	for range 20 {
		wg.Go(func() {
			resp, err := srv.Client().Post(srv.URL+"/orders/A2024112200002/cancel", "application/json", nil)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		})
	}
	wg.Wait()
	close(statuses)
	ok := 0
	for s := range statuses {
		if s == 200 {
			ok++
		}
	}
	if ok != 1 {
		t.Errorf("%d cancels succeeded, want exactly 1", ok)
	}
}

func TestFreshShops(t *testing.T) {
	a, b := New(fixedNow), New(fixedNow)
	rec := httptest.NewRecorder()
	a.ServeHTTP(rec, httptest.NewRequest("POST", "/orders/A2024112200002/cancel", nil))
	if rec.Code != 200 {
		t.Fatalf("cancel: %d %s", rec.Code, rec.Body)
	}
	if o, _ := b.Order("A2024112200002"); o.Status != Unshipped {
		t.Errorf("shops share state: %s", o.Status)
	}
	if f := Fixtures(); f[1].Status != Unshipped {
		t.Errorf("fixtures changed: %s", f[1].Status)
	}
}

func TestListen(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	addr, err := Listen(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + addr + "/orders/A2024112200001")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("status %d", resp.StatusCode)
	}
	// A slow request in flight ends when ctx does.
	errc := make(chan error, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/orders/" + SlowOrder)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case <-errc:
	case <-time.After(3 * time.Second):
		t.Fatal("slow request outlived Listen's context")
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/orders/A2024112200001")
		if err != nil {
			break
		}
		resp.Body.Close()
		if time.Now().After(deadline) {
			t.Fatal("still serving after ctx ended")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := Listen(context.Background(), "256.0.0.1:1"); err == nil || !strings.HasPrefix(err.Error(), "demoshop: ") {
		t.Errorf("bad address: err = %v", err)
	}
}
