// Package compat holds what the Piston- and Judge0-compatible front doors
// (packages piston and judge0) share: lenient base64, signal numbers, the
// wall-clock timeout test and a pointer helper.
package compat

import (
	"encoding/base64"
	"strings"

	"github.com/airlockrun/airlock/contracts"
)

// DecodeBase64Lenient decodes base64 the way Node's Buffer.from(s, "base64")
// and Ruby's Base64.decode64 do: characters outside the alphabet (line
// breaks, spaces) are skipped, the URL-safe alphabet is accepted, padding is
// optional and decoding stops at the first "=".
func DecodeBase64Lenient(s string) []byte {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '+', c == '/':
			b.WriteByte(c)
		case c == '-':
			b.WriteByte('+')
		case c == '_':
			b.WriteByte('/')
		case c == '=':
			i = len(s)
		}
	}
	clean := b.String()
	if len(clean)%4 == 1 { // a lone trailing character carries no whole byte
		clean = clean[:len(clean)-1]
	}
	// Only alphabet characters remain and the length is never 1 mod 4, so
	// this cannot fail (unused trailing bits are ignored, as Node does).
	out, _ := base64.RawStdEncoding.DecodeString(clean)
	return out
}

// EncodeBase64Lines encodes like Ruby's Base64.encode64 (RFC 2045): lines of
// at most 60 characters, each ending in "\n". Judge0 answers in this form.
func EncodeBase64Lines(data []byte) string {
	enc := base64.StdEncoding.EncodeToString(data)
	var b strings.Builder
	b.Grow(len(enc) + len(enc)/60 + 1)
	for len(enc) > 60 {
		b.WriteString(enc[:60])
		b.WriteByte('\n')
		enc = enc[60:]
	}
	if enc != "" {
		b.WriteString(enc)
		b.WriteByte('\n')
	}
	return b.String()
}

// signalNumbers are the Linux signal numbers of the names a Stage reports.
var signalNumbers = map[string]int{
	"SIGHUP": 1, "SIGINT": 2, "SIGQUIT": 3, "SIGILL": 4, "SIGTRAP": 5, "SIGABRT": 6, "SIGBUS": 7,
	"SIGFPE": 8, "SIGKILL": 9, "SIGUSR1": 10, "SIGSEGV": 11, "SIGUSR2": 12, "SIGPIPE": 13,
	"SIGALRM": 14, "SIGTERM": 15, "SIGSTKFLT": 16, "SIGCHLD": 17, "SIGCONT": 18, "SIGSTOP": 19,
	"SIGTSTP": 20, "SIGTTIN": 21, "SIGTTOU": 22, "SIGURG": 23, "SIGXCPU": 24, "SIGXFSZ": 25,
	"SIGVTALRM": 26, "SIGPROF": 27, "SIGWINCH": 28, "SIGIO": 29, "SIGPWR": 30, "SIGSYS": 31,
}

// SignalNumber is the number of the signal that killed a stage, or 0.
func SignalNumber(st *contracts.Stage) int {
	if st == nil || st.Signal == "" {
		return 0
	}
	if n, ok := signalNumbers[strings.ToUpper(st.Signal)]; ok {
		return n
	}
	if st.ExitCode > 128 && st.ExitCode < 160 {
		return st.ExitCode - 128
	}
	return 0
}

// WallTimeout tells a wall-clock timeout from a CPU-time one: the stage ran
// for (at least) its wall limit.
func WallTimeout(st *contracts.Stage, limits *contracts.LimitSet, compile bool) bool {
	if st == nil || limits == nil {
		return false
	}
	limit := limits.WallTimeMS
	if compile {
		limit = limits.CompileWallTimeMS
	}
	return limit > 0 && st.WallTimeMS >= limit
}

// Ptr is a pointer to a copy of v.
func Ptr[T any](v T) *T { return &v }
