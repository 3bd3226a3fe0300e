// Command airlock-init is the first process of every Airlock sandbox: the
// init of package sandboxinit alone, without the rest of Airlock. The
// executor mounts it (read-only) into each container when it finds it next
// to its own executable, or when --init-path names it; otherwise the airlock
// binary itself serves as the init. Being small, it starts faster and holds
// less memory inside the sandbox, where its memory counts against the
// program's limit. Build it static: CGO_ENABLED=0.
package main

import (
	"fmt"
	"os"

	"github.com/airlockrun/airlock/services/executor/sandboxinit"
)

func main() {
	if code, ok := sandboxinit.Dispatch(os.Args[1:], os.Stdout); ok {
		os.Exit(code)
	}
	fmt.Fprintf(os.Stderr, "airlock-init is started by the Airlock executor inside a sandbox (first argument %s), not by hand\n", sandboxinit.Arg)
	os.Exit(2)
}
