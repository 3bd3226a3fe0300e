package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/contracts/client"
)

// TestNATS drives Airlock the way internal services do: the Go client
// package, the request/reply endpoint, and the example program.
func TestNATS(t *testing.T) {
	s := startDev(t, nil)
	// A failure bound for everything below, the two `go run` builds included.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	t.Run("client package", func(t *testing.T) {
		c, err := client.New(ctx, s.NATS, client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		req := roomy(src("python", "main.py", "print(input()[::-1])\n"))
		req.Stdin = "stressed"
		exec, err := c.Execute(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if exec.Verdict != contracts.VerdictAccepted || exec.Run.Stdout != "desserts\n" {
			t.Fatalf("%s", dump(exec))
		}
		// The same validation as the gateway.
		bad := src("python", "../main.py", "")
		_, err = c.Submit(ctx, &bad, client.SubmitOptions{})
		var verr *contracts.ValidationError
		if !errors.As(err, &verr) || verr.Field != "files[0].name" {
			t.Errorf("bad file name: %v", err)
		}
		huge := withLimits(src("python", "main.py", ""), contracts.Limits{MemoryMB: 1 << 20})
		_, err = c.Submit(ctx, &huge, client.SubmitOptions{})
		if !errors.As(err, &verr) || verr.Code != contracts.CodeLimitTooHigh {
			t.Errorf("limit over the maximum: %v", err)
		}
		// An idempotency key names one execution; the HTTP API sees it too.
		once := roomy(src("bash", "main.sh", "echo once"))
		first, err := c.Submit(ctx, &once, client.SubmitOptions{IdempotencyKey: "nats-key-1"})
		if err != nil {
			t.Fatal(err)
		}
		again := roomy(src("bash", "main.sh", "echo once"))
		second, _ := c.Submit(ctx, &again, client.SubmitOptions{IdempotencyKey: "nats-key-1"})
		a := first.ID
		if a != second.ID {
			t.Errorf("ids %s %s", a, second.ID)
		}
		if _, err := c.Wait(ctx, a, client.WaitOptions{}); err != nil {
			t.Fatal(err)
		}
		code, _, data := request(t, "GET", s.URL+"/v1/executions/"+a, nil, nil)
		if code != 200 || !strings.Contains(string(data), `"once\n"`) {
			t.Errorf("GET over HTTP: %d %s", code, data)
		}
	})

	t.Run("request reply endpoint", func(t *testing.T) {
		req := roomy(src("c", "main.c", "#include <stdio.h>\nint main(){int a,b; scanf(\"%d %d\",&a,&b); printf(\"%d\\n\", a*b);}\n"))
		req.Stdin = "6 7"
		data, _ := json.Marshal(req)
		reply, err := s.NATS.RequestWithContext(ctx, "airlock.api.execute", data)
		if err != nil {
			t.Fatal(err)
		}
		var exec contracts.Execution
		if err := json.Unmarshal(reply.Data, &exec); err != nil || exec.Verdict != contracts.VerdictAccepted || exec.Run.Stdout != "42\n" {
			t.Fatalf("reply %q: %v", reply.Data, err)
		}
		// Errors come in the standard micro headers, with an ErrorBody.
		bad, _ := json.Marshal(src("python", "/etc/passwd", ""))
		reply, err = s.NATS.RequestWithContext(ctx, "airlock.api.execute", bad)
		if err != nil {
			t.Fatal(err)
		}
		var eb contracts.ErrorBody
		_ = json.Unmarshal(reply.Data, &eb)
		if reply.Header.Get("Nats-Service-Error-Code") != "422" || reply.Header.Get("Nats-Service-Error") == "" || eb.Error.Field != "files[0].name" {
			t.Errorf("error reply: headers %v body %s", reply.Header, reply.Data)
		}
		reply, _ = s.NATS.RequestWithContext(ctx, "airlock.api.execute", []byte("{not json"))
		if reply == nil || reply.Header.Get("Nats-Service-Error-Code") != "400" {
			t.Errorf("malformed request: %+v", reply)
		}
		// A result that takes longer than Airlock-Timeout: 504 with the id.
		slow, _ := json.Marshal(src("bash", "main.sh", "sleep 3"))
		msg := nats.NewMsg("airlock.api.execute")
		msg.Data = slow
		msg.Header.Set("Airlock-Timeout", "500ms")
		reply, err = s.NATS.RequestMsgWithContext(ctx, msg)
		var acc contracts.Accepted
		if err == nil {
			_ = json.Unmarshal(reply.Data, &acc)
		}
		if err != nil || reply.Header.Get("Nats-Service-Error-Code") != "504" || !contracts.ValidID(acc.ID) {
			t.Errorf("timeout reply: %v %+v", err, reply)
		}
	})

	t.Run("example service", func(t *testing.T) {
		dir := t.TempDir()
		file := filepath.Join(dir, "hello.py")
		if err := os.WriteFile(file, []byte("print('hello from', input())\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, mode := range [][]string{nil, {"-rpc"}} {
			args := append([]string{"run", "../../examples/nats-client", "-nats-url", s.NATSURL, "-lang", "python", "-stdin", "nats", "-timeout", "5m"}, mode...)
			cmd := exec.CommandContext(ctx, "go", append(args, file)...)
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "verdict: accepted") || !strings.Contains(string(out), `"hello from nats\n"`) {
				t.Errorf("example %v: %v\n%s", mode, err, out)
			}
		}
	})
}
