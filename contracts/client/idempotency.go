package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/airlockrun/airlock/contracts"
)

// An idempotency key is reserved in the idempotency bucket
// (contracts.IdempotencyBucket), which keeps a reservation as long as the
// results are kept (Topology.ResultTTL) and survives a NATS restart. The
// reservation is created once and never overwritten: its key is the tenant,
// a scope (what the key names: executions, evaluations) and a hash of the
// idempotency key; its value is the id the key names and a hash of the
// request it was first used with. So, within the TTL, the same key with the
// same request names the same execution, and the same key with another
// request is refused (ErrIdempotencyKeyReused).

// ExecutionScope is the scope under which Submit reserves the idempotency
// keys of executions.
const ExecutionScope = "execution"

// reservation is the value stored for a reserved key.
type reservation struct {
	ID string `json:"id"`
	// RequestSHA256 is the hash of the request's fingerprint, hex.
	RequestSHA256 string `json:"request_sha256"`
	// ResolvedSHA256, for an execution, is the hash of the request as it
	// was queued (language and version resolved), hex.
	ResolvedSHA256 string    `json:"resolved_sha256,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
}

// sameRequest reports whether a reservation and a request name the same
// request: the same fingerprint, or both resolved to the same request.
func (r reservation) sameRequest(o reservation) bool {
	return r.RequestSHA256 == o.RequestSHA256 || r.ResolvedSHA256 != "" && r.ResolvedSHA256 == o.ResolvedSHA256
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// reservations opens the idempotency bucket on first use (a client that
// never reserves a key does not need it).
type reservations struct {
	js      jetstream.JetStream
	timeout time.Duration

	mu sync.Mutex
	kv jetstream.KeyValue
}

func (r *reservations) bucket(ctx context.Context) (jetstream.KeyValue, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.kv == nil {
		kv, err := r.js.KeyValue(ctx, contracts.IdempotencyBucket)
		if err != nil {
			return nil, fmt.Errorf("%w: open bucket %s: %w", ErrUnavailable, contracts.IdempotencyBucket, err)
		}
		r.kv = kv
	}
	return r.kv, nil
}

// reservationKey is the bucket key of an idempotency key: the key itself
// may hold characters a bucket key cannot.
func reservationKey(tenant, scope, key string) string {
	return tenant + "." + scope + "." + sha256Hex([]byte(key))
}

// Reserve reserves the idempotency key for the client's tenant in scope (a
// word naming what the key identifies, such as ExecutionScope or
// "evaluation"; letters, digits, - and _), for the request whose
// fingerprint is given (the bytes that make two requests the same, e.g.
// the normalised request's JSON; only their SHA-256 is stored) and the id
// that request will take.
//
//   - The key is new: it now names id; fresh is true and storedID is id.
//     The caller goes on (queues its request); if that definitely fails, it
//     calls Release so that a retry can proceed.
//   - The key names a request with the same fingerprint: fresh is false and
//     storedID is the id reserved first. The caller answers with that id
//     and creates nothing, unless the first caller never did (it crashed
//     between Reserve and its publish): then it publishes under storedID,
//     which the publish's de-duplication (Nats-Msg-Id) guards.
//   - The key names a request with another fingerprint: the error is
//     ErrIdempotencyKeyReused (storedID is the id it names).
//
// A reservation lasts as long as the results (Topology.ResultTTL) from the
// moment it is made, across NATS restarts. A failed bus call is
// ErrUnavailable.
func (c *Client) Reserve(ctx context.Context, scope, key string, fingerprint []byte, id string) (storedID string, fresh bool, err error) {
	return c.reserve(ctx, scope, key, id, reservation{RequestSHA256: sha256Hex(fingerprint)})
}

// reserve is Reserve of want, whose hashes are set.
func (c *Client) reserve(ctx context.Context, scope, key, id string, want reservation) (storedID string, fresh bool, err error) {
	k, err := c.reservationKey(scope, key)
	if err != nil {
		return "", false, err
	}
	if !contracts.ValidID(id) {
		return "", false, fmt.Errorf("%q is not an id", id)
	}
	want.ID, want.CreatedAt = id, time.Now().UTC()
	value, err := json.Marshal(want)
	if err != nil {
		return "", false, fmt.Errorf("encode reservation: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.keys.timeout)
	defer cancel()
	kv, err := c.keys.bucket(ctx)
	if err != nil {
		return "", false, err
	}
	// A reservation released or expired between Create and Get is tried
	// again; each round means another caller made progress.
	for range 4 {
		_, err := kv.Create(ctx, k, value)
		if err == nil {
			return id, true, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return "", false, fmt.Errorf("%w: reserve idempotency key: %w", ErrUnavailable, err)
		}
		entry, err := kv.Get(ctx, k)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			continue
		case err != nil:
			return "", false, fmt.Errorf("%w: read idempotency key: %w", ErrUnavailable, err)
		}
		var have reservation
		if err := json.Unmarshal(entry.Value(), &have); err != nil || !contracts.ValidID(have.ID) {
			return "", false, fmt.Errorf("%w: unreadable reservation of idempotency key %s", ErrUnavailable, k)
		}
		if !have.sameRequest(want) {
			return have.ID, false, ErrIdempotencyKeyReused
		}
		return have.ID, false, nil
	}
	return "", false, fmt.Errorf("%w: the reservation of an idempotency key kept changing", ErrUnavailable)
}

// reserveExecution reserves key for a submission of req (resolved; its
// fingerprint taken before) under id. It returns the id the key names,
// whether that execution is known (answer it, queue nothing), and release,
// which gives the key back when the key was fresh and the publish is then
// refused (a no-op otherwise).
func (c *Client) reserveExecution(ctx context.Context, key, id string, fingerprint []byte, req *contracts.ExecutionRequest) (string, bool, func(), error) {
	nothing := func() {}
	resolved, err := json.Marshal(req)
	if err != nil {
		return "", false, nothing, fmt.Errorf("encode request: %w", err)
	}
	want := reservation{RequestSHA256: sha256Hex(fingerprint), ResolvedSHA256: sha256Hex(resolved)}
	id, fresh, err := c.reserve(ctx, ExecutionScope, key, id, want)
	if err != nil {
		return "", false, nothing, err
	}
	// A known execution is answered, not queued again: the key's first use
	// (or, for a fresh reservation, a use older than the bucket remembers,
	// whose execution is still readable). An unknown one is a first use, or
	// its submitter did not publish it (or has not yet): publishing under
	// the same id is safe within the JOBS de-duplication window.
	_, known, err := c.read(ctx, id)
	if err != nil || known || !fresh {
		return id, known, nothing, err
	}
	return id, false, func() {
		rctx, cancel := c.call(context.WithoutCancel(ctx))
		defer cancel()
		if err := c.Release(rctx, ExecutionScope, key, id); err != nil {
			c.log.Warn("idempotency key kept after a refused publish: a retry with another request is refused until it expires",
				"id", id, "err", err)
		}
	}, nil
}

// Release removes the reservation of key in scope if it still names id: the
// request it was reserved for was definitely not created (its publish was
// refused), so a retry, even with another request, may reserve the key
// again. Releasing a key that names another id, or none, does nothing.
func (c *Client) Release(ctx context.Context, scope, key, id string) error {
	k, err := c.reservationKey(scope, key)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.keys.timeout)
	defer cancel()
	kv, err := c.keys.bucket(ctx)
	if err != nil {
		return err
	}
	entry, err := kv.Get(ctx, k)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("%w: read idempotency key: %w", ErrUnavailable, err)
	}
	var have reservation
	if json.Unmarshal(entry.Value(), &have) == nil && have.ID != id {
		return nil
	}
	err = kv.Delete(ctx, k, jetstream.LastRevision(entry.Revision()))
	if err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("%w: release idempotency key: %w", ErrUnavailable, err)
	}
	return nil
}

func (c *Client) reservationKey(scope, key string) (string, error) {
	if err := c.checkTenant(); err != nil {
		return "", err
	}
	if !contracts.ValidTenant(scope) { // the same alphabet: one subject token
		return "", fmt.Errorf("scope %q: letters, digits, - and _ only", scope)
	}
	if err := contracts.CheckIdempotencyKey(key); err != nil {
		return "", &contracts.ValidationError{Code: contracts.CodeInvalidRequest, Field: "idempotency_key", Message: err.Error()}
	}
	return reservationKey(c.tenant, scope, key), nil
}
