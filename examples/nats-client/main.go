// Command nats-client is an example internal service that runs code through
// Airlock over NATS instead of HTTP. It submits a source file with the Go
// client package (contracts/client) and prints the result; with -rpc it asks
// the gateways' NATS endpoint (<prefix>.api.execute) instead.
//
//	go run ./examples/nats-client -nats-url nats://127.0.0.1:4222 -lang python hello.py
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
	nc, err := nats.Connect(*url, nats.Name("airlock-example"))
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	var exec contracts.Execution
	if *rpc {
		data, _ := json.Marshal(req)
		msg := nats.NewMsg(contracts.DefaultTopology().Prefix + ".api.execute")
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
		c, err := client.New(ctx, nc, client.Options{})
		if err != nil {
			return err
		}
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
