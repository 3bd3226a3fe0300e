package main

import (
	"io"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/airlockrun/airlock/contracts"
)

func TestParseConfigFlagsAndEnv(t *testing.T) {
	t.Setenv("AIRLOCK_SLOTS", "7")
	t.Setenv("AIRLOCK_LISTEN", "127.0.0.1:9999")
	cfg, err := parseConfig("dev", []string{
		"--listen", "127.0.0.1:8090", "--executor-id", "node-a", "--queue-max", "5",
		"--languages", "python, c", "--max-wait-timeout", "2m", "--data-dir", "/tmp/x",
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"flag beats env", cfg.Gateway.Listen, "127.0.0.1:8090"},
		{"env used without flag", cfg.Executor.Slots, 7},
		{"executor id", cfg.Executor.ID, "node-a"},
		{"languages", len(cfg.Executor.Languages), 2},
		{"wait cap", cfg.Gateway.MaxWaitTimeout, 2 * time.Minute},
		{"topology to gateway", cfg.Gateway.Topology.QueueMax, int64(5)},
		{"topology to executor", cfg.Executor.Topology.QueueMax, int64(5)},
		{"topology to results", cfg.Results.Topology.QueueMax, int64(5)},
		{"data dir", cfg.DataDir, "/tmp/x"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestParseConfigErrors(t *testing.T) {
	if _, err := parseConfig("gateway", []string{"--slots", "3"}, io.Discard); err == nil {
		t.Error("executor flag accepted by the gateway")
	}
	t.Setenv("AIRLOCK_QUEUE_MAX", "lots")
	if _, err := parseConfig("results", nil, io.Discard); err == nil {
		t.Error("a non-numeric AIRLOCK_QUEUE_MAX was accepted")
	}
}

func TestParseCallbackAllow(t *testing.T) {
	cfg, err := parseConfig("gateway", []string{"--callback-allow", "10.0.0.0/8, acme@192.168.1.0/24:8080+9090,fd00::/8:*"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range cfg.Gateway.CallbackAllow {
		got = append(got, r.String())
	}
	if want := "10.0.0.0/8 acme@192.168.1.0/24:8080+9090 fd00::/8:*"; strings.Join(got, " ") != want {
		t.Errorf("rules %q, want %q", strings.Join(got, " "), want)
	}
	for _, bad := range []string{"10.0.0.1", "acme@10.0.0.0/8:http", "no tenant@10.0.0.0/8", "10.0.0.0/8:70000"} {
		_, err := parseConfig("gateway", []string{"--callback-allow", bad}, io.Discard)
		if err == nil || !strings.HasPrefix(err.Error(), "--callback-allow: ") || !strings.Contains(err.Error(), "TENANT@") {
			t.Errorf("%q: %v, want a --callback-allow error with the syntax", bad, err)
		}
	}
}

func TestParseAllowedHostsAndOrigins(t *testing.T) {
	t.Setenv("AIRLOCK_ALLOWED_HOSTS", "api.example.com, 10.0.0.5:8080")
	cfg, err := parseConfig("gateway", []string{"--allowed-origins", "https://app.example.com"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.Gateway.AllowedHosts, " "); got != "api.example.com 10.0.0.5:8080" {
		t.Errorf("allowed hosts %q", got)
	}
	if got := strings.Join(cfg.Gateway.AllowedOrigins, " "); got != "https://app.example.com" {
		t.Errorf("allowed origins %q", got)
	}
	t.Setenv("AIRLOCK_ALLOWED_HOSTS", "")
	if cfg, err := parseConfig("dev", nil, io.Discard); err != nil || cfg.Gateway.AllowedHosts != nil {
		t.Errorf("unset: %v %v, want nil (the gateway's default)", cfg.Gateway.AllowedHosts, err)
	}
}

// TestNATSConnectionFlags: every service takes the same NATS connection
// flags and variables; dev takes --nats-auth instead.
func TestNATSConnectionFlags(t *testing.T) {
	t.Setenv("AIRLOCK_NATS_CA", "/ca.pem")
	for _, svc := range []string{"gateway", "executor", "results"} {
		cfg, err := parseConfig(svc, []string{"--nats-url", "tls://n1:4222", "--nats-nkey", "/seed.nk",
			"--nats-cert", "/c.pem", "--nats-key", "/k.pem"}, io.Discard)
		if err != nil {
			t.Fatalf("%s: %v", svc, err)
		}
		want := contracts.NATSConn{URL: "tls://n1:4222", NkeySeed: "/seed.nk", CA: "/ca.pem", Cert: "/c.pem", Key: "/k.pem"}
		if cfg.NATS != want {
			t.Errorf("%s: %+v, want %+v", svc, cfg.NATS, want)
		}
	}
	cfg, err := parseConfig("dev", []string{"--nats-auth"}, io.Discard)
	if err != nil || !cfg.NATSAuth {
		t.Errorf("dev --nats-auth: %v %+v", err, cfg)
	}
	if _, err := parseConfig("dev", []string{"--nats-creds", "x"}, io.Discard); err == nil {
		t.Error("dev accepted --nats-creds (its services connect in process)")
	}
}

// TestParseIsolation: the isolation flags, their variables, and the older
// runtime flags folded into them.
func TestParseIsolation(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		args    []string
		def     string
		langs   map[string]string
		tenants map[string]string
		runtime string // Executor.Runtime after parsing
		gvisor  string // Executor.GVisorRuntime after parsing
	}{
		{name: "defaults", def: "namespace"},
		{name: "flags", args: []string{"--isolation", "container", "--language-isolation", "java=container, python=gvisor",
			"--tenant-isolation", "acme=gvisor,beta-2=namespace"},
			def: "container", langs: map[string]string{"java": "container", "python": "gvisor"},
			tenants: map[string]string{"acme": "gvisor", "beta-2": "namespace"}},
		{name: "variables", env: map[string]string{"AIRLOCK_ISOLATION": "gvisor", "AIRLOCK_LANGUAGE_ISOLATION": "bash=namespace",
			"AIRLOCK_TENANT_ISOLATION": "acme=container"},
			def: "gvisor", langs: map[string]string{"bash": "namespace"}, tenants: map[string]string{"acme": "container"}},
		{name: "runsc alone is gvisor", args: []string{"--runtime", "runsc"}, def: "gvisor", gvisor: "runsc"},
		{name: "runsc variable", env: map[string]string{"AIRLOCK_RUNTIME": "runsc-debug"}, def: "gvisor", gvisor: "runsc-debug"},
		{name: "runsc with gvisor", args: []string{"--runtime", "runsc", "--isolation", "gvisor"}, def: "gvisor", gvisor: "runsc"},
		{name: "runc names the container runtime", args: []string{"--runtime", "runc"}, def: "namespace", runtime: "runc"},
		{name: "language runtimes", args: []string{"--language-runtimes", "java=runsc,python=crun", "--language-isolation", "java=gvisor,c=container"},
			def: "namespace", langs: map[string]string{"java": "gvisor", "python": "container", "c": "container"}},
		{name: "runsc default, runc for one language", args: []string{"--runtime", "runsc", "--language-runtimes", "python=runc"},
			def: "gvisor", langs: map[string]string{"python": "container"}, gvisor: "runsc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			for _, cmd := range []string{"executor", "dev"} {
				cfg, err := parseConfig(cmd, tc.args, io.Discard)
				if err != nil {
					t.Fatalf("%s: %v", cmd, err)
				}
				e := cfg.Executor
				if e.Isolation != tc.def || !maps.Equal(e.LanguageIsolation, tc.langs) || !maps.Equal(e.TenantIsolation, tc.tenants) ||
					e.OCIRuntime != tc.runtime || e.GVisorRuntime != tc.gvisor {
					t.Errorf("%s: isolation %q languages %v tenants %v runtime %q gvisor runtime %q,\nwant %q %v %v %q %q", cmd,
						e.Isolation, e.LanguageIsolation, e.TenantIsolation, e.OCIRuntime, e.GVisorRuntime,
						tc.def, tc.langs, tc.tenants, tc.runtime, tc.gvisor)
				}
			}
		})
	}
}

func TestParseIsolationErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string // all in the error
	}{
		{[]string{"--isolation", "vm"}, []string{"--isolation", `"vm" is not an isolation mode`, "namespace, container, gvisor"}},
		{[]string{"--isolation", "Container"}, []string{"--isolation", "namespace, container, gvisor"}},
		{[]string{"--language-isolation", "java=kata"}, []string{"--language-isolation", `java="kata"`, "namespace, container, gvisor"}},
		{[]string{"--tenant-isolation", "acme=runsc"}, []string{"--tenant-isolation", `acme="runsc"`, "namespace, container, gvisor"}},
		{[]string{"--tenant-isolation", "acme"}, []string{"--tenant-isolation", "tenant=mode"}},
		{[]string{"--tenant-isolation", "a b=gvisor"}, []string{"--tenant-isolation", "not a tenant name"}},
		{[]string{"--language-isolation", "java=gvisor,java=container"}, []string{"--language-isolation", "java is given twice"}},
		{[]string{"--language-runtimes", "java"}, []string{"--language-runtimes", "language=runtime"}},
		// The older runtime flags contradicting the isolation flags.
		{[]string{"--runtime", "runsc", "--isolation", "container"}, []string{"--runtime runsc", "--isolation container"}},
		{[]string{"--runtime", "runsc", "--isolation", "namespace"}, []string{"--runtime runsc", "--isolation namespace"}},
		{[]string{"--language-runtimes", "java=runsc", "--language-isolation", "java=container"},
			[]string{"--language-runtimes java=runsc", "gvisor", "--language-isolation java=container"}},
		{[]string{"--language-runtimes", "java=runc", "--language-isolation", "java=gvisor"},
			[]string{"--language-runtimes java=runc", "container", "--language-isolation java=gvisor"}},
	} {
		_, err := parseConfig("executor", tc.args, io.Discard)
		if err == nil {
			t.Errorf("%q accepted", tc.args)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: %v, want it to contain %q", tc.args, err, w)
			}
		}
	}
	t.Setenv("AIRLOCK_ISOLATION", "container")
	if _, err := parseConfig("executor", []string{"--runtime", "runsc"}, io.Discard); err == nil {
		t.Error("AIRLOCK_ISOLATION=container with --runtime runsc accepted")
	}
	if _, err := parseConfig("gateway", []string{"--isolation", "gvisor"}, io.Discard); err == nil {
		t.Error("the gateway accepted --isolation")
	}
}
