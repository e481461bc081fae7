// Package redisstore is the session.Store for several kefu nodes: every
// node pointing at the same Redis and Prefix shares sessions, locks and
// the handoff queue.
//
// It owns the key layout under Prefix (session:{id}, a hash that Redis
// expires IdleTTL after its last Save; queue, a sorted set by handoff
// time; lock:{id}), the Lua scripts that check a version and write
// session and queue in one step, and the cross-node lock (SET NX PX with
// backoff, released by compare-and-delete). Durability is whatever the
// Redis server is configured for (RDB, AOF); the store adds none.
package redisstore
