package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/contracts/client"
	"github.com/airlockrun/airlock/services/executor"
	"github.com/airlockrun/airlock/services/gateway"
	"github.com/airlockrun/airlock/services/results"
)

// config is everything the commands read from flags and AIRLOCK_* variables.
type config struct {
	// NATS is how a service connects (not dev: its services connect in
	// process, each with its identity when NATSAuth is set).
	NATS      contracts.NATSConn
	LogLevel  string
	LogFormat string

	// dev only
	DataDir    string
	NATSListen string
	// NATSAuth turns on authentication on the embedded server, with an
	// nkey per role generated into DataDir/nats-auth.
	NATSAuth bool

	Topology contracts.Topology
	Gateway  gateway.Config
	Executor executor.Config
	Results  results.Config
}

// flags binds a flag.FlagSet to env variables: each flag's default is taken
// from its variable when set, and the help names the variable.
type flags struct {
	fs  *flag.FlagSet
	err error
}

func (f *flags) env(name string) (string, bool) { return os.LookupEnv(name) }

func (f *flags) str(p *string, name, envName, def, help string) {
	if v, ok := f.env(envName); ok {
		def = v
	}
	f.fs.StringVar(p, name, def, help+" ($"+envName+")")
}

func (f *flags) integer(p *int, name, envName string, def int, help string) {
	if v, ok := f.env(envName); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			f.err = fmt.Errorf("$%s: %q is not a whole number", envName, v)
		}
		def = n
	}
	f.fs.IntVar(p, name, def, help+" ($"+envName+")")
}

func (f *flags) int64(p *int64, name, envName string, def int64, help string) {
	if v, ok := f.env(envName); ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			f.err = fmt.Errorf("$%s: %q is not a whole number", envName, v)
		}
		def = n
	}
	f.fs.Int64Var(p, name, def, help+" ($"+envName+")")
}

func (f *flags) float(p *float64, name, envName string, def float64, help string) {
	if v, ok := f.env(envName); ok {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			f.err = fmt.Errorf("$%s: %q is not a number", envName, v)
		}
		def = n
	}
	f.fs.Float64Var(p, name, def, help+" ($"+envName+")")
}

func (f *flags) boolean(p *bool, name, envName string, def bool, help string) {
	if v, ok := f.env(envName); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			f.err = fmt.Errorf("$%s: %q is not true or false", envName, v)
		}
		def = b
	}
	f.fs.BoolVar(p, name, def, help+" ($"+envName+")")
}

func (f *flags) duration(p *time.Duration, name, envName string, def time.Duration, help string) {
	if v, ok := f.env(envName); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			f.err = fmt.Errorf("$%s: %q is not a duration like 30s or 5m", envName, v)
		}
		def = d
	}
	f.fs.DurationVar(p, name, def, help+" ($"+envName+")")
}

// natsFlags binds the flags of a NATS connection: every command that
// connects to an external NATS takes the same ones.
func natsFlags(f *flags, c *contracts.NATSConn) {
	f.str(&c.URL, "nats-url", "NATS_URL", "nats://127.0.0.1:4222", "NATS server URL(s), comma-separated")
	f.str(&c.Creds, "nats-creds", "AIRLOCK_NATS_CREDS", "", "NATS credentials file (user JWT and nkey seed)")
	f.str(&c.NkeySeed, "nats-nkey", "AIRLOCK_NATS_NKEY", "", "file of this identity's NATS nkey seed (SU...)")
	f.str(&c.CA, "nats-ca", "AIRLOCK_NATS_CA", "", "PEM file of the CA that signed the NATS servers' certificates (requires TLS)")
	f.str(&c.Cert, "nats-cert", "AIRLOCK_NATS_CERT", "", "PEM file of this client's TLS certificate, for NATS servers that verify clients")
	f.str(&c.Key, "nats-key", "AIRLOCK_NATS_KEY", "", "PEM file of the key of --nats-cert")
}

// topologyFlags binds the flags of the JetStream topology. Every service and
// `airlock nats-auth` (which sizes the account's JetStream limits from the
// bounds) read the same ones, so that they all want the same objects.
func topologyFlags(f *flags, topo *contracts.Topology) {
	f.str(&topo.Prefix, "prefix", "AIRLOCK_PREFIX", topo.Prefix, "subject prefix")
	f.int64(&topo.QueueMax, "queue-max", "AIRLOCK_QUEUE_MAX", topo.QueueMax, "most jobs queued or running at once; more are answered 429")
	f.int64(&topo.QueueMaxBytes, "queue-max-bytes", "AIRLOCK_QUEUE_MAX_BYTES", topo.QueueMaxBytes, "most bytes of jobs queued or running at once (the JOBS stream's MaxBytes); more are answered 429; -1: no bound")
	f.int64(&topo.TenantQueueMax, "tenant-queue-max", "AIRLOCK_TENANT_QUEUE_MAX", topo.TenantQueueMax, "most jobs one tenant (API key) may have queued or running; 0: no per-tenant bound")
	f.duration(&topo.DuplicateWindow, "dedupe-window", "AIRLOCK_DEDUPE_WINDOW", topo.DuplicateWindow, "how long JOBS remembers a job id (a job published twice within it is queued once)")
	f.duration(&topo.ResultTTL, "result-ttl", "AIRLOCK_RESULT_TTL", topo.ResultTTL, "how long results stay readable (and an Idempotency-Key names its execution)")
	f.int64(&topo.MaxResultBytes, "max-result-bytes", "AIRLOCK_MAX_RESULT_BYTES", topo.MaxResultBytes, "largest stored result (an execution's JSON); executors shorten the outputs of a larger one and mark them truncated")
	f.int64(&topo.ResultsMaxBytes, "results-max-bytes", "AIRLOCK_RESULTS_MAX_BYTES", topo.ResultsMaxBytes, "bytes of status events the RESULTS stream keeps (the oldest go first); -1: no bound")
	f.int64(&topo.ExecutionsMaxBytes, "executions-max-bytes", "AIRLOCK_EXECUTIONS_MAX_BYTES", topo.ExecutionsMaxBytes, "bytes of stored executions (the executions bucket; when full, results wait until old ones expire); -1: no bound")
	f.int64(&topo.ExecutorsMaxBytes, "executors-max-bytes", "AIRLOCK_EXECUTORS_MAX_BYTES", topo.ExecutorsMaxBytes, "bytes of executor heartbeats (the executors bucket); -1: no bound")
	f.int64(&topo.EvaluationsMaxBytes, "evaluations-max-bytes", "AIRLOCK_EVALUATIONS_MAX_BYTES", topo.EvaluationsMaxBytes, "bytes of evaluation indexes (the evaluations bucket); -1: no bound")
	f.int64(&topo.ProblemsMaxBytes, "problems-max-bytes", "AIRLOCK_PROBLEMS_MAX_BYTES", topo.ProblemsMaxBytes, "bytes of stored problem packages, every tenant's (the problems object store); -1: no bound")
	f.integer(&topo.Replicas, "replicas", "AIRLOCK_REPLICAS", topo.Replicas, "JetStream replicas of the streams and buckets (3 in a cluster)")
	// The executors' shared consumer: the gateway sets it, an executor
	// follows it (and uses these only when it creates the consumer).
	f.integer(&topo.MaxInFlight, "max-in-flight", "AIRLOCK_MAX_IN_FLIGHT", topo.MaxInFlight, "fleet-wide cap on running jobs (the executors' consumer's MaxAckPending, set by the gateway)")
	f.integer(&topo.MaxAttempts, "max-attempts", "AIRLOCK_MAX_ATTEMPTS", topo.MaxAttempts, "attempts before a job ends as internal_error (set by the gateway)")
	f.duration(&topo.AckWait, "ack-wait", "AIRLOCK_ACK_WAIT", topo.AckWait, "redeliver a job whose executor went silent for this long (set by the gateway)")
}

func defaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "airlock")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "share", "airlock")
	}
	return filepath.Join(os.TempDir(), "airlock")
}

// parseConfig parses the flags of one command ("dev", "gateway", ...).
func parseConfig(cmd string, args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	f := &flags{fs: flag.NewFlagSet("airlock "+cmd, flag.ContinueOnError)}
	f.fs.SetOutput(stderr)
	all := cmd == "dev"
	has := func(svc string) bool { return all || cmd == svc }

	f.str(&c.LogLevel, "log-level", "AIRLOCK_LOG_LEVEL", "info", "log level: debug, info, warn, error")
	f.str(&c.LogFormat, "log-format", "AIRLOCK_LOG_FORMAT", "text", "log format: text or json")
	if all {
		f.str(&c.DataDir, "data-dir", "AIRLOCK_DATA_DIR", defaultDataDir(), "directory of the embedded NATS server's JetStream store")
		f.str(&c.NATSListen, "nats-listen", "AIRLOCK_NATS_LISTEN", "127.0.0.1:4222", "client address of the embedded NATS server, for internal services (empty: in-process only)")
		f.boolean(&c.NATSAuth, "nats-auth", "AIRLOCK_NATS_AUTH", false, "require authentication on the embedded NATS server: an nkey per role (gateway, executor, results, client-default, operator) is generated into DATA-DIR/nats-auth and each service connects with its own")
	} else {
		natsFlags(f, &c.NATS)
	}

	var apiKeys, apiKeysFile, callbackAllow, allowedHosts, allowedOrigins string
	topo := contracts.DefaultTopology()
	topologyFlags(f, &topo)
	policy := contracts.DefaultPolicy()
	f.integer(&policy.MaxTests, "max-tests", "AIRLOCK_MAX_TESTS", policy.MaxTests, "most tests in one judge-mode request or problem package (gateway and executor must agree)")
	f.int64(&policy.MaxProblemBytes, "max-problem-bytes", "AIRLOCK_MAX_PROBLEM_BYTES", policy.MaxProblemBytes, "largest test data (inputs and answers) of one problem package")

	if has("gateway") {
		c.Gateway = gateway.DefaultConfig()
		c.Gateway.Version = version
		g := &c.Gateway
		f.str(&g.Listen, "listen", "AIRLOCK_LISTEN", g.Listen, "HTTP listen address")
		f.int64(&g.MaxBodyBytes, "max-body-bytes", "AIRLOCK_MAX_BODY_BYTES", g.MaxBodyBytes, "largest request body accepted")
		f.int64(&g.MaxProblemBodyBytes, "max-problem-body-bytes", "AIRLOCK_MAX_PROBLEM_BODY_BYTES", g.MaxProblemBodyBytes, "largest body of PUT /v1/problems/{id} (a problem package)")
		f.duration(&g.WaitTimeout, "wait-timeout", "AIRLOCK_WAIT_TIMEOUT", g.WaitTimeout, "default wait of ?wait=true and /v1/execute")
		f.str(&apiKeys, "api-keys", "AIRLOCK_API_KEYS", "", `API keys as "tenant:key[:callback-secret],..."; when any key is set, anonymous access is off`)
		f.str(&apiKeysFile, "api-keys-file", "AIRLOCK_API_KEYS_FILE", "", `file of API keys, one "tenant:key[:callback-secret]" per line (# comments)`)
		f.str(&g.OperatorKey, "operator-key", "AIRLOCK_OPERATOR_KEY", "", "key (sent like an API key, at least 16 characters) that sees executor names and engine errors in /readyz, /v1/fleet and Judge0's execution_host; everyone else sees only ready or not and neutral names")
		f.float(&g.RateLimit, "rate-limit", "AIRLOCK_RATE_LIMIT", 0, "submissions per second per tenant; 0: unlimited")
		f.integer(&g.RateBurst, "rate-burst", "AIRLOCK_RATE_BURST", 20, "burst of submissions per tenant above the rate")
		f.str(&g.CallbackSecret, "callback-secret", "AIRLOCK_CALLBACK_SECRET", "", "HMAC secret that signs callbacks (a key's own secret, tenant:key:secret, wins); empty: callback_url is refused unless the key has one")
		f.str(&callbackAllow, "callback-allow", "AIRLOCK_CALLBACK_ALLOW", "", "internal networks callbacks may reach, as "+gateway.CallbackAllowSyntax+"; a rule without TENANT@ is for every tenant")
		f.str(&allowedHosts, "allowed-hosts", "AIRLOCK_ALLOWED_HOSTS", "", `comma-separated Host names (with or without :port) the gateway answers, "*" for any; empty: localhost, 127.0.0.1 and [::1] without API keys (against DNS rebinding), any host with keys`)
		f.str(&allowedOrigins, "allowed-origins", "AIRLOCK_ALLOWED_ORIGINS", "", `comma-separated web origins (scheme://host[:port]) besides the gateway's own that may POST text/plain, form or multipart bodies, "*" for any; empty: none`)
		f.integer(&g.MaxBatch, "max-batch", "AIRLOCK_MAX_BATCH", g.MaxBatch, "most requests in one batch (and ids in one list)")
		f.duration(&g.MaxWaitTimeout, "max-wait-timeout", "AIRLOCK_MAX_WAIT_TIMEOUT", g.MaxWaitTimeout, "longest ?timeout= a client may ask for")
		f.integer(&g.MaxWaits, "max-waits", "AIRLOCK_MAX_WAITS", client.DefaultMaxWaiters, "most requests waiting for an execution at once on this gateway (all share one subscription); more are answered 429")
		f.integer(&g.MaxWaitsPerTenant, "max-waits-per-tenant", "AIRLOCK_MAX_WAITS_PER_TENANT", client.DefaultMaxWaitersPerTenant, "most requests of one tenant waiting for an execution at once on this gateway; more are answered 429")
	}
	var languages, langRuntimes, langIsolation, tenantIsolation, pool string
	if has("executor") {
		c.Executor = executor.DefaultConfig()
		e := &c.Executor
		f.str(&e.ID, "executor-id", "AIRLOCK_EXECUTOR_ID", e.ID, "this executor's node id (labels its containers; keep it stable per node)")
		f.integer(&e.Slots, "slots", "AIRLOCK_SLOTS", e.Slots, "jobs this node runs at once")
		f.str(&languages, "languages", "AIRLOCK_LANGUAGES", "", "comma-separated languages to serve (empty: every language whose image exists)")
		f.str(&e.CatalogPath, "catalog", "AIRLOCK_CATALOG", "", "language catalog file (empty: the built-in one)")
		f.str(&e.Isolation, "isolation", "AIRLOCK_ISOLATION", "", "isolation mode where no override applies: "+
			"namespace (fresh namespaces and cgroup per run, inside a long-lived container per image and tenant), "+
			"container (a fresh container per run) or gvisor (a fresh container per run under gVisor's runsc); "+
			"default namespace, or gvisor with --runtime runsc")
		f.str(&langIsolation, "language-isolation", "AIRLOCK_LANGUAGE_ISOLATION", "", `isolation mode per language, over --isolation, e.g. "java=container,python=gvisor"`)
		f.str(&tenantIsolation, "tenant-isolation", "AIRLOCK_TENANT_ISOLATION", "", `isolation mode per tenant, over the language's and --isolation, e.g. "acme=gvisor"`)
		f.str(&e.OCIRuntime, "runtime", "AIRLOCK_RUNTIME", "", `OCI runtime of container sandboxes ("" engine default); "runsc" (gVisor) is the older spelling of --isolation gvisor`)
		f.str(&pool, "pool", "AIRLOCK_POOL", formatPool(e.Pool), `warm sandboxes per language (containers, or cells for the default tenant in namespace mode), e.g. "python=2,c++=1" ("none": no pool)`)
		f.boolean(&e.Paused, "paused", "AIRLOCK_PAUSED", false, "announce this executor but take no jobs (draining a node, benchmarks)")
		f.int64(&e.PoolMemoryMB, "pool-memory-mb", "AIRLOCK_POOL_MEMORY_MB", e.PoolMemoryMB, "memory budget of the idle warm containers (64 MB each)")
		f.integer(&e.CellRuns, "cell-runs", "AIRLOCK_CELL_RUNS", 500, "namespace isolation: stages a cell serves before it is replaced")
		f.duration(&e.CellAge, "cell-age", "AIRLOCK_CELL_AGE", 10*time.Minute, "namespace isolation: how long a cell serves before it is replaced")
		f.str(&langRuntimes, "language-runtimes", "AIRLOCK_LANGUAGE_RUNTIMES", "", `per-language OCI runtimes, the older spelling of --language-isolation: "java=runsc" is java=gvisor, "python=runc" python=container under runc`)
		f.str(&e.InitPath, "init-path", "AIRLOCK_INIT_PATH", "", "host path of the static binary mounted into sandboxes as their init: airlock-init or airlock, of this release (empty: airlock-init next to this binary when it is there, else this binary)")
		f.duration(&e.ShutdownTimeout, "shutdown-timeout", "AIRLOCK_SHUTDOWN_TIMEOUT", e.ShutdownTimeout, "time in-flight jobs get to finish on SIGTERM")
		f.duration(&e.UnservedGrace, "unserved-grace", "AIRLOCK_UNSERVED_GRACE", e.UnservedGrace, "how long a job whose language and version no executor announces waits (passed back) before it ends as internal_error")
		if !all {
			f.str(&e.MetricsListen, "metrics-listen", "AIRLOCK_METRICS_LISTEN", "", "serve Prometheus /metrics on this address (empty: off)")
		}
	}
	if has("results") {
		c.Results = results.DefaultConfig()
		if !all {
			f.str(&c.Results.MetricsListen, "metrics-listen", "AIRLOCK_METRICS_LISTEN", "", "serve Prometheus /metrics on this address (empty: off)")
		}
	}
	if err := f.fs.Parse(args); err != nil {
		return nil, errUsage
	}
	if f.err != nil {
		return nil, f.err
	}
	if f.fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", f.fs.Arg(0))
	}
	if languages != "" {
		c.Executor.Languages = splitList(languages)
	}
	if has("executor") {
		p, err := parsePool(pool)
		if err != nil {
			return nil, err
		}
		c.Executor.Pool = p
		e := &c.Executor
		for _, m := range []struct {
			dst        *map[string]string
			flag, list string
			what       string
		}{
			{&e.LanguageRuntimes, "--language-runtimes", langRuntimes, "language=runtime"},
			{&e.LanguageIsolation, "--language-isolation", langIsolation, "language=mode"},
			{&e.TenantIsolation, "--tenant-isolation", tenantIsolation, "tenant=mode"},
		} {
			if *m.dst, err = parsePairs(m.flag, m.list, m.what); err != nil {
				return nil, err
			}
		}
		if err := e.NormalizeIsolation(); err != nil {
			return nil, err
		}
	}
	if has("gateway") {
		keys, err := parseAPIKeys(apiKeys, apiKeysFile)
		if err != nil {
			return nil, err
		}
		c.Gateway.APIKeys = keys
		if k := c.Gateway.OperatorKey; k != "" && len(k) < 16 {
			return nil, errors.New("--operator-key: want at least 16 characters")
		}
		if c.Gateway.CallbackAllow, err = gateway.ParseCallbackAllow(callbackAllow); err != nil {
			return nil, fmt.Errorf("--callback-allow: %w", err)
		}
		c.Gateway.AllowedHosts, c.Gateway.AllowedOrigins = splitList(allowedHosts), splitList(allowedOrigins)
	}
	c.Gateway.Policy, c.Executor.Policy = policy, policy
	c.Topology = topo
	c.Gateway.Topology, c.Executor.Topology, c.Results.Topology = topo, topo, topo
	return c, nil
}

// parseAPIKeys reads "tenant:key" pairs from a comma-separated list and from
// a file (one per line). Keys are secrets: errors never quote them.
func parseAPIKeys(list, file string) ([]gateway.APIKey, error) {
	entries := splitList(list)
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("api keys file: %w", err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				entries = append(entries, line)
			}
		}
	}
	var keys []gateway.APIKey
	seen := map[string]bool{}
	for i, e := range entries {
		tenant, key, ok := strings.Cut(e, ":")
		key, secret, _ := strings.Cut(key, ":")
		tenant, key = strings.TrimSpace(tenant), strings.TrimSpace(key)
		if !ok || !contracts.ValidTenant(tenant) || len(key) < 16 {
			return nil, fmt.Errorf("api key entry %d: want tenant:key with a tenant of letters, digits, - and _ and a key of at least 16 characters", i+1)
		}
		if seen[key] {
			return nil, fmt.Errorf("api key entry %d: the same key is given twice", i+1)
		}
		seen[key] = true
		keys = append(keys, gateway.APIKey{Tenant: tenant, Key: key, CallbackSecret: strings.TrimSpace(secret)})
	}
	return keys, nil
}

// splitList reads a comma-separated list; empty gives nil.
func splitList(s string) []string {
	var out []string
	for _, e := range strings.Split(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

// parsePairs reads "key=value,..." (what names the form in errors); empty
// gives nil, and a key given twice is an error.
func parsePairs(flag, s, what string) (map[string]string, error) {
	var out map[string]string
	for _, pair := range splitList(s) {
		k, v, ok := strings.Cut(pair, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || v == "" {
			return nil, fmt.Errorf("%s: %q is not %s", flag, pair, what)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("%s: %s is given twice", flag, k)
		}
		if out == nil {
			out = map[string]string{}
		}
		out[k] = v
	}
	return out, nil
}

// parsePool reads "language=count,..." ("none" or "" for no pool).
func parsePool(s string) (map[string]int, error) {
	out := map[string]int{}
	if s = strings.TrimSpace(s); s == "" || s == "none" {
		return out, nil
	}
	for _, pair := range strings.Split(s, ",") {
		lang, n, ok := strings.Cut(strings.TrimSpace(pair), "=")
		count, err := strconv.Atoi(n)
		if !ok || lang == "" || err != nil || count < 0 {
			return nil, fmt.Errorf("--pool: %q is not language=count", pair)
		}
		out[lang] = count
	}
	return out, nil
}

func formatPool(p map[string]int) string {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + strconv.Itoa(p[k])
	}
	return strings.Join(parts, ",")
}
