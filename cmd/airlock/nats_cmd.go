package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/nats-io/nats-server/v2/server"
)

// runNATS is `airlock nats`, for tests and operations only (it is not in the
// usage text): the nats-server built into this binary, with nats-server's
// own flags and configuration file (-c), its signals (SIGHUP reloads,
// SIGUSR2 enters lame-duck mode, SIGTERM stops) and its log on stderr. The
// fleet simulation (fleet_test.go) runs a JetStream cluster of three of
// them, since no nats-server binary is needed that way; a production
// fleet runs the official nats-server (deploy/nomad/nats.nomad.hcl).
func runNATS(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("airlock nats", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: airlock nats [nats-server flags]\n\n"+
			"Runs the embedded nats-server (for tests and operations); every nats-server\n"+
			"flag works, e.g. -js -sd DIR -n NAME -a HOST -p PORT --cluster URL\n"+
			"--cluster_name NAME --routes URL,URL -m HTTP_PORT -c FILE.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	opts, err := server.ConfigureOptions(fs, args,
		func() { fmt.Fprintln(stdout, "nats-server", server.VERSION) },
		fs.Usage,
		func() {
			fmt.Fprintln(stdout, "TLS flags: --tls --tlscert FILE --tlskey FILE --tlscacert FILE --tlsverify")
		})
	switch {
	case errors.Is(err, flag.ErrHelp):
		return nil
	case err != nil:
		fmt.Fprintln(stderr, "airlock nats:", err)
		return errUsage
	case opts == nil: // -v, -h or --help_tls, already answered
		return nil
	case opts.CheckConfig:
		fmt.Fprintf(stdout, "configuration file %s is valid\n", opts.ConfigFile)
		return nil
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return fmt.Errorf("nats: %w", err)
	}
	s.ConfigureLogger()
	if err := server.Run(s); err != nil {
		return fmt.Errorf("nats: %w", err)
	}
	stopped := make(chan struct{})
	go func() { s.WaitForShutdown(); close(stopped) }()
	select {
	case <-stopped:
	case <-ctx.Done():
		s.Shutdown()
		<-stopped
	}
	return nil
}
