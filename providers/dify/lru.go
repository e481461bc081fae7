package dify

import (
	"container/list"
	"sync"
)

// convKey is whose conversation an id is: Dify owns conversations by
// (app, user), kefu by session.
type convKey struct{ session, user string }

// convMap is a bounded LRU map from (session, user) to Dify's
// conversation id. It is safe for concurrent use.
type convMap struct {
	mu    sync.Mutex
	max   int
	order *list.List // front: most recently used; values are *convEntry
	items map[convKey]*list.Element
}

type convEntry struct {
	key convKey
	id  string
}

func newConvMap(max int) *convMap {
	return &convMap{max: max, order: list.New(), items: make(map[convKey]*list.Element)}
}

// get returns the remembered id and marks it recently used.
func (m *convMap) get(k convKey) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	el, ok := m.items[k]
	if !ok {
		return "", false
	}
	m.order.MoveToFront(el)
	return el.Value.(*convEntry).id, true
}

// put remembers id for k, evicting the least recently used entry when full.
func (m *convMap) put(k convKey, id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if el, ok := m.items[k]; ok {
		el.Value.(*convEntry).id = id
		m.order.MoveToFront(el)
		return
	}
	m.items[k] = m.order.PushFront(&convEntry{key: k, id: id})
	for m.order.Len() > m.max {
		old := m.order.Back()
		m.order.Remove(old)
		delete(m.items, old.Value.(*convEntry).key)
	}
}

// forget drops k's entry if it still holds id, so a concurrent turn's
// newer conversation survives.
func (m *convMap) forget(k convKey, id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if el, ok := m.items[k]; ok && el.Value.(*convEntry).id == id {
		m.order.Remove(el)
		delete(m.items, k)
	}
}

func (m *convMap) len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.order.Len()
}

func (m *convMap) clear() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.order.Init()
	clear(m.items)
}
