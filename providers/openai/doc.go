// Package openai is kefu's provider for any OpenAI-compatible chat
// completions endpoint (OpenAI, DeepSeek, Qwen/DashScope compatible mode,
// vLLM, Ollama…), built on github.com/sashabaranov/go-openai. It registers
// the type "openai":
//
//	providers:
//	  gpt:
//	    type: openai
//	    base_url: https://api.deepseek.com/v1 # default https://api.openai.com/v1
//	    api_key: ${DEEPSEEK_API_KEY}          # never logged, never in errors
//	    model: deepseek-chat                  # required
//	    max_tokens: 512                       # optional
//	    temperature: 0.3                      # optional, 0 to 2
//	    organization: org-…                   # optional, OpenAI only
//
// It owns the mapping of the wire format onto providers' types: messages
// (system, user, assistant), usage, finish_reason, and errors onto
// providers.Kind:
//
//	401, 403, code invalid_api_key           auth (a fixed message: OpenAI's echoes part of the key)
//	429                                      rate_limit, RetryAfter from retry-after-ms or Retry-After
//	5xx, network, a stream cut before [DONE] unavailable
//	408, the context's deadline, net timeout timeout
//	code context_length_exceeded             context_length (also a 400 saying "maximum context length")
//	code content_filter, finish_reason too   content_filter
//	other 4xx, go-openai's own checks        bad_request
//	the context canceled                     canceled
//
// An error inside a stream (a data frame {"error":{…}}) has no status and is
// classified by its code and type, else unavailable. Retries, failover and
// timeouts are the gateway's; a Client makes one attempt per call.
//
// Known gaps: a zero temperature is sent as the smallest float32 (go-openai
// omits 0); Request.User and SessionID are not sent; only the first
// choice is read; content given as parts, tool calls and reasoning_content
// are ignored.
//
// Package openaitest is a double of the wire protocol for tests.
package openai
