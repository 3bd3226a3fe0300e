package web

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/airlockrun/airlock/contracts"
)

// APIKey gives a tenant access. The key itself is never logged.
type APIKey struct {
	Tenant string
	Key    string
	// CallbackSecret, when set, signs this tenant's callbacks instead of the
	// server's global secret.
	CallbackSecret string
}

type tenantKey struct{}

type operatorCtxKey struct{}

// IsOperator reports whether the request presented the operator key: only
// then do /readyz, /v1/fleet and Judge0's execution_host name executors and
// show their problems.
func IsOperator(ctx context.Context) bool {
	op, _ := ctx.Value(operatorCtxKey{}).(bool)
	return op
}

// TenantOf is the tenant a request was authenticated as (DefaultTenant when
// no API keys are configured).
func TenantOf(ctx context.Context) string {
	if t, ok := ctx.Value(tenantKey{}).(string); ok {
		return t
	}
	return contracts.DefaultTenant
}

// Auth checks API keys and applies the per-tenant rate limit.
type Auth struct {
	keys []keyEntry
	// operator is the digest of the operator key (nil: no operator key).
	operator *[sha256.Size]byte
	limit    rate.Limit
	burst    int
	mu       sync.Mutex
	bucket   map[string]*rate.Limiter
	// public paths answer without a key (besides the probes).
	public func(path string) bool
}

type keyEntry struct {
	tenant string
	sum    [sha256.Size]byte
}

func NewAuth(keys []APIKey, operatorKey string, perSecond float64, burst int, public func(path string) bool) *Auth {
	a := &Auth{limit: rate.Limit(perSecond), burst: max(burst, 1), bucket: map[string]*rate.Limiter{}, public: public}
	for _, k := range keys {
		a.keys = append(a.keys, keyEntry{tenant: k.Tenant, sum: sha256.Sum256([]byte(k.Key))})
	}
	if operatorKey != "" {
		sum := sha256.Sum256([]byte(operatorKey))
		a.operator = &sum
	}
	return a
}

// IsOperator reports whether key is the operator key, in constant time.
func (a *Auth) isOperator(key string) bool {
	if a.operator == nil || key == "" {
		return false
	}
	sum := sha256.Sum256([]byte(key))
	return subtle.ConstantTimeCompare(sum[:], a.operator[:]) == 1
}

// tenant finds the key's tenant. Every configured key is compared, in
// constant time over equal-length digests, so timing tells nothing about
// which key (or how much of one) matched.
func (a *Auth) tenant(key string) (string, bool) {
	sum := sha256.Sum256([]byte(key))
	found := ""
	for _, k := range a.keys {
		if subtle.ConstantTimeCompare(sum[:], k.sum[:]) == 1 {
			found = k.tenant
		}
	}
	return found, found != ""
}

// presentedKey reads the key from Authorization: Bearer, X-Api-Key or (for
// Judge0 clients) X-Auth-Token.
func presentedKey(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if scheme, token, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(token)
		}
	}
	if k := r.Header.Get("X-Api-Key"); k != "" {
		return k
	}
	return r.Header.Get("X-Auth-Token")
}

// exempt paths answer without a key: probes for the orchestrator, and the
// public paths (the web console's pages and assets; its API calls send the
// key typed in it).
func (a *Auth) exempt(path string) bool {
	return path == "/healthz" || path == "/readyz" || (a.public != nil && a.public(path))
}

// operatorPath is where the operator key is accepted although it names no
// tenant: the fleet view.
func operatorPath(path string) bool { return path == "/v1/fleet" }

func (a *Auth) limiter(tenant string) *rate.Limiter {
	a.mu.Lock()
	defer a.mu.Unlock()
	l, ok := a.bucket[tenant]
	if !ok {
		l = rate.NewLimiter(a.limit, a.burst)
		a.bucket[tenant] = l
	}
	return l
}

// Middleware authenticates (when keys are configured) and rate-limits
// submissions (POST) per tenant.
func (a *Auth) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tenant := contracts.DefaultTenant
		key := presentedKey(r)
		operator := a.isOperator(key)
		if len(a.keys) > 0 && !a.exempt(r.URL.Path) && !(operator && operatorPath(r.URL.Path)) {
			if key == "" {
				w.Header().Set("WWW-Authenticate", `Bearer realm="airlock"`)
				WriteError(w, http.StatusUnauthorized, contracts.CodeUnauthorized, "",
					"an API key is required: send Authorization: Bearer <key> or X-Api-Key: <key>")
				return
			}
			t, ok := a.tenant(key)
			if !ok {
				WriteError(w, http.StatusForbidden, contracts.CodeForbidden, "", "the API key is not valid")
				return
			}
			tenant = t
		}
		if a.limit > 0 && r.Method == http.MethodPost {
			if res := a.limiter(tenant).Reserve(); res.Delay() > 0 {
				res.Cancel()
				wait := max(int(math.Ceil(float64(res.Delay())/float64(time.Second))), 1)
				w.Header().Set("Retry-After", strconv.Itoa(wait))
				WriteError(w, http.StatusTooManyRequests, contracts.CodeRateLimited, "",
					"too many submissions for this API key; retry after the Retry-After delay")
				return
			}
		}
		ctx := context.WithValue(r.Context(), tenantKey{}, tenant)
		next.ServeHTTP(w, r.WithContext(context.WithValue(ctx, operatorCtxKey{}, operator)))
	})
}
