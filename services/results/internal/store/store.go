// Package store writes executions into the `executions` KV bucket so that an
// entry only ever moves forward (queued → running → completed), whatever the
// order in which status events arrive and however often they are repeated.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/airlockrun/airlock/contracts"
	"github.com/nats-io/nats.go/jetstream"
)

// Outcome says what Apply did with an event.
type Outcome int

// The outcomes of Apply.
const (
	// Created means the key did not exist and now holds the event.
	Created Outcome = iota + 1
	// Updated means the event replaced a stored state of lower rank.
	Updated
	// Skipped means the stored state already had the same or a higher rank,
	// so the event was stale or a duplicate and nothing was written.
	Skipped
)

// String names the outcome for logs.
func (o Outcome) String() string {
	switch o {
	case Created:
		return "created"
	case Updated:
		return "updated"
	case Skipped:
		return "skipped"
	}
	return "unknown"
}

// maxAttempts bounds the compare-and-set loop. Every conflict means another
// writer made progress, so running out is rare; the caller retries later.
const maxAttempts = 16

// ErrConflict is returned when the compare-and-set loop kept losing races.
var ErrConflict = errors.New("too many concurrent writes")

// Apply stores ev under its id unless the stored state is already as far
// along (same or higher Status.Rank). The one exception is the outcome of a
// callback (CallbackStatus), which arrives on a second completed event: it is
// merged into the stored completed state when it outranks the one recorded
// (contracts.CallbackRank), and the rest of the stored state is kept. It uses optimistic concurrency (Create
// for a new key, Update at the read revision otherwise), so concurrent writers
// never move an entry backwards. ev.ID must satisfy contracts.ValidID.
func Apply(ctx context.Context, kv jetstream.KeyValue, ev *contracts.Execution) (Outcome, error) {
	value, err := json.Marshal(ev)
	if err != nil {
		return 0, fmt.Errorf("encode execution: %w", err)
	}
	key := ev.ID
	for range maxAttempts {
		entry, err := kv.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			if _, err := kv.Create(ctx, key, value); err != nil {
				if errors.Is(err, jetstream.ErrKeyExists) {
					continue // someone else created it first: compare again
				}
				return 0, fmt.Errorf("create %s: %w", key, err)
			}
			return Created, nil
		case err != nil:
			return 0, fmt.Errorf("get %s: %w", key, err)
		}

		var stored contracts.Execution
		write := value
		// A stored value that does not decode has rank 0 and is replaced.
		if json.Unmarshal(entry.Value(), &stored) == nil && stored.Status.Rank() >= ev.Status.Rank() {
			if !mergesCallback(&stored, ev) {
				return Skipped, nil
			}
			// The stored state stays; only the callback outcome is added.
			stored.CallbackStatus, stored.CallbackError = ev.CallbackStatus, ev.CallbackError
			if write, err = json.Marshal(&stored); err != nil {
				return 0, fmt.Errorf("encode execution: %w", err)
			}
		}
		if _, err := kv.Update(ctx, key, write, entry.Revision()); err != nil {
			if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
				continue // changed since we read it: compare again
			}
			return 0, fmt.Errorf("update %s: %w", key, err)
		}
		return Updated, nil
	}
	return 0, fmt.Errorf("write %s: %w", key, ErrConflict)
}

// mergesCallback reports whether ev carries a callback outcome that the
// stored state, as far along as ev, should take.
func mergesCallback(stored, ev *contracts.Execution) bool {
	return stored.Status == ev.Status && ev.Terminal() &&
		contracts.CallbackRank(ev.CallbackStatus) > contracts.CallbackRank(stored.CallbackStatus)
}
