package contracts

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Result tokens let the results service refuse a status event for a job
// its publisher never held. Every job carries a token, an HMAC of its id
// under a key that only the gateway and the results service can read (the
// KeysBucket; an executor's identity cannot). The executor that takes the
// job copies the token into the ResultTokenHeader of each event it
// publishes for it, and whoever reads an event (the results service, the
// callbacks, a read before the result is stored) checks it. So a
// compromised executor, which may publish on every event subject, can
// forge the result only of a job it was given.
const (
	// ResultTokenHeader carries the job's token on each status event.
	ResultTokenHeader = "Airlock-Result-Token"
	// KeysBucket holds the result-token key (and nothing an executor may
	// read).
	KeysBucket = "keys"
	// resultKeyName is the result-token key's name in KeysBucket.
	resultKeyName = "result-token"
)

// KeysBucketConfig is the KV bucket of Airlock's own keys.
func (t Topology) KeysBucketConfig() jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:      KeysBucket,
		Description: "Airlock keys (the result-token key); never readable by an executor",
		History:     1,
		Storage:     jetstream.FileStorage,
		MaxBytes:    4 << 10, // one 32-byte key and its headers
		Replicas:    t.replicas(),
	}
}

// ResultSealer makes and checks result tokens.
type ResultSealer struct{ key []byte }

// NewResultSealer makes a sealer with key (at least 32 bytes).
func NewResultSealer(key []byte) (*ResultSealer, error) {
	if len(key) < 32 {
		return nil, fmt.Errorf("a result-token key needs 32 bytes, got %d", len(key))
	}
	return &ResultSealer{key: append([]byte(nil), key...)}, nil
}

// LoadResultSealer reads the fleet's result-token key from KeysBucket, and
// creates it (32 random bytes, create-only, so that every process ends with
// the same key) when there is none yet. The bucket must exist (Ensure).
func LoadResultSealer(ctx context.Context, js jetstream.JetStream) (*ResultSealer, error) {
	kv, err := js.KeyValue(ctx, KeysBucket)
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", KeysBucket, err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	if _, err := kv.Create(ctx, resultKeyName, key); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return nil, fmt.Errorf("create the result-token key: %w", err)
	}
	entry, err := kv.Get(ctx, resultKeyName)
	if err != nil {
		return nil, fmt.Errorf("read the result-token key: %w", err)
	}
	return NewResultSealer(entry.Value())
}

// Token is the result token of the job id.
func (s *ResultSealer) Token(id string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("airlock-result-token\x00" + id))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// Valid reports whether token is the result token of id.
func (s *ResultSealer) Valid(id, token string) bool {
	return token != "" && hmac.Equal([]byte(token), []byte(s.Token(id)))
}

// Sealed reports whether an event message on subject with header h is an
// event of execution id carrying id's token: the subject must be the
// event subject of id (the body's id), so that a token for one execution
// does not vouch for an event published about another.
func (s *ResultSealer) Sealed(t Topology, subject string, h nats.Header, id string) bool {
	return subject == t.EventSubject(id) && s.Valid(id, h.Get(ResultTokenHeader))
}

// EventMsg is the status event message of execution id: data on the
// execution's event subject, with the job's result token.
func (t Topology) EventMsg(id, token string, data []byte) *nats.Msg {
	msg := nats.NewMsg(t.EventSubject(id))
	msg.Data = data
	msg.Header.Set(ResultTokenHeader, token)
	return msg
}
