package convmap

import (
	"container/list"
	"sync"
)

// Map maps keys to conversation ids, holding at most max of them. It is
// safe for concurrent use.
type Map[K comparable] struct {
	mu    sync.Mutex
	max   int
	order *list.List // front: most recently used; values are *entry[K]
	items map[K]*list.Element
}

type entry[K comparable] struct {
	key K
	id  string
}

// New returns an empty Map for at most max entries.
func New[K comparable](max int) *Map[K] {
	return &Map[K]{max: max, order: list.New(), items: make(map[K]*list.Element)}
}

// Get returns the remembered id and marks it recently used.
func (m *Map[K]) Get(k K) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	el, ok := m.items[k]
	if !ok {
		return "", false
	}
	m.order.MoveToFront(el)
	return el.Value.(*entry[K]).id, true
}

// Put remembers id for k, evicting the least recently used entry when full.
func (m *Map[K]) Put(k K, id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if el, ok := m.items[k]; ok {
		el.Value.(*entry[K]).id = id
		m.order.MoveToFront(el)
		return
	}
	m.items[k] = m.order.PushFront(&entry[K]{key: k, id: id})
	for m.order.Len() > m.max {
		old := m.order.Back()
		m.order.Remove(old)
		delete(m.items, old.Value.(*entry[K]).key)
	}
}

// Forget drops k's entry if it still holds id, so a concurrent turn's
// newer conversation survives.
func (m *Map[K]) Forget(k K, id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if el, ok := m.items[k]; ok && el.Value.(*entry[K]).id == id {
		m.order.Remove(el)
		delete(m.items, k)
	}
}

// Clear drops every entry.
func (m *Map[K]) Clear() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.order.Init()
	clear(m.items)
}
