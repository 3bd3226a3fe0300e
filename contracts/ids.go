package contracts

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"regexp"
	"strings"
)

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// idRE matches an execution id: 26 characters of lower-case base32 (128 bits).
var idRE = regexp.MustCompile(`^[a-z2-7]{26}$`)

// NewID returns a fresh random execution id.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return strings.ToLower(idEncoding.EncodeToString(b[:]))
}

// IDFromKey derives the execution id for an idempotency key, so that the same
// key (from the same tenant) always names the same execution.
func IDFromKey(tenant, key string) string {
	sum := sha256.Sum256([]byte("airlock-idempotency\x00" + tenant + "\x00" + key))
	return strings.ToLower(idEncoding.EncodeToString(sum[:16]))
}

// ValidID reports whether s has the form of an execution id. Anything else is
// unknown without a lookup (and is never used as a KV key).
func ValidID(s string) bool { return idRE.MatchString(s) }

// MaxIdempotencyKey is the longest idempotency key accepted.
const MaxIdempotencyKey = 255

// CheckIdempotencyKey says what is wrong with an idempotency key, or nil:
// 1 to MaxIdempotencyKey bytes of printable ASCII.
func CheckIdempotencyKey(key string) error {
	if key == "" || len(key) > MaxIdempotencyKey {
		return fmt.Errorf("an idempotency key must be 1 to %d characters, got %d", MaxIdempotencyKey, len(key))
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 || key[i] > 0x7e {
			return fmt.Errorf("an idempotency key must be printable ASCII; byte %d is 0x%02x", i, key[i])
		}
	}
	return nil
}
