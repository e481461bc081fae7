// Package keylock provides per-key mutexes whose wait is bounded by a
// context. A key's mutex exists only while someone holds or waits for it,
// so finished sessions leave nothing behind. boltstore's Lock is a Map;
// redisstore puts one in front of the Redis lock so that goroutines of one
// process queue locally instead of polling Redis.
package keylock
