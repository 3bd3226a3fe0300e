package contracts

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
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
