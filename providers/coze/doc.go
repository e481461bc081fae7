// Package coze is the provider type "coze": a bot on Coze's open API v3
// chat (https://api.coze.cn, the default, or https://api.coze.com for the
// international site; a bot published on one is unknown on the other).
//
//	providers:
//	  support-bot:
//	    type: coze
//	    base_url: https://api.coze.cn   # or https://api.coze.com
//	    token: ${COZE_TOKEN}            # personal/OAuth access token; a secret
//	    bot_id: "7350000000000000001"   # published to the API channel
//	    poll_interval: 500ms            # Chat's retrieve polling
//	    max_conversations: 10000        # (session, user) → conversation LRU
//
// Coze keeps the conversation server-side, so a Request sends only its
// last user message, as user_id Request.User or "kefu-"+SessionID, and
// continues the conversation Coze created for that (SessionID, user): the
// id is learnt from conversation.chat.created (or the create response)
// and passed as the conversation_id query parameter. The map is in memory
// and bounded (least recently used out); a conversation Coze refuses
// (bad_request) is forgotten so the next turn starts a new one. System
// messages, MaxTokens and Temperature are ignored: the bot's own
// configuration governs them.
//
// Stream posts /v3/chat with stream:true and reads Coze's SSE
// ("event:name" / "data:json" pairs): answer deltas become chunks,
// an answer that arrives only as conversation.message.completed is sent
// whole, several answer messages are joined with a blank line (Chat joins
// message/list answers the same way), conversation.chat.completed's usage
// is the last chunk, done ends the stream; unknown events are ignored.
// Chat creates the chat with stream:false, polls /v3/chat/retrieve every
// poll_interval until a terminal status, then reads the answer messages
// from /v3/chat/message/list; when ctx ends first it cancels the chat
// (POST /v3/chat/cancel, best effort).
//
// Errors. Coze reports business errors on HTTP 200 as {"code","msg"},
// also to a stream:true request (as JSON, not SSE), in a failed chat's
// last_error and in an `error` event; all become *providers.Error:
//
//	HTTP 401, 403; code 4100, 4101, 700012006;     auth (fixed message, never the token)
//	  msg mentions authentication/permission
//	HTTP 429 (RetryAfter from Retry-After);        rate_limit
//	  code 4013; msg mentions rate/frequency
//	HTTP 5xx; code 5000…; unknown codes;           unavailable
//	  network errors; a stream cut short; chat
//	  canceled by Coze
//	HTTP 408, 504; ctx deadline; msg "timeout"     timeout
//	caller's ctx canceled; Stream.Close            canceled
//	other 4xx; code 4000–4999 (4000 bad params,    bad_request
//	  4015 bot not published, 4200 not found…);
//	  requires_action (kefu submits no tool
//	  outputs); no user message
//	msg mentions sensitive/moderation/违规/审核     content_filter
//	msg mentions context length/too long; 413      context_length
//
// The message tests run before the code ranges. Only 4100 ("authentication
// is invalid") and 4101 (no permission) are confirmed by public reports;
// 4013, 4015, 4200 and the message keywords are best guesses, since
// Coze's error-code table could not be checked. The X-Tt-Logid of a
// failed response is added to the message for Coze support.
//
// Package cozetest is a test double of the same API.
package coze
