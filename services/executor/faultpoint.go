//go:build !airlock_faultpoints

package executor

import "log/slog"

// faultPoint marks a place in the job lifecycle where the fault tests stop
// an executor. In every build without the airlock_faultpoints tag (release
// binaries included) it does nothing and reads nothing: the test-only stop
// of faultpoint_enabled.go is not compiled in.
func faultPoint(*slog.Logger, string) {}
