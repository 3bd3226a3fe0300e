package runner

import (
	"context"
	"sync"
	"sync/atomic"
)

// lru keeps values by key, at most maxBytes of them (as sizeOf measures
// them), dropping the least recently used first. Concurrent gets of one key
// build once: the others wait for that build. A value sizeOf calls -1 (a
// failed build) and a build that returned an error are not kept (a build
// that timed out on a busy node may succeed later).
type lru[V any] struct {
	mu       sync.Mutex
	entries  map[string]*cacheEntry[V]
	bytes    int64
	maxBytes int64
	sizeOf   func(V) int64
	tick     int64
	// builds counts the builds run (not the hits).
	builds atomic.Int64
}

type cacheEntry[V any] struct {
	done  chan struct{} // closed when the build is over
	value V
	size  int64 // -1: the build failed
	ready bool  // kept: the build is over and succeeded
	used  int64
}

func newLRU[V any](maxBytes int64, sizeOf func(V) int64) *lru[V] {
	return &lru[V]{entries: make(map[string]*cacheEntry[V]), maxBytes: maxBytes, sizeOf: sizeOf}
}

// compileCache keeps builds (a /work tar) by the hash of their language and
// sources; a nil build is a failed one.
type compileCache = lru[[]byte]

func newCompileCache(maxBytes int64) *compileCache {
	return newLRU(maxBytes, func(b []byte) int64 {
		if b == nil {
			return -1
		}
		return int64(len(b))
	})
}

// get returns the value of key, running build when none is kept or under
// way.
func (c *lru[V]) get(ctx context.Context, key string, build func() (V, error)) (V, error) {
	for {
		c.mu.Lock()
		e, ok := c.entries[key]
		if !ok {
			e = &cacheEntry[V]{done: make(chan struct{})}
			c.entries[key] = e
			c.mu.Unlock()
			return c.fill(key, e, build)
		}
		c.tick++
		e.used = c.tick
		c.mu.Unlock()
		select {
		case <-e.done:
		case <-ctx.Done():
			var zero V
			return zero, ctx.Err()
		}
		if e.size >= 0 {
			return e.value, nil
		}
		// That build failed and was dropped: try again (our own build
		// reports our own failure).
	}
}

func (c *lru[V]) fill(key string, e *cacheEntry[V], build func() (V, error)) (V, error) {
	c.builds.Add(1)
	out, err := build()
	c.mu.Lock()
	defer c.mu.Unlock()
	defer close(e.done)
	size := c.sizeOf(out)
	if err != nil || size < 0 || size > c.maxBytes {
		e.size = -1
		delete(c.entries, key)
		return out, err
	}
	e.value, e.size, e.ready = out, size, true
	c.tick++
	e.used = c.tick
	c.bytes += size
	for c.bytes > c.maxBytes {
		var oldest string
		for k, x := range c.entries {
			if x.ready && k != key && (oldest == "" || x.used < c.entries[oldest].used) {
				oldest = k
			}
		}
		if oldest == "" {
			break
		}
		c.bytes -= c.entries[oldest].size
		delete(c.entries, oldest)
	}
	return out, nil
}
