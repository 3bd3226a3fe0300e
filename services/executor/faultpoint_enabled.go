//go:build airlock_faultpoints

package executor

import (
	"log/slog"
	"os"
)

// faultPoint, in a binary built with the airlock_faultpoints tag (only the
// fault tests build one), stops the job at the named point when
// AIRLOCK_FAULT_POINT names it: it logs "fault point reached" and waits for
// the test to kill the process. The heartbeat keeps running meanwhile, as
// it would while the executor is busy, so the job is not redelivered before
// the kill. Release builds never contain this code (faultpoint.go).
func faultPoint(log *slog.Logger, name string) {
	if os.Getenv("AIRLOCK_FAULT_POINT") != name {
		return
	}
	log.Warn("fault point reached", "point", name)
	select {}
}
