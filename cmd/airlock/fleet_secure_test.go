package main

// TestFleetSecure (`go tool task fleet-secure`) is the secure fleet of
// docs/deploy.md on loopback: three NATS servers (`airlock nats`) clustered
// with JetStream, TLS on the client and the route ports (a CA and
// certificates generated here), the accounts and identities of
// `airlock nats-auth`; the results service and the gateway as processes,
// each with its own nkey; an executor with its own (the real one when a
// Docker engine answers, else its bus traffic simulated); one job of tenant
// acme through the NATS endpoint. Then, as an attacker, every action the
// threat model says the servers refuse, each printed with the server's
// permission error. No step asserts a duration.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/internal/testkit"
)

// testPKI writes a CA and one certificate for 127.0.0.1 and localhost,
// usable by servers and clients (routes verify each other), into dir.
func testPKI(t *testing.T, dir string) (ca, cert, key string) {
	t.Helper()
	write := func(name, typ string, der []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "airlock test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	nodeKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "nats"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &nodeKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(nodeKey)
	if err != nil {
		t.Fatal(err)
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("nats.pem", "CERTIFICATE", der), write("nats-key.pem", "EC PRIVATE KEY", keyDER)
}

// secureNATSConf is one node's configuration: TLS on both ports, routes
// with mutual TLS, and the generated accounts (`include`d). The store is
// deploy/nomad's size (the account's JetStream limit is reserved in it),
// whatever the free disk here.
func secureNATSConf(name string, port, routePort int, routes []string, store, ca, cert, key string) string {
	tls := fmt.Sprintf("{ cert_file: %q, key_file: %q, ca_file: %q, timeout: 10 }", cert, key, ca)
	mtls := fmt.Sprintf("{ cert_file: %q, key_file: %q, ca_file: %q, verify: true, timeout: 10 }", cert, key, ca)
	return fmt.Sprintf(`server_name: %q
listen: "127.0.0.1:%d"
jetstream { store_dir: %q, max_file_store: 80GB }
tls %s
cluster {
  name: "airlock-secure"
  listen: "127.0.0.1:%d"
  routes: [%s]
  tls %s
}
include %s
`, name, port, store, tls, routePort, `"`+strings.Join(routes, `", "`)+`"`, mtls, natsAuthConf)
}

func TestFleetSecure(t *testing.T) {
	if os.Getenv("AIRLOCK_FLEET_SECURE") == "" {
		t.Skip("run by `go tool task fleet-secure` (AIRLOCK_FLEET_SECURE=1), which `go tool task test` runs")
	}
	topo := contracts.DefaultTopology()
	bin := buildAirlock(t)
	dir := t.TempDir()
	authDir := filepath.Join(dir, "auth")

	// The identities, as an operator makes them.
	out, err := exec.Command(bin, "nats-auth", "--dir", authDir, "--tenants", "acme,beta").CombinedOutput()
	if err != nil {
		t.Fatalf("airlock nats-auth: %v\n%s", err, out)
	}
	t.Logf("airlock nats-auth:\n%s", out)
	ids := genIdentities(t, authDir, topo, "acme", "beta") // the same seeds, read back
	ca, cert, key := testPKI(t, dir)

	ports := freePorts(t, 6)
	var clientURLs, routeURLs []string
	for i := 0; i < 3; i++ {
		clientURLs = append(clientURLs, fmt.Sprintf("tls://127.0.0.1:%d", ports[i]))
		routeURLs = append(routeURLs, fmt.Sprintf("nats-route://127.0.0.1:%d", ports[3+i]))
	}
	base := contracts.NATSConn{URL: strings.Join(clientURLs, ","), CA: ca}
	var servers []*proc
	for i := 0; i < 3; i++ {
		name := fmt.Sprintf("secure-nats-%d", i+1)
		conf := filepath.Join(authDir, name+".conf") // beside auth.conf, which it includes
		text := secureNATSConf(name, ports[i], ports[3+i], routeURLs, filepath.Join(dir, name), ca, cert, key)
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		servers = append(servers, startProc(t, bin, name, nil, "nats", "-c", conf))
	}
	for _, p := range servers {
		p.waitLog(`Server is ready`, testkit.Patience)
	}
	// JetStream answers once the cluster has a meta leader.
	op, err := ids.conn(base, "operator").Connect("airlock-operator", testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(op.Close)
	js, _ := jetstream.New(op)
	deadline := time.Now().Add(testkit.Patience)
	for {
		actx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := js.AccountInfo(actx)
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no JetStream meta leader: %v", err)
		}
		time.Sleep(500 * time.Millisecond) // polling a cluster that forms: no event to wait on
	}
	t.Log("3 NATS servers with TLS and accounts: JetStream ready")

	// The services, each with its own nkey, over TLS, against all three.
	svc := func(name string, args ...string) *proc {
		c := ids.conn(base, name)
		all := append([]string{name, "--nats-url", c.URL, "--nats-nkey", c.NkeySeed, "--nats-ca", ca,
			"--replicas", "3", "--log-level", "debug"}, args...)
		return startProc(t, bin, name, nil, all...)
	}
	results := svc("results")
	results.waitLog(`msg="results service started"`, testkit.Patience)
	gw := svc("gateway", "--listen", "127.0.0.1:0")
	gwAddr := gw.waitLog(`msg="gateway listening".* addr=(\S+)`, testkit.Patience)[1]
	procs := []*proc{results, gw}

	if os.Getenv("AIRLOCK_FLEET_SECURE_SIMULATED") == "" && dockerAnswers() {
		x := svc("executor", "--executor-id", newExecutorID("secure-x"), "--slots", "1", "--languages", "bash")
		waitExecutorReady(x)
		procs = append(procs, x)
		t.Log("executor: the real one (Docker answers)")
	} else {
		errs := simExecutor(t, ids.conn(base, "executor"), topo)
		t.Cleanup(func() {
			select {
			case err := <-errs:
				t.Errorf("the executor's own traffic was refused: %v", err)
			default:
			}
		})
		t.Log("executor: its bus traffic simulated (no Docker engine, or AIRLOCK_FLEET_SECURE_SIMULATED)")
	}

	job := submitAs(t, ids.conn(base, "client-acme"), topo, "acme")
	if job.Status != contracts.StatusCompleted || job.Tenant != "acme" || job.Run == nil || job.Run.Stdout != "ok\n" {
		t.Fatalf("the job of acme: %s", dump(job))
	}
	t.Logf("job %s of tenant acme through %s: %s, %s, stdout %q", job.ID, topo.ExecuteSubject("acme"), job.Status, job.Verdict, job.Run.Stdout)

	attackBus(t, ids, base, topo, job.ID)
	forgeResult(t, ids, base, topo, "http://"+gwAddr, "http://127.0.0.1:9", nil)

	for _, p := range procs {
		if n := p.countLog(`msg="nats error"`); n > 0 {
			t.Errorf("%s's own traffic was refused %d times:\n%s", p.name, n, p.log.String())
		}
		for _, id := range ids {
			seed, _ := os.ReadFile(id.Seed)
			if s := strings.TrimSpace(string(seed)); s == "" || strings.Contains(p.log.String(), s) {
				t.Errorf("%s logged the seed of %s (or it is empty)", p.name, id.Name)
			}
		}
	}
}

// dockerAnswers reports whether a Docker engine answers (without failing
// or skipping the test when none does).
func dockerAnswers() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return exec.CommandContext(ctx, "docker", "info").Run() == nil
}
