// Package dify is the "dify" provider: a Dify chat app (chat,
// agent-chat or advanced-chat/chatflow) behind Dify's Service API,
// POST {base_url}/chat-messages with the app's key as a Bearer token.
//
//	providers:
//	  helpdesk:
//	    type: dify
//	    base_url: https://api.dify.ai/v1   # default; self-hosted: https://host/v1
//	    api_key: app-…                     # secret: never logged nor in errors
//	    inputs: {shop: demo}               # the app's variables; default {}
//	    max_conversations: 10000           # default
//
// The Dify app owns the prompt, the model and the history: only the
// last user message of a providers.Request is sent (as query); system
// messages, earlier messages, MaxTokens and Temperature are not. Dify
// keeps the conversation server-side, owned by (app, user); the client
// remembers the conversation id Dify returned for each (SessionID, user)
// in a bounded LRU map, in memory (a restart starts new conversations).
// The user is Request.User, or "kefu-"+SessionID when empty; a request
// without SessionID always starts a new conversation. When Dify answers
// 404 for a remembered conversation (deleted, expired, or another
// user's: "Conversation Not Exists.") the id is forgotten and the turn is
// retried once as a new conversation.
//
// Chat uses response_mode blocking (Dify's agent apps refuse it: use
// Stream for those); Stream uses streaming and yields message and
// agent_message deltas, then the usage from message_end. Ping frames and
// every other event (workflow, node, agent_thought, tts, unknown ones)
// are skipped. Closing a Stream cancels the request and closes the
// connection; it does not call Dify's stop endpoint.
//
// Errors are *providers.Error. Dify's JSON error body and its in-stream
// error event share a code vocabulary, mapped thus:
//
//	HTTP / code                                   Kind
//	401, 403, unauthorized                        auth (fixed message; Dify's text not echoed)
//	400 not_chat_app (key of a non-chat app)      auth
//	429 too_many_requests, rate_limit_error       rate_limit, RetryAfter from Retry-After (seconds or date)
//	400 app_unavailable, provider_not_initialize,
//	    provider_quota_exceeded,
//	    model_currently_not_support               unavailable (the app is broken for every request: fail over)
//	400 completion_request_error                  unavailable, unless its message (the model
//	                                              provider's) says context length, content
//	                                              filter/moderation or rate limit
//	400 invalid_param, conversation_completed,
//	    404 not_found, other 4xx                  bad_request (same message sniffing)
//	413                                           context_length
//	408, a deadline, a network timeout            timeout
//	5xx, internal_server_error, unknown, network  unavailable
//	the caller's context canceled, Stream closed  canceled
//	message_replace in a stream                   content_filter (output moderation)
//	a stream ending before message_end            unavailable
//
// An in-stream error event's Status is the event's own status field, as
// the HTTP status is 200. Dify's input moderation answers with the
// app's preset reply and is not an error; blocking replies cannot show
// output moderation.
//
// Package difytest is a test double of the same API.
package dify
