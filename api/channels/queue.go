package channels

import "sync"

// Queue runs jobs on a fixed set of workers, so a push channel can answer
// its platform at once and reply later. Jobs with the same key run on the
// same worker, in the order they were added: one chat's messages keep their
// order.
type Queue struct {
	mu     sync.RWMutex // guards closed and sends on qs
	closed bool
	qs     []chan func()
	wg     sync.WaitGroup
}

// NewQueue starts workers (at least 1), each holding up to depth waiting
// jobs.
func NewQueue(workers, depth int) *Queue {
	q := &Queue{}
	for range max(workers, 1) {
		c := make(chan func(), max(depth, 0))
		q.qs = append(q.qs, c)
		q.wg.Go(func() {
			for job := range c {
				job()
			}
		})
	}
	return q
}

// Add queues job under key. It reports false, without blocking, when the
// key's worker is full or the queue is closed.
func (q *Queue) Add(key uint64, job func()) bool {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		return false
	}
	select {
	case q.qs[key%uint64(len(q.qs))] <- job:
		return true
	default:
		return false
	}
}

// Close stops taking jobs and waits for the queued ones to finish.
func (q *Queue) Close() {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		for _, c := range q.qs {
			close(c)
		}
	}
	q.mu.Unlock()
	q.wg.Wait()
}
