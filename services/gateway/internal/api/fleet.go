package api

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/airlockrun/airlock/contracts"
	"github.com/nats-io/nats.go/jetstream"
)

// fleet reads the executors bucket and caches what it found for a short time.
type fleet struct {
	kv  jetstream.KeyValue
	ttl time.Duration
	log *slog.Logger

	mu    sync.Mutex
	at    time.Time
	infos []contracts.ExecutorInfo
}

// executors returns every executor heartbeat in the bucket (with or without
// a Problem). A non-empty answer is cached for the fleet's TTL; an empty one
// never is, so that a starting executor is seen at once.
func (f *fleet) executors(ctx context.Context) ([]contracts.ExecutorInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.infos) > 0 && f.ttl > 0 && time.Since(f.at) < f.ttl {
		return f.infos, nil
	}
	infos, err := f.read(ctx)
	if err != nil {
		return nil, err
	}
	f.infos, f.at = infos, time.Now()
	return infos, nil
}

// read lists the current heartbeats: a watcher delivers the last value of
// every key, then a nil marker.
func (f *fleet) read(ctx context.Context) ([]contracts.ExecutorInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, natsTimeout)
	defer cancel()
	w, err := f.kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", contracts.ExecutorsBucket, err)
	}
	defer func() { _ = w.Stop() }()
	var infos []contracts.ExecutorInfo
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return nil, fmt.Errorf("watch %s: watcher closed", contracts.ExecutorsBucket)
			}
			if e == nil {
				return infos, nil
			}
			var info contracts.ExecutorInfo
			if err := json.Unmarshal(e.Value(), &info); err != nil {
				f.log.Warn("ignoring unreadable executor heartbeat", "key", e.Key(), "err", err)
				continue
			}
			if info.ID == "" {
				info.ID = e.Key()
			}
			infos = append(infos, info)
		case <-ctx.Done():
			return nil, fmt.Errorf("list %s: %w", contracts.ExecutorsBucket, ctx.Err())
		}
	}
}

// liveRuntimes is the union of the runtimes of the executors without a
// Problem, deduplicated by language and version, sorted by language and
// then newest version first (so that FindRuntime without a version picks the
// newest).
func liveRuntimes(infos []contracts.ExecutorInfo) []contracts.Runtime {
	return runtimesOf(infos, false)
}

// knownRuntimes also counts executors that report a problem (for example a
// Docker engine restarting): a job for them waits in the queue until they
// recover, instead of being refused.
func knownRuntimes(infos []contracts.ExecutorInfo) []contracts.Runtime {
	return runtimesOf(infos, true)
}

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

// runtimesBody is the answer of GET /v1/runtimes.
type runtimesBody struct {
	Runtimes []contracts.Runtime `json:"runtimes"`
}

// handleRuntimes serves GET /v1/runtimes.
func (a *API) handleRuntimes(w http.ResponseWriter, r *http.Request) {
	infos, err := a.fleet.executors(r.Context())
	if err != nil {
		a.unavailable(w, r, "could not read the executors", err)
		return
	}
	writeJSON(w, http.StatusOK, runtimesBody{Runtimes: liveRuntimes(infos)})
}

// handleHealth serves GET /healthz: the process is up.
func (a *API) handleHealth(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyBody is the answer of GET /readyz. Checks, which name executors
// and quote engine errors, are given only to the operator.
type readyBody struct {
	Status string            `json:"status"` // "ready" or "not_ready"
	Ready  bool              `json:"ready"`
	Checks map[string]string `json:"checks,omitempty"`
}

// handleReady serves GET /readyz: NATS connected, the streams and the
// executions bucket present, and at least one executor able to take work.
// Without the operator key it says only whether the gateway is ready.
func (a *API) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), natsTimeout)
	defer cancel()
	checks := map[string]string{}
	ready := true
	fail := func(name, text string) {
		checks[name] = text
		ready = false
	}

	if a.nc.IsConnected() {
		checks["nats"] = "ok"
	} else {
		fail("nats", "not connected ("+strings.ToLower(a.nc.Status().String())+")")
	}

	var missing []string
	for _, name := range []string{contracts.JobsStream, contracts.ResultsStream} {
		if _, err := a.js.Stream(ctx, name); err != nil {
			missing = append(missing, name+": "+err.Error())
		}
	}
	if len(missing) == 0 {
		checks["streams"] = "ok"
	} else {
		fail("streams", strings.Join(missing, "; "))
	}

	if _, err := a.js.KeyValue(ctx, contracts.ExecutionsBucket); err != nil {
		fail("buckets", contracts.ExecutionsBucket+": "+err.Error())
	} else {
		checks["buckets"] = "ok"
	}

	infos, err := a.fleet.executors(ctx)
	if err != nil {
		fail("executors", err.Error())
	} else {
		live := 0
		var problems []string
		for _, info := range infos {
			if info.Problem != "" {
				problems = append(problems, info.ID+": "+info.Problem)
			} else {
				live++
			}
		}
		text := "none"
		if live > 0 {
			text = fmt.Sprintf("%d live", live)
		}
		if len(problems) > 0 {
			slices.Sort(problems)
			text += "; " + strings.Join(problems, "; ")
		}
		checks["executors"] = text
		if live == 0 {
			ready = false
		}
	}

	status, body := http.StatusOK, readyBody{Status: "ready", Ready: true}
	if !ready {
		status, body = http.StatusServiceUnavailable, readyBody{Status: "not_ready"}
	}
	if isOperator(r.Context()) {
		body.Checks = checks
	} else if !ready {
		a.log.Debug("not ready", "checks", checks)
	}
	writeJSON(w, status, body)
}

// pseudonym names an executor to everyone but the operator: stable for the
// life of this gateway and not reversible without its random key, so that
// tenants learn neither node names nor how they are formed.
func (a *API) pseudonym(id string) string {
	mac := hmac.New(sha256.New, a.pseudonymKey[:])
	mac.Write([]byte(id))
	return "executor-" + hex.EncodeToString(mac.Sum(nil)[:4])
}

// neutralProblem replaces an executor's problem (an engine error that may
// name hosts, sockets and paths) for everyone but the operator.
const neutralProblem = "not taking jobs"

// fleetView is infos as the requester may see them: as they are for the
// operator, with pseudonyms and a neutral problem for everyone else.
func (a *API) fleetView(ctx context.Context, infos []contracts.ExecutorInfo) []contracts.ExecutorInfo {
	out := make([]contracts.ExecutorInfo, len(infos))
	for i, info := range infos {
		if !isOperator(ctx) {
			info.ID = a.pseudonym(info.ID)
			if info.Problem != "" {
				info.Problem = neutralProblem
			}
		}
		out[i] = info
	}
	return out
}

// unavailable answers 503 unavailable for a NATS failure, unless the client
// has gone (then nobody is listening and nothing is written).
func (a *API) unavailable(w http.ResponseWriter, r *http.Request, what string, err error) {
	if r.Context().Err() != nil && errors.Is(err, context.Canceled) {
		a.log.Debug("client went away", "path", r.URL.Path, "err", err)
		return
	}
	a.log.Warn(what, "path", r.URL.Path, "err", err)
	w.Header().Set("Retry-After", "1")
	writeError(w, http.StatusServiceUnavailable, contracts.CodeUnavailable, "", what+"; try again shortly")
}
