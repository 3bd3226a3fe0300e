package client

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/airlockrun/airlock/contracts"
)

// fleet reads the executors bucket and keeps what it found for a short time.
type fleet struct {
	kv      jetstream.KeyValue
	ttl     time.Duration
	timeout time.Duration
	log     *slog.Logger

	mu    sync.Mutex
	at    time.Time
	infos []contracts.ExecutorInfo
	known []contracts.Runtime // every executor's runtimes, sorted
	live  []contracts.Runtime // those of executors without a problem, sorted
}

// Executors returns the heartbeat of every executor in the bucket, with or
// without a Problem. A non-empty answer is reused for Options.ExecutorCacheTTL;
// an empty one never is, so that a starting executor is seen at once. A
// failed read is ErrUnavailable.
func (c *Client) Executors(ctx context.Context) ([]contracts.ExecutorInfo, error) {
	f, err := c.fleet.current(ctx)
	if err != nil {
		return nil, err
	}
	return f.infos, nil
}

// Runtimes is the union of the runtimes of every executor, including those
// that report a problem (a job for them waits queued until they recover),
// deduplicated, sorted by language and then newest version first: the order
// in which a request without a version resolves. Submit resolves with it.
func (c *Client) Runtimes(ctx context.Context) ([]contracts.Runtime, error) {
	f, err := c.fleet.current(ctx)
	if err != nil {
		return nil, err
	}
	return f.known, nil
}

// LiveRuntimes is Runtimes without the executors that report a problem:
// what a listing of the runtimes shows.
func (c *Client) LiveRuntimes(ctx context.Context) ([]contracts.Runtime, error) {
	f, err := c.fleet.current(ctx)
	if err != nil {
		return nil, err
	}
	return f.live, nil
}

// fleetState is one reading of the executors bucket.
type fleetState struct {
	infos       []contracts.ExecutorInfo
	known, live []contracts.Runtime
}

func (f *fleet) current(ctx context.Context) (fleetState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.infos) == 0 || f.ttl < 0 || time.Since(f.at) >= f.ttl {
		infos, err := f.read(ctx)
		if err != nil {
			return fleetState{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		f.infos, f.at = infos, time.Now()
		f.known, f.live = runtimesOf(infos, true), runtimesOf(infos, false)
	}
	return fleetState{infos: f.infos, known: f.known, live: f.live}, nil
}

// read lists the current heartbeats.
func (f *fleet) read(ctx context.Context) ([]contracts.ExecutorInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	return contracts.ReadExecutors(ctx, f.kv, f.log)
}

// runtimesOf is the union of the executors' runtimes (with or without those
// of executors that report a problem), deduplicated by language and
// version, sorted by language and then newest version first (so that
// contracts.FindRuntime without a version picks the newest).
func runtimesOf(infos []contracts.ExecutorInfo, withProblems bool) []contracts.Runtime {
	seen := map[string]bool{}
	out := []contracts.Runtime{}
	for _, info := range infos {
		if info.Problem != "" && !withProblems {
			continue
		}
		for _, rt := range info.Runtimes {
			key := rt.Language + "\x00" + rt.Version
			if seen[key] {
				continue
			}
			seen[key] = true
			if rt.Aliases == nil {
				rt.Aliases = []string{}
			}
			out = append(out, rt)
		}
	}
	slices.SortStableFunc(out, func(a, b contracts.Runtime) int {
		if c := cmp.Compare(a.Language, b.Language); c != 0 {
			return c
		}
		return -compareVersions(a.Version, b.Version)
	})
	return out
}

// compareVersions orders dotted versions, numerically where both parts are numbers.
func compareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		an, aerr := strconv.Atoi(as[i])
		bn, berr := strconv.Atoi(bs[i])
		var c int
		if aerr == nil && berr == nil {
			c = cmp.Compare(an, bn)
		} else {
			c = cmp.Compare(as[i], bs[i])
		}
		if c != 0 {
			return c
		}
	}
	return cmp.Compare(len(as), len(bs))
}
