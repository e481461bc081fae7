// Package api is kefu's HTTP surface.
//
// It owns everything between the socket and the engine: the chi router, the
// JSON error envelope and the one table from errors to HTTP statuses,
// request ids, middleware (access log, panic recovery, deadlines), request
// decoding and validation, and the Prometheus metrics endpoint. It does no
// classification or dialogue work of its own; that is left to the engine and
// models packages, reached through small interfaces such as
// [models.Classifier]. Listening, TLS and graceful shutdown belong to the
// caller, which serves the [http.Handler] returned by [New].
//
// Routes:
//
//	POST /v1/classify  {"text": "..."} → {"intent":{...},"ranking":[...],"oos":false}
//	GET  /healthz      200 while the process is alive
//	GET  /readyz       200 when Options.Ready reports nil, else 503
//	GET  /metrics      Prometheus exposition of Options.Registry
//
// Every error, including unknown routes and wrong methods, is a JSON
// envelope:
//
//	{"error":{"code":"text_empty","message":"text must not be empty","request_id":"4f0c..."}}
//
// The code is one of the Code constants and is stable; the message is for
// people and may change. Internal errors show the client a generic message;
// the detail goes only to the log, tagged with the request id.
//
// A minimal server:
//
//	h := api.New(api.Options{Classifier: clf, Logger: logger, Version: version})
//	srv := &http.Server{Addr: ":8080", Handler: h, ReadHeaderTimeout: 10 * time.Second}
//	log.Fatal(srv.ListenAndServe())
package api
