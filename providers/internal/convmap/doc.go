// Package convmap remembers which upstream conversation a kefu session
// continues, for providers that keep conversations on their side (Dify,
// Coze): a bounded map, least recently used first out.
package convmap
