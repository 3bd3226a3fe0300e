// Package testkit starts the real infrastructure Airlock's tests run against:
// an embedded nats-server with JetStream on a temporary file store, and a
// check for a real Docker engine. It is for tests only.
package testkit

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Patience bounds a test's wait for anything that is only eventually true
// (a result stored, a process ready, a counter updated). It is a failure
// bound, far above what a slow machine under load needs, never an
// assertion about speed.
const Patience = 5 * time.Minute

// Eventually polls cond until it holds or timeout passes, and reports
// whether it held. The caller fails the test, with what it saw last.
func Eventually(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
	return true
}

// NATS is a running embedded server and a connection to it.
type NATS struct {
	Server   *server.Server
	Conn     *nats.Conn
	JS       jetstream.JetStream
	StoreDir string
}

// StartNATS starts a JetStream-enabled nats-server on a random loopback port
// with its file store in storeDir (a fresh temporary directory when empty).
// The server and connection are shut down when the test ends.
func StartNATS(t testing.TB, storeDir string) *NATS {
	t.Helper()
	return StartNATSWith(t, storeDir, nil)
}

// StartNATSWith is StartNATS with the server's options changed by set
// before it starts (a small store, a payload limit); set may be nil.
func StartNATSWith(t testing.TB, storeDir string, set func(*server.Options)) *NATS {
	t.Helper()
	if storeDir == "" {
		storeDir = t.TempDir()
	}
	s := startServer(t, storeDir, -1, set)
	nc, err := nats.Connect(s.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatalf("connect to embedded nats: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	return &NATS{Server: s, Conn: nc, JS: js, StoreDir: storeDir}
}

// StartServer starts only the server (port -1 picks a free one). Reuse the
// same storeDir and port to "restart" a server with its data.
func StartServer(t testing.TB, storeDir string, port int) *server.Server {
	t.Helper()
	return startServer(t, storeDir, port, nil)
}

func startServer(t testing.TB, storeDir string, port int, set func(*server.Options)) *server.Server {
	t.Helper()
	opts := &server.Options{
		Host:      "127.0.0.1",
		Port:      port,
		JetStream: true,
		StoreDir:  storeDir,
		NoLog:     true,
		NoSigs:    true,
	}
	if set != nil {
		set(opts)
	}
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("nats server: %v", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("embedded nats-server did not become ready")
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

// RequireDocker skips the test when no Docker engine answers, except when the
// CI environment variable is set: then it fails, so CI never counts a skipped
// Docker test as a pass.
func RequireDocker(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := exec.CommandContext(ctx, "docker", "info").Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("Docker engine required (CI is set): docker info: %v", err)
		}
		t.Skipf("no Docker engine answers (docker info: %v); start one to run this test", err)
	}
}

// Runtimes lists the modes a sandbox test runs under: runc always, runsc
// (gVisor) when the engine has it registered, which CI requires
// (scripts/docker-up.sh registers it), and "namespace" (cells, under runc).
// AIRLOCK_TEST_RUNTIMES=runc,runsc,namespace chooses explicitly. registered returns the engine's runtimes (the keys of
// the Runtimes field of the engine's info).
func Runtimes[V any](t testing.TB, registered func() (map[string]V, error)) []string {
	t.Helper()
	if v := os.Getenv("AIRLOCK_TEST_RUNTIMES"); v != "" {
		return strings.Split(v, ",")
	}
	engine, err := registered()
	if err != nil {
		t.Fatal(err)
	}
	rts := []string{"runc"}
	if _, ok := engine["runsc"]; ok {
		rts = append(rts, "runsc")
	} else if os.Getenv("CI") != "" {
		t.Fatal("CI is set but the engine has no runsc runtime: run scripts/docker-up.sh as root")
	} else {
		t.Log("runsc is not registered with the engine: the gVisor cases are skipped (scripts/docker-up.sh registers it)")
	}
	return append(rts, "namespace")
}

// Consumers is the number of consumers on stream (for a KV bucket, the
// stream "KV_<bucket>"): what a test counts to show that waits create none.
func (n *NATS) Consumers(t testing.TB, stream string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Patience)
	defer cancel()
	s, err := n.JS.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Consumers
}
