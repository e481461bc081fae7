// Package session owns the conversation state that the turn engine keeps
// between messages: the Session type (the last turns, the dialog runtime's
// opaque state, a human handoff), the Store interface that persists it, and
// the storage encoding that stores share (Encode, Decode).
//
// It leaves persistence to implementations: boltstore (one file, the
// embedded default) and redisstore (several nodes sharing one Redis).
// sessiontest holds the conformance suite every Store must pass.
//
// A turn holds the session's lock from load to save, so two quick messages
// of one customer cannot overwrite each other:
//
//	unlock, err := store.Lock(ctx, id)
//	if err != nil {
//		return err
//	}
//	defer unlock()
//	s, err := store.Get(ctx, id)
//	if errors.Is(err, session.ErrNotFound) {
//		s = &session.Session{ID: id, UserID: user, Channel: channel}
//	} else if err != nil {
//		return err
//	}
//	// ... run the dialog ...
//	s.Append(turn, cfg.MaxTurns)
//	return store.Save(ctx, s)
//
// Save's version check is the safety net when a lock is lost (a Redis lock
// that outlived its LockTTL): the late writer gets ErrConflict instead of
// overwriting newer state.
package session
