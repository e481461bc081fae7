// Package service calls the shop's business services (orders, logistics,
// invoices) on behalf of flows. A flow writes
//
//	call 订单服务.查询(订单号) -> 订单 timeout 2s
//
// and the engine turns that into [Client.Call] (or [Client.Bind] followed by
// Call when the arguments are positional). The services are declared in the
// services section of kefu.yaml:
//
//	services:
//	  订单服务:
//	    base_url: http://127.0.0.1:8081/api
//	    timeout: 2s          # per attempt; default 5s
//	    retries: 1           # extra attempts on network errors, timeouts, 429 and 5xx
//	    headers: {Authorization: "Bearer ${SHOP_TOKEN}"}
//	    operations:
//	      查询: {method: GET,  path: "/orders/{订单号}"}
//	      取消: {method: POST, path: "/orders/{订单号}/cancel", params: [订单号, 原因]}
//
// # What it owns
//
// The package owns the config types of that section ([Config],
// [ServiceConfig], [Operation], [Duration]) and their validation, building
// HTTP requests from arguments, retries, timeouts, decoding responses and
// mapping failures onto error kinds ([Error], [Kind]). It leaves decoding
// the YAML file and expanding ${ENV} to the config loader (decode strictly:
// yaml.v3 with KnownFields(true); every struct here has yaml tags), checking
// flows against [Client.Operations] and [Client.Params] to the DSL checker,
// and deciding what a flow does on each error kind to the engine.
//
// # Requests
//
// Placeholders {name} in an operation's path are filled from the arguments,
// path-escaped, so Chinese text and slashes are safe ("A/1" becomes "A%2F1").
// A placeholder's argument is required. The remaining arguments go to the
// query string for GET and DELETE and into a JSON object body for POST, PUT
// and PATCH (an empty object when none remain). When an operation declares
// params, an argument it does not declare is an error (kind bad_args); when
// it declares none, its params are its path placeholders in order, and any
// other argument is passed through.
//
// Every request carries the configured headers. Header values are treated as
// secrets: they never appear in logs, in errors or in the output of
// fmt on a ServiceConfig. Non-GET requests also carry an Idempotency-Key
// header that stays the same across the retries of one call, so a server
// that honours it can drop duplicates.
//
// # Timeouts and retries
//
// The timeout, configured or passed to Call, bounds each attempt, not the
// whole call; the caller's context bounds the whole call, retries and
// backoff included. A call makes 1+retries attempts. It retries only on
// network errors, attempt timeouts, 429 and 5xx, for every method: a POST
// that timed out may have been carried out, so set retries: 0 on a service
// whose writes are not idempotent and that ignores Idempotency-Key. Between
// attempts it waits 200ms, 400ms, 800ms … (at most 2s) with jitter (half of
// the wait is random), or what a Retry-After header asks (at most 30s). It
// does not start a wait that would outlast the context's deadline.
//
// # Responses
//
// A 2xx JSON body is decoded into any: objects become map[string]any, arrays
// []any, and numbers float64, so flow conditions such as 订单.签收天数 <= 7
// compare numbers without conversion. A 204, an empty body or a body whose
// Content-Type is not JSON gives a nil result and no error. A body that
// claims to be JSON (or has no Content-Type) but does not parse, or one over
// 1 MiB, is an error of kind bad_response.
//
// # Errors
//
// Every error from Call and Bind is a *[Error]. Switch on its Kind (or use
// [KindOf]), never on the text:
//
//	timeout      the attempt timeout or the caller's deadline passed
//	unavailable  network error, 429 or 5xx, after the retries
//	not_found    404
//	rejected     any other 4xx (Error.Body holds the server's JSON, if any)
//	bad_response the reply could not be used (invalid JSON, too big, 3xx)
//	bad_args     the arguments do not fit the operation
//	unknown      no such service or operation
//	canceled     the caller's context was canceled
//
// A Client is safe for concurrent use; it holds no per-call state.
package service
