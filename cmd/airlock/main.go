// Command airlock runs Airlock: the whole stack in one process on an
// embedded NATS server (`airlock dev`), or one service against an external
// NATS (`airlock gateway|executor|results`), which is how a fleet runs it.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/airlockrun/airlock/cmd/airlock/internal/cli"
	"github.com/airlockrun/airlock/services/executor/sandboxinit"
)

func main() {
	// Inside a sandbox container this binary is the init (pid 1).
	if code, ok := sandboxinit.Dispatch(os.Args[1:], os.Stdout); ok {
		os.Exit(code)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], stdio{in: os.Stdin, out: os.Stdout, err: os.Stderr}); err != nil {
		var code cli.ExitCode // the client commands choose their exit status
		if errors.As(err, &code) {
			os.Exit(int(code))
		}
		if !errors.Is(err, errUsage) {
			fmt.Fprintln(os.Stderr, "airlock:", err)
		}
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

const usage = `airlock runs untrusted code in locked-down containers.

Usage:
  airlock dev        the whole stack in one process: embedded NATS, gateway, executor, results
  airlock gateway    the HTTP API, against NATS_URL
  airlock executor   the sandbox runner, against NATS_URL (needs a Docker engine)
  airlock results    the result store writer, against NATS_URL
  airlock nats-auth  generate NATS identities (an nkey per role and tenant), their permissions and the account's JetStream limits
  airlock run FILE   run a program on a gateway, print its output and verdict (--tests DIR: judge)
  airlock runtimes   list the languages a gateway serves
  airlock version    print the version

Run "airlock <command> -h" for a command's flags. Every flag can also be set
with the environment variable shown in its help (flags win).
`

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

// stdio are a command's standard streams: the process's in main, buffers
// in tests.
type stdio struct {
	in       io.Reader
	out, err io.Writer
}

func run(ctx context.Context, args []string, std stdio) error {
	stdout, stderr := std.out, std.err
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "dev":
		return runDev(ctx, rest, stderr)
	case "gateway", "executor", "results":
		return runService(ctx, cmd, rest, stderr)
	case "run":
		return cli.Run(ctx, rest, cli.Env{In: std.in, Out: stdout, Err: stderr, Version: version})
	case "runtimes":
		return cli.Runtimes(ctx, rest, cli.Env{Out: stdout, Err: stderr, Version: version})
	case "nats-auth":
		return runNATSAuth(rest, stdout, stderr)
	case "nats": // hidden: the embedded nats-server, for tests and operations
		return runNATS(ctx, rest, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "airlock", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprintf(stderr, "unknown command %q\n\n%s", cmd, usage)
	return errUsage
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: use text or json", format)
}
