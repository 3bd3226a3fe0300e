package nomad

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// configFile is where the airlock binary reads its environment.
var configFile = filepath.Join(repoRoot, "cmd/airlock/config.go")

// serviceJobs maps each service command to its job file.
var serviceJobs = map[string]string{
	"gateway":  "gateway.nomad.hcl",
	"results":  "results.nomad.hcl",
	"executor": "executor.nomad.hcl",
}

// defaulted are the variables the job files deliberately leave at the
// binary's default, and why. Every other variable a service reads must be set
// in its job file. A name here that a job sets, or that config.go no longer
// reads, fails the test (the list must not rot).
var defaulted = map[string]string{
	// Topology: must be the same for every service; the defaults are.
	"AIRLOCK_PREFIX":                `subject prefix "airlock" everywhere`,
	"AIRLOCK_QUEUE_MAX":             "JOBS bound 10000 (beyond it: 429)",
	"AIRLOCK_DEDUPE_WINDOW":         "Idempotency-Key memory 10m",
	"AIRLOCK_RESULT_TTL":            "results readable for 24h",
	"AIRLOCK_QUEUE_MAX_BYTES":       "JOBS holds at most 1 GiB (beyond it: 429)",
	"AIRLOCK_MAX_RESULT_BYTES":      "a stored result is at most 4 MiB (outputs shortened beyond)",
	"AIRLOCK_RESULTS_MAX_BYTES":     "RESULTS keeps at most 2 GiB of events",
	"AIRLOCK_EXECUTIONS_MAX_BYTES":  "the executions bucket holds at most 4 GiB",
	"AIRLOCK_EXECUTORS_MAX_BYTES":   "the executors bucket holds at most 16 MiB",
	"AIRLOCK_EVALUATIONS_MAX_BYTES": "the evaluations bucket holds at most 1 GiB",
	"AIRLOCK_MAX_TESTS":             "1,000 tests per judge request (gateway and executor agree by default)",
	"AIRLOCK_PROBLEMS_MAX_BYTES":    "the problems object store holds at most 4 GiB of packages",
	"AIRLOCK_MAX_PROBLEM_BYTES":     "64 MiB of test data per problem package (gateway and executor agree by default)",
	// gateway
	"AIRLOCK_API_KEYS":               "keys come from AIRLOCK_API_KEYS_FILE (a Nomad variable), never inline in the job",
	"AIRLOCK_RATE_LIMIT":             "no per-tenant rate limit",
	"AIRLOCK_RATE_BURST":             "burst 20 (only with a rate limit)",
	"AIRLOCK_MAX_BATCH":              "100 requests per batch",
	"AIRLOCK_MAX_BODY_BYTES":         "16 MiB requests",
	"AIRLOCK_MAX_PROBLEM_BODY_BYTES": "96 MiB bodies of PUT /v1/problems/{id}",
	"AIRLOCK_WAIT_TIMEOUT":           "30s default wait",
	"AIRLOCK_MAX_WAIT_TIMEOUT":       "5m longest wait",
	"AIRLOCK_MAX_WAITS":              "20000 requests waiting at once per gateway (one subscription)",
	"AIRLOCK_MAX_WAITS_PER_TENANT":   "5000 of them per tenant",
	"AIRLOCK_CALLBACK_SECRET":        "callbacks stay off until an operator gives keys their own secret (tenant:key:secret in the api_keys variable)",
	"AIRLOCK_CALLBACK_ALLOW":         "callbacks never reach internal networks",
	"AIRLOCK_ALLOWED_ORIGINS":        "no web origin but the gateway's own (the console) may post form or text/plain bodies",
	"AIRLOCK_OPERATOR_KEY":           "no operator key: /readyz and /v1/fleet show no node names over HTTP (operators read the executors bucket and the logs)",
	// NATS connection (every service)
	"AIRLOCK_NATS_CREDS": "identities are nkeys (AIRLOCK_NATS_NKEY) in the server's own accounts (airlock nats-auth), not JWT credentials",
	"AIRLOCK_NATS_CERT":  "the servers verify no client certificate: a client is its nkey",
	"AIRLOCK_NATS_KEY":   "no client certificate (see AIRLOCK_NATS_CERT)",
	// executor
	"AIRLOCK_MAX_ATTEMPTS":       "3 attempts, then internal_error",
	"AIRLOCK_ACK_WAIT":           "30s without a heartbeat before redelivery",
	"AIRLOCK_LANGUAGES":          "every language whose image the prestart task provided",
	"AIRLOCK_CATALOG":            "the built-in catalog, which matches the release's deploy/images",
	"AIRLOCK_LANGUAGE_ISOLATION": "none: every language in AIRLOCK_ISOLATION (gvisor)",
	"AIRLOCK_TENANT_ISOLATION":   "none: every tenant in AIRLOCK_ISOLATION (gvisor)",
	"AIRLOCK_RUNTIME":            "the engine's default (runc) for container sandboxes, which this job does not run; gvisor ones use runsc",
	"AIRLOCK_LANGUAGE_RUNTIMES":  "none (the older AIRLOCK_LANGUAGE_ISOLATION)",
	"AIRLOCK_POOL":               "no effect under gvisor (only container sandboxes are pooled); the default list otherwise",
	"AIRLOCK_POOL_MEMORY_MB":     "512 MB of idle warm containers",
	"AIRLOCK_CELL_RUNS":          "no effect under gvisor (cells are namespace isolation's); 500 stages otherwise",
	"AIRLOCK_CELL_AGE":           "no effect under gvisor (cells are namespace isolation's); 10 minutes otherwise",
	"AIRLOCK_PAUSED":             "executors take jobs (set it by hand to drain a node)",
	"AIRLOCK_UNSERVED_GRACE":     "a job whose language and version no executor announces waits 2 minutes (a rolling restart of the executors fits), then ends as internal_error",
}

var envNameRE = regexp.MustCompile(`^(AIRLOCK_[A-Z0-9_]+|NATS_URL)$`)

// configEnv is what config.go reads.
type configEnv struct {
	// readers maps each variable to the service commands that read it
	// (empty: airlock dev only).
	readers map[string][]string
}

// readConfigEnv parses cmd/airlock/config.go and finds every "AIRLOCK_*" and
// "NATS_URL" string in it, with the commands that read it: a name inside
// `if all {` is dev-only (its else branch: every service), inside
// `if has("gateway") {` the gateway's, anywhere else every service's.
func readConfigEnv(t *testing.T) configEnv {
	t.Helper()
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, configFile, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	services := sortedKeys(serviceJobs)
	ce := configEnv{readers: map[string][]string{}}

	// scopes returns the readers of an if statement's body and else branch.
	scopes := func(cond ast.Expr, scope []string) (body, els []string) {
		switch c := cond.(type) {
		case *ast.Ident:
			if c.Name == "all" { // cmd == "dev"
				return nil, scope
			}
		case *ast.CallExpr:
			if fn, ok := c.Fun.(*ast.Ident); ok && fn.Name == "has" && len(c.Args) == 1 {
				if lit, ok := c.Args[0].(*ast.BasicLit); ok {
					svc, _ := strconv.Unquote(lit.Value)
					if slices.Contains(scope, svc) {
						return []string{svc}, scope
					}
					return nil, scope
				}
			}
		}
		return scope, scope
	}
	var walk func(n ast.Node, scope []string)
	walk = func(n ast.Node, scope []string) {
		ast.Inspect(n, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.IfStmt:
				if x.Init != nil {
					walk(x.Init, scope)
				}
				walk(x.Cond, scope)
				body, els := scopes(x.Cond, scope)
				walk(x.Body, body)
				if x.Else != nil {
					walk(x.Else, els)
				}
				return false
			case *ast.BasicLit:
				if x.Kind != token.STRING {
					return true
				}
				s, err := strconv.Unquote(x.Value)
				if err != nil || !envNameRE.MatchString(s) {
					return true
				}
				readers := ce.readers[s]
				for _, r := range scope {
					if !slices.Contains(readers, r) {
						readers = append(readers, r)
					}
				}
				sort.Strings(readers)
				ce.readers[s] = readers
			}
			return true
		})
	}
	walk(file, services)

	// A refactor that moves the variables elsewhere must fail here, not make
	// the coverage check pass vacuously.
	for _, must := range []string{"NATS_URL", "AIRLOCK_EXECUTOR_ID", "AIRLOCK_LISTEN", "AIRLOCK_REPLICAS", "AIRLOCK_SHUTDOWN_TIMEOUT"} {
		if _, ok := ce.readers[must]; !ok {
			t.Fatalf("%s no longer mentions %s: teach readConfigEnv where the variables are read now", configFile, must)
		}
	}
	if len(ce.readers) < 20 {
		t.Fatalf("found only %d variables in %s", len(ce.readers), configFile)
	}
	return ce
}

func TestConfigScan(t *testing.T) {
	ce := readConfigEnv(t)
	want := map[string][]string{
		"NATS_URL":            {"executor", "gateway", "results"},
		"AIRLOCK_DATA_DIR":    nil,
		"AIRLOCK_LISTEN":      {"gateway"},
		"AIRLOCK_EXECUTOR_ID": {"executor"},
		"AIRLOCK_REPLICAS":    {"executor", "gateway", "results"},
	}
	for name, readers := range want {
		if got := ce.readers[name]; !slices.Equal(got, readers) {
			t.Errorf("%s: readers %v, want %v", name, got, readers)
		}
	}
}

// TestEnvCoversConfig: every variable a service reads is set in its job file
// or deliberately defaulted, and no job sets a variable its service does not
// read (a typo would otherwise be silently ignored).
func TestEnvCoversConfig(t *testing.T) {
	ce := readConfigEnv(t)
	set := map[string]bool{}
	for _, svc := range sortedKeys(serviceJobs) {
		job := parseJob(t, serviceJobs[svc])
		env := taskEnv(onlyMainTask(t, onlyGroup(t, job)))
		for _, name := range sortedKeys(ce.readers) {
			if !slices.Contains(ce.readers[name], svc) {
				continue
			}
			_, isSet := env[name]
			_, isDefaulted := defaulted[name]
			switch {
			case isSet && isDefaulted:
				t.Errorf("%s: sets %s, which is on the defaulted list; drop one", serviceJobs[svc], name)
			case isSet:
				set[name] = true
			case !isDefaulted:
				t.Errorf("%s: the %s reads %s (cmd/airlock/config.go) but the job neither sets it nor lists it in `defaulted`", serviceJobs[svc], svc, name)
			}
		}
		for name := range env {
			if envNameRE.MatchString(name) && !slices.Contains(ce.readers[name], svc) {
				t.Errorf("%s: sets %s, which the %s does not read", serviceJobs[svc], name, svc)
			}
		}
	}
	for name := range defaulted {
		readers, ok := ce.readers[name]
		if !ok || len(readers) == 0 {
			t.Errorf("defaulted lists %s, which no service reads any more", name)
		}
	}
}

// TestSharedSettingsAgree: a variable every service reads (the JetStream
// topology, the judge limits, ...) has the same value in every job file, or
// is left at the default in all of them.
func TestSharedSettingsAgree(t *testing.T) {
	ce := readConfigEnv(t)
	all := sortedKeys(serviceJobs)
	envs := map[string]map[string]string{}
	for _, svc := range all {
		envs[svc] = taskEnv(onlyMainTask(t, onlyGroup(t, parseJob(t, serviceJobs[svc]))))
	}
	shared := 0
	for _, name := range sortedKeys(ce.readers) {
		if !slices.Equal(ce.readers[name], all) {
			continue
		}
		shared++
		values := map[string][]string{}
		for _, svc := range all {
			v, ok := envs[svc][name]
			if !ok {
				v = "(default)"
			}
			values[v] = append(values[v], svc)
		}
		if len(values) != 1 {
			t.Errorf("%s differs between services: %v", name, values)
		}
	}
	if shared < 5 {
		t.Errorf("only %d variables read by every service; the scan of %s looks wrong", shared, configFile)
	}
	nats := parseJob(t, "nats.nomad.hcl")
	if want := strconv.Itoa(num(nats.TaskGroups[0].Count)); envs["gateway"]["AIRLOCK_REPLICAS"] != want {
		t.Errorf("AIRLOCK_REPLICAS must equal the NATS server count %s", want)
	}
}

// catalogMaxMemoryMB is the largest memory limit (run or compile) a job may
// ask for, from the executor's built-in catalog.
func catalogMaxMemoryMB(t *testing.T) int {
	t.Helper()
	path := filepath.Join(repoRoot, "services/executor/internal/catalog/languages.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	best := 0
	var walk func(v any, underMax bool)
	walk = func(v any, underMax bool) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if underMax && strings.HasSuffix(k, "memory_mb") {
					if n, ok := e.(float64); ok && int(n) > best {
						best = int(n)
					}
				}
				walk(e, underMax || k == "max")
			}
		case []any:
			for _, e := range x {
				walk(e, underMax)
			}
		}
	}
	walk(doc, false)
	if best == 0 {
		t.Fatalf("%s: no max memory_mb found", path)
	}
	return best
}
