package runner

import (
	"context"
	"sync"
	"sync/atomic"
)

// compileCache keeps builds by the hash of their language and sources, at
// most maxBytes of them, dropping the least recently used first. Concurrent
// gets of one key compile once: the others wait for that build. A failed
// build is not kept (a build that timed out on a busy node may succeed
// later).
type compileCache struct {
	mu       sync.Mutex
	entries  map[string]*cacheEntry
	bytes    int64
	maxBytes int64
	tick     int64
	// compiles counts the builds run (not the hits).
	compiles atomic.Int64
}

type cacheEntry struct {
	done  chan struct{} // closed when the build is over
	build []byte        // nil: the build failed
	used  int64
}

func newCompileCache(maxBytes int64) *compileCache {
	return &compileCache{entries: make(map[string]*cacheEntry), maxBytes: maxBytes}
}

// get returns the build of key, running build when no build is kept or
// under way. build returns nil bytes when the sources did not compile.
func (c *compileCache) get(ctx context.Context, key string, build func() ([]byte, error)) ([]byte, error) {
	for {
		c.mu.Lock()
		e, ok := c.entries[key]
		if !ok {
			e = &cacheEntry{done: make(chan struct{})}
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
			return nil, ctx.Err()
		}
		if e.build != nil {
			return e.build, nil
		}
		// That build failed and was dropped: try again (our own build
		// reports our own failure).
	}
}

func (c *compileCache) fill(key string, e *cacheEntry, build func() ([]byte, error)) ([]byte, error) {
	c.compiles.Add(1)
	out, err := build()
	c.mu.Lock()
	defer c.mu.Unlock()
	defer close(e.done)
	if err != nil || out == nil || int64(len(out)) > c.maxBytes {
		delete(c.entries, key)
		return out, err
	}
	e.build = out
	c.tick++
	e.used = c.tick
	c.bytes += int64(len(out))
	for c.bytes > c.maxBytes {
		var oldest string
		for k, x := range c.entries {
			if x.build != nil && k != key && (oldest == "" || x.used < c.entries[oldest].used) {
				oldest = k
			}
		}
		if oldest == "" {
			break
		}
		c.bytes -= int64(len(c.entries[oldest].build))
		delete(c.entries, oldest)
	}
	return out, nil
}
