// Package engine will own the turn pipeline: normalize, understand (intent
// and entities), dialog, knowledge, generation and handoff, with sessions
// and multi-turn memory. It is empty until the dialog issue lands; today
// the server exposes intent classification directly (api /v1/classify).
package engine
