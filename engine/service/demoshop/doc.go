// Package demoshop is a tiny in-memory order service that the demo bot
// calls (kefu serve --demo), and that tests and flow authors can use as a
// stand-in for a shop's real API. It speaks JSON with Chinese keys, so flows
// read 订单.状态 and 订单.签收天数 directly.
//
// It owns its fixtures and their state; nothing is persisted. Every [Shop]
// starts from the same fixtures, and mutations (cancel, return, address
// change, invoice) last as long as the Shop. Generated numbers come from the
// Shop's clock and a counter, so a Shop with a fixed clock answers the same
// way on every run.
//
// # Routes
//
//	GET  /orders/{id}               the order
//	POST /orders/{id}/cancel        {原因?}        only 未发货 → 已取消, else 409
//	POST /orders/{id}/returns       {原因}         已签收 within 7 days → 退货中
//	POST /orders/{id}/exchanges     {原因, 新规格?} 已签收 within 15 days → 换货中
//	POST /orders/{id}/address       {新地址}       only before shipping
//	POST /invoices                  {订单号, 抬头, 税号?, 邮箱}
//
// Errors are {"error":"…"} in Chinese, with 400 (bad request body), 404
// (订单不存在), 409 (the order's state forbids it) or 500. Request bodies are
// JSON objects of strings (numbers are accepted too); an unknown field is a
// 400, so a misspelled argument in a flow fails loudly.
//
// # Fixtures
//
//	A2024112200001  已发货, 顺丰速运, not yet signed
//	A2024112200002  未发货 (can be cancelled, address can change)
//	A2024112200003  已签收, 签收天数 3 (can be returned)
//	A2024112200004  已签收, 签收天数 20 (too late to return or exchange)
//	A2024112200005  已取消
//	A2024112200006  已发货, 中通快递
//	A2024112299500  every route answers 500 ([BrokenOrder])
//	A2024112299504  every route waits 5s before answering, or until the
//	                request is abandoned ([SlowOrder]); it is 已发货
//
// Any other id is 404 {"error":"订单不存在"}.
//
// # Running it
//
// [Listen] serves a fresh Shop on an address until its context ends:
//
//	addr, err := demoshop.Listen(ctx, "127.0.0.1:0") // "" means DefaultAddr
//	// base_url for the services config: "http://" + addr
//
// Or mount [Handler] (or a [New] Shop) on any server or httptest.Server.
// The services section of kefu.yaml that matches it (service_test.go
// drives the shop through engine/service with these operations):
//
//	services:
//	  订单服务:
//	    base_url: http://127.0.0.1:8081
//	    timeout: 2s
//	    retries: 1
//	    operations:
//	      查询:   {method: GET,  path: "/orders/{订单号}"}
//	      取消:   {method: POST, path: "/orders/{订单号}/cancel", params: [订单号, 原因]}
//	      退货:   {method: POST, path: "/orders/{订单号}/returns", params: [订单号, 原因]}
//	      换货:   {method: POST, path: "/orders/{订单号}/exchanges", params: [订单号, 原因, 新规格]}
//	      改地址: {method: POST, path: "/orders/{订单号}/address", params: [订单号, 新地址]}
//	      开发票: {method: POST, path: "/invoices", params: [订单号, 抬头, 税号, 邮箱]}
package demoshop
