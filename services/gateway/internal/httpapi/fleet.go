package httpapi

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/services/gateway/internal/web"
)

// callTimeout bounds the NATS round trips of /readyz.
const callTimeout = 5 * time.Second

// runtimesBody is the answer of GET /v1/runtimes.
type runtimesBody struct {
	Runtimes []contracts.Runtime `json:"runtimes"`
}

// handleRuntimes serves GET /v1/runtimes.
func (a *API) handleRuntimes(w http.ResponseWriter, r *http.Request) {
	runtimes, err := a.Client.LiveRuntimes(r.Context())
	if err != nil {
		a.Fail(w, r, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, runtimesBody{Runtimes: runtimes})
}

// handleHealth serves GET /healthz: the process is up.
func (a *API) handleHealth(w http.ResponseWriter, _ *http.Request) {
	web.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
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
	ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
	defer cancel()
	checks := map[string]string{}
	ready := true
	fail := func(name, text string) {
		checks[name] = text
		ready = false
	}

	if a.Client.Connected() {
		checks["nats"] = "ok"
	} else {
		fail("nats", "not connected")
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

	infos, err := a.Client.Executors(ctx)
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
	if web.IsOperator(r.Context()) {
		body.Checks = checks
	} else if !ready {
		a.Log.Debug("not ready", "checks", checks)
	}
	web.WriteJSON(w, status, body)
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
		if !web.IsOperator(ctx) {
			info.ID = a.pseudonym(info.ID)
			if info.Problem != "" {
				info.Problem = neutralProblem
			}
		}
		out[i] = info
	}
	return out
}
