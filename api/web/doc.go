// Package web serves kefu's chat page: a small page, embedded in the
// binary, where a person talks to the bot and sees why each reply was
// given. It calls the same /v1/chat API as any frontend.
//
// The page is plain HTML, JavaScript and CSS in static/ (no build step, no
// CDN). It keeps a session id in localStorage under "kefu.session_id"; the
// 新会话 button deletes the session (DELETE /v1/sessions/{id}) and starts a
// new one. Each message is a POST /v1/chat with Accept: text/event-stream,
// read with fetch and a ReadableStream: deltas are shown as they arrive and
// the done event's reply fills the "为什么这样回答" panel (route and reason,
// intent and confidence, flow and step, sources with scores, ✓ for those
// used, service calls, provider and tokens, per-stage timings), which is
// what someone writing flows needs to see. Errors are shown as a polite
// sentence with the error code and request id.
//
// The page uses relative URLs (static/…, v1/chat), so it also works behind
// a reverse proxy that serves kefu under a path prefix.
//
// # Embedding on a shop's site
//
// Put the page in an iframe pointing at kefu's root:
//
//	<iframe src="https://kefu.example.com/" title="在线客服"
//	        style="position:fixed;right:16px;bottom:16px;width:380px;height:560px;
//	               border:1px solid #e5e7eb;border-radius:12px;z-index:9999"
//	        allow="clipboard-write"></iframe>
//
// The iframe's page calls kefu on its own origin, so no CORS setting is
// needed; only a shop page that calls /v1/chat directly from its own
// scripts needs its origin listed in api.Options.CORSOrigins. When
// api.Options.Keys is set, /v1/chat needs a key and this page, which sends
// none, will get the unauthenticated error.
package web
