// Command nats-client is an example internal service that runs code through
// Airlock over NATS instead of HTTP. It submits a source file with the Go
// client package (contracts/client) and prints the result; with -rpc it asks
// the gateways' NATS endpoint of its tenant (<prefix>.api.execute.<tenant>)
// instead, which is all a tenant's client identity may do on a NATS with
// authentication (docs/security.md):
//
//	go run ./examples/nats-client -nats-url nats://127.0.0.1:4222 -lang python hello.py
//	go run ./examples/nats-client -rpc -tenant team-a -nats-nkey client-team-a.nk \
//	    -nats-ca ca.pem -nats-url tls://nats-1:4222 hello.py
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/contracts/client"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "nats-client:", err)
		os.Exit(1)
	}
}

func run() error {
	url := flag.String("nats-url", nats.DefaultURL, "NATS server URL")
	lang := flag.String("lang", "python", "language")
	stdin := flag.String("stdin", "", "standard input for the program")
	rpc := flag.Bool("rpc", false, "use the request/reply endpoint instead of the client package")
	timeout := flag.Duration("timeout", time.Minute, "how long to wait for the result")
	tenant := flag.String("tenant", contracts.DefaultTenant, "the tenant the execution runs as (-rpc: the endpoint subject's last token)")
	conn := contracts.NATSConn{}
	flag.StringVar(&conn.NkeySeed, "nats-nkey", "", "file of this client's nkey seed (airlock nats-auth: client-TENANT.nk)")
	flag.StringVar(&conn.Creds, "nats-creds", "", "NATS credentials file")
	flag.StringVar(&conn.CA, "nats-ca", "", "PEM file of the CA of the NATS servers' certificates")
	flag.Parse()
	if flag.NArg() != 1 {
		return errors.New("usage: nats-client [flags] FILE")
	}
	src, err := os.ReadFile(flag.Arg(0))
	if err != nil {
		return err
	}
	req := contracts.ExecutionRequest{
		Language: *lang,
		Files:    []contracts.File{{Name: filepath.Base(flag.Arg(0)), Content: string(src)}},
		Stdin:    *stdin,
	}
	// A client identity may subscribe only under its tenant's inbox prefix.
	conn.URL, conn.InboxPrefix = *url, contracts.InboxPrefix(contracts.RoleClient, *tenant)
	opts, err := conn.Options()
	if err != nil {
		return err
	}
	nc, err := nats.Connect(conn.URL, append(opts, nats.Name("airlock-example"))...)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", contracts.RedactURL(conn.URL), err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	var exec contracts.Execution
	if *rpc {
		data, _ := json.Marshal(req)
		msg := nats.NewMsg(contracts.DefaultTopology().ExecuteSubject(*tenant))
		msg.Data = data
		msg.Header.Set("Airlock-Timeout", timeout.String())
		reply, err := nc.RequestMsgWithContext(ctx, msg)
		if err != nil {
			return fmt.Errorf("request: %w", err)
		}
		if code := reply.Header.Get("Nats-Service-Error-Code"); code != "" {
			return fmt.Errorf("service error %s: %s", code, reply.Header.Get("Nats-Service-Error"))
		}
		if err := json.Unmarshal(reply.Data, &exec); err != nil {
			return fmt.Errorf("decode reply: %w", err)
		}
	} else {
		c, err := client.New(ctx, nc, client.Options{Tenant: *tenant})
		if err != nil {
			return err
		}
		defer c.Close()
		if exec, err = c.Execute(ctx, req); err != nil {
			var verr *contracts.ValidationError
			if errors.As(err, &verr) {
				return fmt.Errorf("rejected: %s (%s)", verr.Message, verr.Field)
			}
			return err
		}
	}
	fmt.Printf("id: %s\nverdict: %s\n", exec.ID, exec.Verdict)
	if exec.Run != nil {
		fmt.Printf("stdout: %q\n", exec.Run.Stdout)
	}
	if exec.Verdict != contracts.VerdictAccepted {
		os.Exit(3)
	}
	return nil
}
