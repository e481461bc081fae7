package demoshop

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Special order ids.
const (
	BrokenOrder = "A2024112299500" // every route answers 500
	SlowOrder   = "A2024112299504" // every route waits SlowDelay first
)

// SlowDelay is how long SlowOrder's routes wait before answering.
const SlowDelay = 5 * time.Second

// DefaultAddr is where Listen serves when given "".
const DefaultAddr = "127.0.0.1:8081"

// Order statuses.
const (
	Unshipped = "未发货"
	Shipped   = "已发货"
	Signed    = "已签收"
	Cancelled = "已取消"
	Returning = "退货中"
	Exchange  = "换货中"
)

// Return and exchange windows, in days after signing.
const (
	ReturnDays   = 7
	ExchangeDays = 15
)

const pickup = "明天 9:00-18:00"

// Order is one order as GET /orders/{id} returns it.
type Order struct {
	ID         string  `json:"订单号"`
	Status     string  `json:"状态"`
	Courier    string  `json:"快递公司"`
	TrackingNo string  `json:"运单号"`
	Tracking   string  `json:"最新物流"`
	SignedDays int     `json:"签收天数"`
	Product    string  `json:"商品"`
	Amount     float64 `json:"金额"`
	Address    string  `json:"收货地址"`
}

// Fixtures returns the orders every Shop starts with, sorted by id.
func Fixtures() []Order {
	const addr = "广东省深圳市南山区科技园路1号 张三 138****0000"
	return []Order{
		{ID: "A2024112200001", Status: Shipped, Courier: "顺丰速运", TrackingNo: "SF1234567890123",
			Tracking: "【深圳市】快件已到达 深圳转运中心", Product: "无线蓝牙耳机", Amount: 199.0, Address: addr},
		{ID: "A2024112200002", Status: Unshipped, Tracking: "商家正在备货",
			Product: "机械键盘", Amount: 349.0, Address: "浙江省杭州市西湖区文三路90号 李四 139****1111"},
		{ID: "A2024112200003", Status: Signed, Courier: "顺丰速运", TrackingNo: "SF1234567890456",
			Tracking: "【上海市】快件已签收，签收人：本人", SignedDays: 3, Product: "纯棉T恤 L码", Amount: 89.0,
			Address: "上海市浦东新区世纪大道100号 王五 137****2222"},
		{ID: "A2024112200004", Status: Signed, Courier: "京东物流", TrackingNo: "JD0098765432101",
			Tracking: "【北京市】快件已签收，签收人：前台", SignedDays: 20, Product: "电动牙刷", Amount: 259.0,
			Address: "北京市海淀区中关村大街1号 赵六 136****3333"},
		{ID: "A2024112200005", Status: Cancelled, Tracking: "订单已取消", Product: "保温杯", Amount: 59.0, Address: addr},
		{ID: "A2024112200006", Status: Shipped, Courier: "中通快递", TrackingNo: "ZT7788990011223",
			Tracking: "【杭州市】快件已从 杭州中转部 发出，下一站 上海", Product: "运动鞋 42码", Amount: 459.0,
			Address: "上海市徐汇区漕溪北路88号 孙七 135****4444"},
		{ID: SlowOrder, Status: Shipped, Courier: "顺丰速运", TrackingNo: "SF9999999999504",
			Tracking: "【广州市】快件已揽收", Product: "充电宝", Amount: 129.0, Address: addr},
	}
}

// Shop is the in-memory order service. It is an http.Handler and safe for
// concurrent use.
type Shop struct {
	now  func() time.Time
	slow time.Duration
	mux  *http.ServeMux

	mu        sync.Mutex
	orders    map[string]*Order
	returns   map[string]string // order id -> 退货单号
	exchanges map[string]string // order id -> 换货单号
	invoices  map[string]string // order id -> 发票号
	seq       int
}

// New returns a Shop with fresh fixtures. now stamps generated numbers
// (R20261122…); nil means time.Now.
func New(now func() time.Time) *Shop {
	if now == nil {
		now = time.Now
	}
	s := &Shop{
		now:       now,
		slow:      SlowDelay,
		mux:       http.NewServeMux(),
		orders:    map[string]*Order{},
		returns:   map[string]string{},
		exchanges: map[string]string{},
		invoices:  map[string]string{},
	}
	for _, o := range Fixtures() {
		s.orders[o.ID] = &o
	}
	s.mux.HandleFunc("GET /orders/{id}", s.order(s.get))
	s.mux.HandleFunc("POST /orders/{id}/cancel", s.order(s.cancel))
	s.mux.HandleFunc("POST /orders/{id}/returns", s.order(s.returnOrder))
	s.mux.HandleFunc("POST /orders/{id}/exchanges", s.order(s.exchange))
	s.mux.HandleFunc("POST /orders/{id}/address", s.order(s.address))
	s.mux.HandleFunc("POST /invoices", s.invoice)
	s.mux.HandleFunc("/", s.notFound)
	return s
}

// Handler returns a new Shop.
func Handler() http.Handler { return New(nil) }

// Listen serves a new Shop on addr ("" means DefaultAddr; port 0 picks a
// free one) and returns the address it listens on, such as
// "127.0.0.1:40123". It serves until ctx ends, then cancels the requests in
// flight and closes the listener.
func Listen(ctx context.Context, addr string) (string, error) {
	return ListenHandler(ctx, addr, New(nil))
}

// ListenHandler is Listen with another handler, such as a Resettable.
func ListenHandler(ctx context.Context, addr string, h http.Handler) (string, error) {
	if addr == "" {
		addr = DefaultAddr
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return "", fmt.Errorf("demoshop: %w", err)
	}
	srv := &http.Server{
		Handler:           h,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ReadHeaderTimeout: 5 * time.Second,
	}
	go srv.Serve(ln)
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if srv.Shutdown(sctx) != nil {
			srv.Close()
		}
	}()
	return ln.Addr().String(), nil
}

// Resettable serves a Shop that Reset replaces with a fresh one, so that
// each conversation script starts from the fixtures. It is safe for
// concurrent use.
type Resettable struct{ cur atomic.Pointer[Shop] }

// NewResettable returns a Resettable serving a new Shop.
func NewResettable() *Resettable {
	r := &Resettable{}
	r.Reset()
	return r
}

// Reset replaces the shop with a new one at the fixtures.
func (r *Resettable) Reset() { r.cur.Store(New(nil)) }

// ServeHTTP serves the current shop.
func (r *Resettable) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.cur.Load().ServeHTTP(w, req)
}

// ServeHTTP serves the routes listed in the package doc.
func (s *Shop) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Order returns a copy of the order's current state.
func (s *Shop) Order(id string) (Order, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[id]
	if !ok {
		return Order{}, false
	}
	return *o, true
}

// httpError is a reply the client sees as {"error": msg}.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func fail(status int, format string, args ...any) error {
	return &httpError{status, fmt.Sprintf(format, args...)}
}

// orderHandler handles a route under /orders/{id}, called with the shop
// locked and the order found.
type orderHandler func(o *Order, body map[string]string) (any, error)

// order adapts h to an http.HandlerFunc: it handles the special ids, reads
// the body, finds the order and writes h's result or error.
func (s *Shop) order(h orderHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if !s.special(w, r, id) {
			return
		}
		body, err := readBody(w, r)
		if err != nil {
			writeErr(w, err)
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		o, ok := s.orders[id]
		if !ok {
			writeErr(w, fail(http.StatusNotFound, "订单不存在"))
			return
		}
		v, err := h(o, body)
		if err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, http.StatusOK, v)
	}
}

// special handles BrokenOrder and SlowOrder; it returns false when the
// request has been answered or abandoned.
func (s *Shop) special(w http.ResponseWriter, r *http.Request, id string) bool {
	switch id {
	case BrokenOrder:
		writeErr(w, fail(http.StatusInternalServerError, "系统繁忙，请稍后再试"))
		return false
	case SlowOrder:
		t := time.NewTimer(s.slow)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return false
		}
	}
	return true
}

func (s *Shop) get(o *Order, body map[string]string) (any, error) {
	return *o, nil
}

func (s *Shop) cancel(o *Order, body map[string]string) (any, error) {
	if err := only(body, "原因"); err != nil {
		return nil, err
	}
	switch o.Status {
	case Unshipped:
		o.Status = Cancelled
		o.Tracking = "订单已取消"
		return *o, nil
	case Cancelled:
		return nil, fail(http.StatusConflict, "订单已取消，无需重复操作")
	case Signed, Returning, Exchange:
		return nil, fail(http.StatusConflict, "订单已签收，无法取消，可以申请退货")
	default:
		return nil, fail(http.StatusConflict, "订单已发货，无法取消")
	}
}

// afterSale checks that an order may be returned or exchanged within days.
func afterSale(o *Order, what string, days int) error {
	switch o.Status {
	case Signed:
		if o.SignedDays > days {
			return fail(http.StatusConflict, "已签收%d天，超过%d天%s期限", o.SignedDays, days, what)
		}
		return nil
	case Unshipped:
		return fail(http.StatusConflict, "订单尚未发货，可以直接取消订单")
	case Shipped:
		return fail(http.StatusConflict, "订单尚未签收，签收后才能申请%s", what)
	case Cancelled:
		return fail(http.StatusConflict, "订单已取消，无法%s", what)
	default:
		return fail(http.StatusConflict, "订单%s，不能重复申请", o.Status)
	}
}

func (s *Shop) returnOrder(o *Order, body map[string]string) (any, error) {
	if err := only(body, "原因"); err != nil {
		return nil, err
	}
	if body["原因"] == "" {
		return nil, fail(http.StatusBadRequest, "请填写退货原因")
	}
	if err := afterSale(o, "退货", ReturnDays); err != nil {
		return nil, err
	}
	no := s.number("R")
	s.returns[o.ID] = no
	o.Status = Returning
	return map[string]any{"订单号": o.ID, "退货单号": no, "取件时间": pickup, "退款金额": o.Amount}, nil
}

func (s *Shop) exchange(o *Order, body map[string]string) (any, error) {
	if err := only(body, "原因", "新规格"); err != nil {
		return nil, err
	}
	if body["原因"] == "" {
		return nil, fail(http.StatusBadRequest, "请填写换货原因")
	}
	if err := afterSale(o, "换货", ExchangeDays); err != nil {
		return nil, err
	}
	no := s.number("E")
	s.exchanges[o.ID] = no
	o.Status = Exchange
	return map[string]any{"订单号": o.ID, "换货单号": no, "取件时间": pickup, "新规格": body["新规格"]}, nil
}

func (s *Shop) address(o *Order, body map[string]string) (any, error) {
	if err := only(body, "新地址"); err != nil {
		return nil, err
	}
	addr := strings.TrimSpace(body["新地址"])
	if addr == "" {
		return nil, fail(http.StatusBadRequest, "请填写新地址")
	}
	if o.Status != Unshipped {
		return nil, fail(http.StatusConflict, "订单%s，无法修改地址", o.Status)
	}
	o.Address = addr
	return *o, nil
}

func (s *Shop) invoice(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r)
	if err == nil {
		err = only(body, "订单号", "抬头", "税号", "邮箱")
	}
	if err != nil {
		writeErr(w, err)
		return
	}
	id := strings.TrimSpace(body["订单号"])
	if id == "" {
		writeErr(w, fail(http.StatusBadRequest, "请填写订单号"))
		return
	}
	if !s.special(w, r, id) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[id]
	switch {
	case !ok:
		err = fail(http.StatusNotFound, "订单不存在")
	case strings.TrimSpace(body["抬头"]) == "":
		err = fail(http.StatusBadRequest, "请填写发票抬头")
	case !validEmail(body["邮箱"]):
		err = fail(http.StatusBadRequest, "邮箱格式不对")
	case o.Status == Cancelled:
		err = fail(http.StatusConflict, "订单已取消，无法开具发票")
	case s.invoices[id] != "":
		err = fail(http.StatusConflict, "该订单已申请发票，发票号 %s", s.invoices[id])
	}
	if err != nil {
		writeErr(w, err)
		return
	}
	no := s.number("INV")
	s.invoices[id] = no
	writeJSON(w, http.StatusOK, map[string]any{"订单号": id, "发票号": no, "预计开具": "1-3个工作日", "邮箱": body["邮箱"]})
}

func (s *Shop) notFound(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		r2 := r.Clone(r.Context())
		r2.Method = m
		if _, pat := s.mux.Handler(r2); pat != "/" && pat != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 && r.Method != http.MethodHead {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeErr(w, fail(http.StatusMethodNotAllowed, "不支持 %s 方法", r.Method))
		return
	}
	writeErr(w, fail(http.StatusNotFound, "接口不存在"))
}

// number returns the next generated number: prefix, date, counter.
func (s *Shop) number(prefix string) string {
	s.seq++
	return fmt.Sprintf("%s%s%04d", prefix, s.now().Format("20060102"), s.seq)
}

func validEmail(s string) bool {
	at := strings.IndexByte(s, '@')
	return at > 0 && strings.Contains(s[at+1:], ".") && !strings.ContainsAny(s, " \t\r\n") && strings.Count(s, "@") == 1
}

// readBody reads a JSON object whose values are strings or numbers. An
// empty body is an empty object.
func readBody(w http.ResponseWriter, r *http.Request) (map[string]string, error) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		return nil, fail(http.StatusRequestEntityTooLarge, "请求体太大")
	}
	out := map[string]string{}
	if len(bytes.TrimSpace(data)) == 0 {
		return out, nil
	}
	var raw map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil || dec.More() || raw == nil {
		return nil, fail(http.StatusBadRequest, "请求体应为 JSON 对象")
	}
	for k, v := range raw {
		switch x := v.(type) {
		case string:
			out[k] = x
		case json.Number:
			out[k] = x.String()
		case nil:
		default:
			return nil, fail(http.StatusBadRequest, "字段 %q 应为文本", k)
		}
	}
	return out, nil
}

// only rejects fields other than names.
func only(body map[string]string, names ...string) error {
	var unknown []string
	for k := range body {
		if !contains(names, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	return fail(http.StatusBadRequest, "未知字段 %s（可用：%s）", quoteAll(unknown), strings.Join(names, "、"))
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func quoteAll(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, "、")
}

func writeErr(w http.ResponseWriter, err error) {
	var he *httpError
	if !errors.As(err, &he) {
		he = &httpError{http.StatusInternalServerError, "系统繁忙，请稍后再试"}
	}
	writeJSON(w, he.status, map[string]string{"error": he.msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	data := []byte(`{"error":"系统繁忙，请稍后再试"}` + "\n")
	if err := enc.Encode(v); err == nil {
		data = buf.Bytes()
	} else {
		status = http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(data)
}
