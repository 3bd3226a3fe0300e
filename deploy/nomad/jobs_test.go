package nomad

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
	"github.com/hashicorp/nomad/jobspec2"
)

// repoRoot is the repository, seen from this package's directory (where go
// test runs).
const repoRoot = "../.."

// jobFiles are the job files and the -var arguments a deployment passes
// (placeholders here: the values do not matter to the checks). A job file
// missing from this list fails TestJobFilesAreKnown, so none goes untested.
var jobFiles = map[string][]string{
	"nats.nomad.hcl":                  nil,
	"results.nomad.hcl":               {"release_url=s3::https://s3.eu-west-1.amazonaws.com/bucket/airlock/airlock-v1.0.0-linux-amd64.tar.gz"},
	"gateway.nomad.hcl":               {"release_url=s3::https://s3.eu-west-1.amazonaws.com/bucket/airlock/airlock-v1.0.0-linux-amd64.tar.gz"},
	"executor.nomad.hcl":              {"release_url=s3::https://s3.eu-west-1.amazonaws.com/bucket/airlock/airlock-v1.0.0-linux-amd64.tar.gz"},
	"autoscaler/autoscaler.nomad.hcl": {"aws_region=eu-west-1"},
}

// Node classes of the fleet (docs/deploy.md, step 1).
const (
	classNATS     = "nats"
	classAPI      = "api"
	classExecutor = "executor"
)

// maxKillTimeout is the client max_kill_timeout docs/deploy.md sets on every
// node (Nomad's default, 30s, would cut the executor's drain short).
const maxKillTimeout = 120 * time.Second

func parseJob(t *testing.T, file string, vars ...string) *api.Job {
	t.Helper()
	body, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if vars == nil {
		vars = jobFiles[file]
	}
	job, err := jobspec2.ParseWithConfig(&jobspec2.ParseConfig{
		Path:    file,
		Body:    body,
		ArgVars: vars,
		AllowFS: true, // as `nomad job run` does (file() in the autoscaler job)
		Strict:  true,
	})
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return job
}

func allJobs(t *testing.T) map[string]*api.Job {
	t.Helper()
	jobs := map[string]*api.Job{}
	for _, f := range sortedKeys(jobFiles) {
		jobs[f] = parseJob(t, f)
	}
	return jobs
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func num(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

func dur(p *time.Duration) time.Duration {
	if p == nil {
		return 0
	}
	return *p
}

// onlyGroup returns the job's single task group.
func onlyGroup(t *testing.T, job *api.Job) *api.TaskGroup {
	t.Helper()
	if len(job.TaskGroups) != 1 {
		t.Fatalf("job %s: want 1 task group, got %d", str(job.ID), len(job.TaskGroups))
	}
	return job.TaskGroups[0]
}

// mainTasks are the tasks without a lifecycle hook.
func mainTasks(tg *api.TaskGroup) []*api.Task {
	var out []*api.Task
	for _, task := range tg.Tasks {
		if task.Lifecycle == nil || task.Lifecycle.Hook == "" {
			out = append(out, task)
		}
	}
	return out
}

func onlyMainTask(t *testing.T, tg *api.TaskGroup) *api.Task {
	t.Helper()
	m := mainTasks(tg)
	if len(m) != 1 {
		t.Fatalf("group %s: want 1 main task, got %d", str(tg.Name), len(m))
	}
	return m[0]
}

// constraints are the job's and the group's constraints.
func constraints(job *api.Job, tg *api.TaskGroup) []*api.Constraint {
	return append(slices.Clone(job.Constraints), tg.Constraints...)
}

func nodeClass(job *api.Job, tg *api.TaskGroup) string {
	for _, c := range constraints(job, tg) {
		if c.LTarget == "${node.class}" && (c.Operand == "" || c.Operand == "=" || c.Operand == "==") {
			return c.RTarget
		}
	}
	return ""
}

func hasDistinctHosts(job *api.Job, tg *api.TaskGroup) bool {
	for _, c := range constraints(job, tg) {
		if c.Operand == api.ConstraintDistinctHosts && (c.RTarget == "" || c.RTarget == "true") {
			return true
		}
	}
	return false
}

// taskEnv is what a task's process sees: the env block plus the variables
// of env templates (NAME=... lines; the value is the template text).
func taskEnv(task *api.Task) map[string]string {
	env := map[string]string{}
	for k, v := range task.Env {
		env[k] = v
	}
	for _, tmpl := range task.Templates {
		if tmpl.Envvars == nil || !*tmpl.Envvars {
			continue
		}
		for _, line := range strings.Split(str(tmpl.EmbeddedTmpl), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			if name, value, ok := strings.Cut(line, "="); ok {
				env[name] = value
			}
		}
	}
	return env
}

func groupPorts(tg *api.TaskGroup) map[string]int {
	ports := map[string]int{}
	for _, n := range tg.Networks {
		for _, p := range n.ReservedPorts {
			ports[p.Label] = p.Value
		}
		for _, p := range n.DynamicPorts {
			ports[p.Label] = 0
		}
	}
	return ports
}

// checks of the group's (and its tasks') services, by name.
func serviceChecks(tg *api.TaskGroup) map[string]api.ServiceCheck {
	out := map[string]api.ServiceCheck{}
	services := slices.Clone(tg.Services)
	for _, task := range tg.Tasks {
		services = append(services, task.Services...)
	}
	for _, s := range services {
		for _, c := range s.Checks {
			out[c.Name] = c
		}
	}
	return out
}

func TestJobFilesAreKnown(t *testing.T) {
	found, err := filepath.Glob("*.nomad.hcl")
	if err != nil {
		t.Fatal(err)
	}
	more, err := filepath.Glob("*/*.nomad.hcl")
	if err != nil {
		t.Fatal(err)
	}
	found = append(found, more...)
	for _, f := range found {
		if _, ok := jobFiles[filepath.ToSlash(f)]; !ok {
			t.Errorf("%s is not in jobFiles: add it (and checks for it)", f)
		}
	}
	ids := map[string]string{}
	for f, job := range allJobs(t) {
		id := str(job.ID)
		if other, dup := ids[id]; dup {
			t.Errorf("job id %q in both %s and %s", id, other, f)
		}
		ids[id] = f
		if str(job.Type) == "" {
			t.Errorf("%s: job type not set (Nomad's default is service; say it)", f)
		}
	}
}

// TestSubmitRules checks, for every job file, rules that Nomad's servers
// enforce at `nomad job run` (jobspec2 does not) and the limits of the
// fleet's client configuration.
func TestSubmitRules(t *testing.T) {
	for f, job := range allJobs(t) {
		t.Run(f, func(t *testing.T) {
			system := str(job.Type) == api.JobTypeSystem
			if system && (job.Spreads != nil || job.Affinities != nil) {
				t.Error("system jobs may not have spread or affinity blocks")
			}
			for _, tg := range job.TaskGroups {
				name := str(tg.Name)
				ports := groupPorts(tg)
				if system {
					if tg.ReschedulePolicy != nil || tg.Spreads != nil || tg.Affinities != nil {
						t.Errorf("group %s: system jobs may not have reschedule, spread or affinity blocks", name)
					}
					if tg.Count != nil && *tg.Count != 1 {
						t.Errorf("group %s: a system job runs one per node; count %d makes no sense", name, *tg.Count)
					}
				}
				if u := tg.Update; u != nil {
					switch str(u.HealthCheck) {
					case "checks", "task_states", "manual":
					default:
						t.Errorf("group %s: update.health_check %q", name, str(u.HealthCheck))
					}
					if dur(u.MinHealthyTime) >= dur(u.HealthyDeadline) {
						t.Errorf("group %s: min_healthy_time %v must be less than healthy_deadline %v", name, dur(u.MinHealthyTime), dur(u.HealthyDeadline))
					}
					if dur(u.ProgressDeadline) != 0 && dur(u.HealthyDeadline) >= dur(u.ProgressDeadline) {
						t.Errorf("group %s: healthy_deadline %v must be less than progress_deadline %v", name, dur(u.HealthyDeadline), dur(u.ProgressDeadline))
					}
					if str(u.HealthCheck) == "checks" {
						gating := 0
						for _, c := range serviceChecks(tg) {
							if c.OnUpdate != api.OnUpdateIgnore {
								gating++
							}
						}
						if gating == 0 {
							t.Errorf("group %s: update.health_check = checks but no check gates the deployment", name)
						}
					}
				}
				services := slices.Clone(tg.Services)
				for _, task := range tg.Tasks {
					services = append(services, task.Services...)
				}
				for _, s := range services {
					if s.Provider != "nomad" {
						t.Errorf("service %s: provider %q; the fleet uses Nomad's own service discovery (provider = \"nomad\")", s.Name, s.Provider)
					}
					if _, ok := ports[s.PortLabel]; s.PortLabel != "" && !ok {
						t.Errorf("service %s: port %q is not a port of group %s", s.Name, s.PortLabel, name)
					}
					for _, c := range s.Checks {
						if c.Type != "http" && c.Type != "tcp" {
							t.Errorf("check %s: type %q; Nomad service checks are http or tcp", c.Name, c.Type)
						}
						if c.Type == "http" && !strings.HasPrefix(c.Path, "/") {
							t.Errorf("check %s: http path %q", c.Name, c.Path)
						}
						if c.SuccessBeforePassing != 0 || c.FailuresBeforeCritical != 0 || c.FailuresBeforeWarning != 0 || c.TLSServerName != "" || c.Expose || c.OnUpdate == api.OnUpdateIgnoreWarn {
							t.Errorf("check %s: uses a Consul-only setting", c.Name)
						}
						port := c.PortLabel
						if port == "" {
							port = s.PortLabel
						}
						if _, ok := ports[port]; !ok {
							t.Errorf("check %s: port %q is not a port of group %s", c.Name, port, name)
						}
						if c.Interval <= 0 || c.Timeout <= 0 || c.Timeout >= c.Interval {
							t.Errorf("check %s: interval %v, timeout %v", c.Name, c.Interval, c.Timeout)
						}
					}
				}
				for _, task := range tg.Tasks {
					if kt := dur(task.KillTimeout); kt > maxKillTimeout {
						t.Errorf("task %s: kill_timeout %v exceeds the clients' max_kill_timeout %v", task.Name, kt, maxKillTimeout)
					}
					for _, c := range task.Constraints {
						if c.Operand == api.ConstraintDistinctHosts || c.Operand == api.ConstraintDistinctProperty {
							t.Errorf("task %s: %s is not allowed at task level", task.Name, c.Operand)
						}
					}
					for _, vm := range task.VolumeMounts {
						if _, ok := tg.Volumes[str(vm.Volume)]; !ok {
							t.Errorf("task %s mounts volume %q, which group %s does not declare", task.Name, str(vm.Volume), name)
						}
					}
					for _, tmpl := range task.Templates {
						dest := str(tmpl.DestPath)
						if !strings.HasPrefix(dest, "local/") && !strings.HasPrefix(dest, "secrets/") {
							t.Errorf("task %s: template destination %q: use local/ or secrets/", task.Name, dest)
						}
					}
					for _, a := range task.Artifacts {
						if str(a.GetterSource) == "" {
							t.Errorf("task %s: artifact without source", task.Name)
						}
					}
				}
			}
		})
	}
}

func TestNATSCluster(t *testing.T) {
	job := parseJob(t, "nats.nomad.hcl")
	tg := onlyGroup(t, job)
	if got := str(job.Type); got != api.JobTypeService {
		t.Errorf("type %q, want service", got)
	}
	if got := num(tg.Count); got != 3 {
		t.Errorf("count %d, want 3 (a 3-node JetStream cluster)", got)
	}
	if got := nodeClass(job, tg); got != classNATS {
		t.Errorf("node class %q, want %q", got, classNATS)
	}
	if !hasDistinctHosts(job, tg) {
		t.Error("no distinct_hosts constraint: two replicas could share a host")
	}

	// Persistent storage: a writable host volume, mounted where JetStream stores.
	vol, ok := tg.Volumes["data"]
	if !ok || vol.Type != "host" || vol.ReadOnly || vol.Source == "" {
		t.Fatalf("want a writable host volume named data, got %+v", vol)
	}
	task := onlyMainTask(t, tg)
	if task.Driver != "docker" {
		t.Errorf("driver %q, want docker", task.Driver)
	}
	mounted := ""
	for _, vm := range task.VolumeMounts {
		if str(vm.Volume) == "data" && !(vm.ReadOnly != nil && *vm.ReadOnly) {
			mounted = str(vm.Destination)
		}
	}
	if mounted == "" {
		t.Fatal("the data volume is not mounted writable")
	}

	// The image is the nats-server version Airlock's own tests run against.
	image, _ := task.Config["image"].(string)
	want := "nats:" + moduleVersion(t, filepath.Join(repoRoot, "cmd/airlock/go.mod"), "github.com/nats-io/nats-server/v2")
	if !strings.HasPrefix(image, want) {
		t.Errorf("image %q, want %s (the nats-server of cmd/airlock/go.mod)", image, want)
	}
	if nm, _ := task.Config["network_mode"].(string); nm != "host" {
		t.Errorf("network_mode %q, want host (advertised addresses = the node's)", nm)
	}
	ports := groupPorts(tg)
	for label, port := range map[string]int{"client": 4222, "cluster": 6222, "monitor": 8222} {
		if ports[label] != port {
			t.Errorf("port %s = %d, want static %d", label, ports[label], port)
		}
	}

	// The configuration: stable name, discovered routes, lame duck, TLS,
	// accounts; the files it names come from Nomad variables.
	files := map[string]*api.Template{}
	for _, tmpl := range task.Templates {
		files[str(tmpl.DestPath)] = tmpl
	}
	tmpl := files["secrets/nats.conf"]
	if tmpl == nil {
		t.Fatalf("no template renders the server config secrets/nats.conf (beside the files it includes); got %v", sortedKeys(files))
	}
	conf := str(tmpl.EmbeddedTmpl)
	for dest, item := range map[string]string{
		"secrets/auth.conf": `nomadVar "nomad/jobs/nats" }}{{ .auth_conf }}`, "secrets/server.pem": `nomadVar "nomad/jobs/nats" }}{{ .server_cert }}`,
		"secrets/server-key.pem": `nomadVar "nomad/jobs/nats" }}{{ .server_key }}`, "secrets/ca.pem": `nomadVar "nomad/jobs" }}{{ .nats_ca }}`,
	} {
		f := files[dest]
		if f == nil || !strings.Contains(str(f.EmbeddedTmpl), item) {
			t.Errorf("want %s rendered from %s", dest, item)
			continue
		}
		if str(f.ChangeMode) != "signal" || str(f.ChangeSignal) != "SIGHUP" {
			t.Errorf("%s: a new identity or certificate must reload the server (SIGHUP)", dest)
		}
	}
	if i := strings.Index(conf, "cluster {"); i < 0 || !regexp.MustCompile(`(?m)^\s*tls \{[^}]*cert_file: "/secrets/server.pem"`).MatchString(conf[:i]) {
		t.Error("no TLS on the client port")
	}
	if !regexp.MustCompile(`(?s)cluster \{.*tls \{[^}]*verify: true`).MatchString(conf) {
		t.Error("routes without mutual TLS (cluster { tls { verify: true } })")
	}
	if !strings.Contains(conf, "include auth.conf") || strings.Contains(conf, "no_auth_user") || strings.Contains(conf, "authorization") {
		t.Error("the server must take its users from auth.conf only (no anonymous user)")
	}
	args, _ := task.Config["args"].([]any)
	if !slices.Contains(args, any("/"+str(tmpl.DestPath))) {
		t.Errorf("the server is not started with the rendered config /%s (args %v)", str(tmpl.DestPath), args)
	}
	for _, want := range []string{
		`server_name: "{{ env "node.unique.name" }}"`,
		`range nomadService "nats-cluster"`,
		`nats-route://{{ .Address }}:{{ .Port }}`,
		`store_dir: "` + mounted + `"`,
		`max_payload: 8MB`, // as airlock dev's embedded server
		`advertise: "{{ env "NOMAD_ADDR_cluster" }}"`,
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("server config lacks %s", want)
		}
	}
	if str(tmpl.ChangeMode) != "signal" || str(tmpl.ChangeSignal) != "SIGHUP" {
		t.Errorf("route changes must reload the server (change_mode signal, SIGHUP), got %s %s", str(tmpl.ChangeMode), str(tmpl.ChangeSignal))
	}
	services := map[string]*api.Service{}
	for _, s := range tg.Services {
		services[s.Name] = s
	}
	if s := services["nats-cluster"]; s == nil || s.PortLabel != "cluster" {
		t.Error(`no service "nats-cluster" on the cluster port for the routes template`)
	}
	if s := services["nats-client"]; s == nil || s.PortLabel != "client" {
		t.Error(`no service "nats-client" on the client port for the services' NATS_URL`)
	}

	if task.KillSignal != "SIGUSR2" {
		t.Errorf("kill_signal %q, want SIGUSR2 (lame-duck mode)", task.KillSignal)
	}
	grace := confDuration(t, conf, "lame_duck_grace_period")
	ldm := confDuration(t, conf, "lame_duck_duration")
	if kt := dur(task.KillTimeout); kt < grace+ldm+10*time.Second {
		t.Errorf("kill_timeout %v: want at least lame_duck_grace_period + lame_duck_duration + 10s = %v", kt, grace+ldm+10*time.Second)
	}

	c, ok := serviceChecks(tg)["nats-healthz"]
	if !ok || c.Type != "http" || c.Path != "/healthz" || c.PortLabel != "monitor" {
		t.Errorf("want an http check of /healthz on the monitor port, got %+v", c)
	}
	u := tg.Update
	if u == nil || num(u.MaxParallel) != 1 || str(u.HealthCheck) != "checks" || u.AutoRevert == nil || !*u.AutoRevert || dur(u.MinHealthyTime) < 10*time.Second {
		t.Errorf("update: want one server at a time, gated by checks for >= 10s, auto_revert; got %+v", u)
	}
}

var confDurationRE = regexp.MustCompile(`(?m)^\s*(\w+):\s*"([0-9a-z.]+)"\s*$`)

func confDuration(t *testing.T, conf, key string) time.Duration {
	t.Helper()
	for _, m := range confDurationRE.FindAllStringSubmatch(conf, -1) {
		if m[1] == key {
			d, err := time.ParseDuration(m[2])
			if err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			return d
		}
	}
	t.Fatalf("server config does not set %s", key)
	return 0
}

// moduleVersion reads the required version of module path from a go.mod.
func moduleVersion(t *testing.T, gomod, path string) string {
	t.Helper()
	data, err := os.ReadFile(gomod)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*(?:require\s+)?` + regexp.QuoteMeta(path) + `\s+v(\S+)`).FindSubmatch(data)
	if m == nil {
		t.Fatalf("%s does not require %s", gomod, path)
	}
	return string(m[1])
}

// airlockTask checks what the three airlock service jobs share and returns
// the main task.
func airlockTask(t *testing.T, job *api.Job, tg *api.TaskGroup, command string) *api.Task {
	t.Helper()
	task := onlyMainTask(t, tg)
	cmd, _ := task.Config["command"].(string)
	if cmd != "${NOMAD_TASK_DIR}/airlock" {
		t.Errorf("command %q, want ${NOMAD_TASK_DIR}/airlock (from the release artifact)", cmd)
	}
	if args, _ := task.Config["args"].([]any); len(args) != 1 || args[0] != command {
		t.Errorf("args %v, want [%s]", args, command)
	}
	var fromRelease bool
	for _, a := range task.Artifacts {
		if str(a.GetterSource) == "${var.release_url}" || strings.Contains(str(a.GetterSource), "airlock-v1.0.0-linux-amd64.tar.gz") {
			fromRelease = str(a.RelativeDest) == "local/"
		}
	}
	if !fromRelease {
		t.Error("the binary does not come from the release_url artifact unpacked into local/")
	}
	if task.KillSignal != "SIGTERM" {
		t.Errorf("kill_signal %q, want SIGTERM (Nomad's default is SIGINT)", task.KillSignal)
	}

	// NATS_URL: every NATS server from service discovery, read at start only.
	var natsTmpl *api.Template
	for _, tmpl := range task.Templates {
		if strings.Contains(str(tmpl.EmbeddedTmpl), "NATS_URL=") {
			natsTmpl = tmpl
		}
	}
	if natsTmpl == nil {
		t.Fatal("no template sets NATS_URL")
	}
	body := str(natsTmpl.EmbeddedTmpl)
	if natsTmpl.Envvars == nil || !*natsTmpl.Envvars || !strings.Contains(body, `nomadService "nats-client"`) || !strings.Contains(body, "tls://") {
		t.Errorf("NATS_URL template: want env = true from nomadService \"nats-client\", got %q", body)
	}
	if str(natsTmpl.ChangeMode) != "noop" {
		t.Errorf("NATS_URL template change_mode %q: a NATS rolling update would restart every service; want noop", str(natsTmpl.ChangeMode))
	}
	// Its own NATS identity and the servers' CA, from Nomad variables.
	idFiles := map[string]string{}
	for _, tmpl := range task.Templates {
		idFiles[str(tmpl.DestPath)] = str(tmpl.EmbeddedTmpl)
	}
	if !strings.Contains(idFiles["secrets/nats.nk"], `nomadVar "nomad/jobs/`+str(job.ID)+`" }}{{ .nats_nkey }}`) ||
		task.Env["AIRLOCK_NATS_NKEY"] != "${NOMAD_SECRETS_DIR}/nats.nk" {
		t.Errorf("want AIRLOCK_NATS_NKEY = the seed rendered from nomad/jobs/%s item nats_nkey", str(job.ID))
	}
	if !strings.Contains(idFiles["secrets/nats-ca.pem"], `nomadVar "nomad/jobs" }}{{ .nats_ca }}`) ||
		task.Env["AIRLOCK_NATS_CA"] != "${NOMAD_SECRETS_DIR}/nats-ca.pem" {
		t.Error("want AIRLOCK_NATS_CA = the CA rendered from nomad/jobs item nats_ca")
	}
	if got := task.Env["AIRLOCK_REPLICAS"]; got != "3" {
		t.Errorf("AIRLOCK_REPLICAS = %q, want 3 (streams and buckets on all three NATS servers)", got)
	}
	if task.Resources == nil || num(task.Resources.CPU) <= 0 || num(task.Resources.MemoryMB) <= 0 {
		t.Error("resources not set")
	}
	return task
}

func checkUpdate(t *testing.T, tg *api.TaskGroup, healthCheck string) {
	t.Helper()
	u := tg.Update
	if u == nil {
		t.Fatal("no update block")
	}
	if num(u.MaxParallel) < 1 {
		t.Errorf("update.max_parallel %d: want at least 1", num(u.MaxParallel))
	}
	if c := num(tg.Count); c > 1 && num(u.MaxParallel) >= c {
		t.Errorf("update.max_parallel %d with count %d replaces every instance at once; want a rolling update", num(u.MaxParallel), c)
	}
	if got := str(u.HealthCheck); got != healthCheck {
		t.Errorf("update.health_check %q, want %q", got, healthCheck)
	}
	if dur(u.MinHealthyTime) < 10*time.Second {
		t.Errorf("update.min_healthy_time %v: want at least 10s", dur(u.MinHealthyTime))
	}
	if u.AutoRevert == nil || !*u.AutoRevert {
		t.Error("update.auto_revert is off")
	}
	if c := num(u.Canary); c != 0 {
		t.Errorf("update.canary %d: the api nodes have no spare port/host for canaries", c)
	}
}

func TestGateway(t *testing.T) {
	job := parseJob(t, "gateway.nomad.hcl")
	tg := onlyGroup(t, job)
	if str(job.Type) != api.JobTypeService || num(tg.Count) < 2 {
		t.Errorf("want a service job with count >= 2, got %s count %d", str(job.Type), num(tg.Count))
	}
	if got := nodeClass(job, tg); got != classAPI {
		t.Errorf("node class %q, want %q", got, classAPI)
	}
	if !hasDistinctHosts(job, tg) {
		t.Error("no distinct_hosts: both gateways could land on one host")
	}
	checkUpdate(t, tg, "checks")
	task := airlockTask(t, job, tg, "gateway")
	if task.Driver != "exec" {
		t.Errorf("driver %q, want exec", task.Driver)
	}
	port, ok := groupPorts(tg)["http"]
	if !ok || port == 0 {
		t.Fatalf("want a static http port for the load balancer, got %v", groupPorts(tg))
	}
	if got := task.Env["AIRLOCK_LISTEN"]; got != "0.0.0.0:${NOMAD_PORT_http}" {
		t.Errorf("AIRLOCK_LISTEN %q, want 0.0.0.0:${NOMAD_PORT_http}", got)
	}
	checks := serviceChecks(tg)
	h, r := checks["healthz"], checks["readyz"]
	if h.Path != "/healthz" || h.Type != "http" || h.OnUpdate == api.OnUpdateIgnore {
		t.Errorf("want /healthz gating deployments, got %+v", h)
	}
	if h.CheckRestart == nil || h.CheckRestart.Limit < 1 {
		t.Error("/healthz should restart a hung gateway (check_restart)")
	}
	if r.Path != "/readyz" || r.Type != "http" {
		t.Errorf("want a /readyz check, got %+v", r)
	}
	// /readyz needs a live executor; executors are deployed after gateways.
	if r.OnUpdate != api.OnUpdateIgnore {
		t.Errorf("/readyz on_update %q: it fails until the first executor runs, so it must not gate the gateway's deployment (want ignore)", r.OnUpdate)
	}
	// Shutdown: the gateway's 30s for in-flight requests, then up to 10s of NATS drain.
	if kt := dur(task.KillTimeout); kt < 40*time.Second {
		t.Errorf("kill_timeout %v: want >= 40s (30s request shutdown + 10s NATS drain)", kt)
	}
}

func TestResults(t *testing.T) {
	job := parseJob(t, "results.nomad.hcl")
	tg := onlyGroup(t, job)
	if str(job.Type) != api.JobTypeService || num(tg.Count) < 2 {
		t.Errorf("want a service job with count >= 2, got %s count %d", str(job.Type), num(tg.Count))
	}
	if got := nodeClass(job, tg); got != classAPI {
		t.Errorf("node class %q, want %q", got, classAPI)
	}
	if !hasDistinctHosts(job, tg) {
		t.Error("no distinct_hosts: both results services could land on one host")
	}
	// The results service listens on nothing: its health is its task state.
	checkUpdate(t, tg, "task_states")
	task := airlockTask(t, job, tg, "results")
	if task.Driver != "exec" {
		t.Errorf("driver %q, want exec", task.Driver)
	}
	if kt := dur(task.KillTimeout); kt < 15*time.Second {
		t.Errorf("kill_timeout %v: want >= 15s (1s hand-back + 10s NATS drain)", kt)
	}
}

func TestExecutor(t *testing.T) {
	job := parseJob(t, "executor.nomad.hcl")
	tg := onlyGroup(t, job)
	if got := str(job.Type); got != api.JobTypeSystem {
		t.Errorf("type %q, want system (one executor per executor node)", got)
	}
	if got := nodeClass(job, tg); got != classExecutor {
		t.Errorf("node class %q, want %q", got, classExecutor)
	}
	checkUpdate(t, tg, "task_states")
	task := airlockTask(t, job, tg, "executor")
	env := task.Env

	// Engine access from the host, and nothing else with it.
	if task.Driver != "raw_exec" {
		t.Errorf("driver %q, want raw_exec (host Docker socket, host init path, host cgroups)", task.Driver)
	}
	if got := env["DOCKER_HOST"]; got != "unix:///var/run/docker.sock" {
		t.Errorf("DOCKER_HOST %q, want the host's engine socket", got)
	}
	for _, tk := range tg.Tasks {
		if tk.Driver == "docker" {
			t.Errorf("task %s uses the docker driver: nothing on an executor node runs in a container that could be handed the socket", tk.Name)
		}
		if strings.Contains(strings.ToLower(fmtAny(tk.Config)), "docker.sock") || len(tk.VolumeMounts) > 0 {
			t.Errorf("task %s mounts or passes the engine socket in its config", tk.Name)
		}
	}

	// The init binary is the executor's own binary, by its host path.
	cmd, _ := task.Config["command"].(string)
	if got := env["AIRLOCK_INIT_PATH"]; got != cmd || !strings.HasPrefix(got, "${NOMAD_TASK_DIR}/") {
		t.Errorf("AIRLOCK_INIT_PATH %q: want the executor's own binary by host path (%s)", got, cmd)
	}
	if got := env["AIRLOCK_EXECUTOR_ID"]; got != "${node.unique.name}" {
		t.Errorf("AIRLOCK_EXECUTOR_ID %q, want ${node.unique.name} (stable per node for the reaper)", got)
	}
	if got := env["AIRLOCK_ISOLATION"]; got != "gvisor" {
		t.Errorf("AIRLOCK_ISOLATION %q, want gvisor (runsc, registered in daemon.json)", got)
	}

	// Graceful shutdown: the drain fits in kill_timeout.
	shutdown, err := time.ParseDuration(env["AIRLOCK_SHUTDOWN_TIMEOUT"])
	if err != nil {
		t.Fatalf("AIRLOCK_SHUTDOWN_TIMEOUT: %v", err)
	}
	if kt := dur(task.KillTimeout); kt < shutdown+15*time.Second {
		t.Errorf("kill_timeout %v < AIRLOCK_SHUTDOWN_TIMEOUT %v + 15s (NATS drain 10s, heartbeat delete 5s)", kt, shutdown)
	}
	if task.KillSignal != "SIGTERM" {
		t.Errorf("kill_signal %q, want SIGTERM", task.KillSignal)
	}

	// Reservations for the sandboxes Nomad does not see.
	slots, err := strconv.Atoi(env["AIRLOCK_SLOTS"])
	if err != nil || slots < 1 {
		t.Fatalf("AIRLOCK_SLOTS %q: want a fixed number (the reservation is sized from it)", env["AIRLOCK_SLOTS"])
	}
	maxMem := catalogMaxMemoryMB(t)
	if mem := num(task.Resources.MemoryMB); mem < slots*maxMem+256 {
		t.Errorf("memory %d MB < slots %d x largest sandbox limit %d MB + 256 MB for the executor", mem, slots, maxMem)
	}
	if cpu := num(task.Resources.CPU); cpu < slots*1000 {
		t.Errorf("cpu %d MHz < slots %d x one core (each sandbox gets a whole core)", cpu, slots)
	}

	// Images ready before the executor starts.
	var pre *api.Task
	for _, tk := range tg.Tasks {
		if tk.Lifecycle != nil && tk.Lifecycle.Hook == api.TaskLifecycleHookPrestart && !tk.Lifecycle.Sidecar {
			pre = tk
		}
	}
	if pre == nil {
		t.Fatal("no prestart (non-sidecar) task prepares the images")
	}
	script := ""
	for _, tmpl := range pre.Templates {
		script += str(tmpl.EmbeddedTmpl)
	}
	script += fmtAny(pre.Config)
	if !strings.Contains(script, "deploy/images/build.sh") {
		t.Error("the prestart task does not run deploy/images/build.sh")
	}
	if pre.Driver != "raw_exec" || pre.Env["DOCKER_HOST"] != env["DOCKER_HOST"] {
		t.Errorf("the prestart task must reach the same engine (raw_exec, DOCKER_HOST %q)", env["DOCKER_HOST"])
	}
	if !slices.ContainsFunc(pre.Artifacts, func(a *api.TaskArtifact) bool {
		return slices.ContainsFunc(task.Artifacts, func(b *api.TaskArtifact) bool { return str(a.GetterSource) == str(b.GetterSource) })
	}) {
		t.Error("the prestart task must take deploy/images from the executor's own release artifact")
	}
	if _, err := os.Stat(filepath.Join(repoRoot, "deploy/images/build.sh")); err != nil {
		t.Errorf("deploy/images/build.sh: %v", err)
	}

	// With an image tarball, it is fetched as a file (not unpacked) for docker load.
	withImages := parseJob(t, "executor.nomad.hcl", append(slices.Clone(jobFiles["executor.nomad.hcl"]), "images_url=https://example.com/airlock-images-v1.0.0.tar.gz")...)
	var loaded bool
	for _, tk := range withImages.TaskGroups[0].Tasks {
		for _, a := range tk.Artifacts {
			if strings.HasSuffix(str(a.GetterSource), "airlock-images-v1.0.0.tar.gz") {
				loaded = str(a.GetterMode) == "file" && a.GetterOptions["archive"] == "false" && strings.Contains(script, str(a.RelativeDest)[len("local/"):])
			}
		}
	}
	if !loaded {
		t.Error("images_url: want the tarball as a file (archive = false) that the prestart script docker-loads")
	}
}

func fmtAny(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []any:
		var parts []string
		for _, e := range x {
			parts = append(parts, fmtAny(e))
		}
		return strings.Join(parts, " ")
	case map[string]any:
		var parts []string
		for _, k := range sortedKeys(x) {
			parts = append(parts, k+"="+fmtAny(x[k]))
		}
		return strings.Join(parts, " ")
	}
	return ""
}
