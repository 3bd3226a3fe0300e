package nomad

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/nomad/api"
)

var deployDoc = filepath.Join(repoRoot, "docs/deploy.md")

func readDoc(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(deployDoc)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// docTable returns the rows of the markdown table whose header is exactly
// the given columns (cells trimmed, one pair of backquotes removed).
func docTable(t *testing.T, doc string, columns ...string) [][]string {
	t.Helper()
	split := func(line string) []string {
		line = strings.TrimSpace(line)
		line = strings.TrimPrefix(strings.TrimSuffix(line, "|"), "|")
		cells := strings.Split(line, "|")
		for i, c := range cells {
			c = strings.TrimSpace(c)
			if len(c) >= 2 && strings.HasPrefix(c, "`") && strings.HasSuffix(c, "`") && strings.Count(c, "`") == 2 {
				c = c[1 : len(c)-1]
			}
			cells[i] = c
		}
		return cells
	}
	lines := strings.Split(doc, "\n")
	for i, line := range lines {
		if !strings.HasPrefix(line, "|") || !slices.Equal(split(line), columns) {
			continue
		}
		var rows [][]string
		for _, l := range lines[i+2:] {
			if !strings.HasPrefix(l, "|") {
				break
			}
			rows = append(rows, split(l))
		}
		return rows
	}
	t.Fatalf("%s has no table with the columns %v", deployDoc, columns)
	return nil
}

// codeBlocks returns the fenced code blocks of the given language.
func codeBlocks(doc, lang string) []string {
	var out []string
	re := regexp.MustCompile("(?ms)^```" + regexp.QuoteMeta(lang) + "\\s*\n(.*?)^```")
	for _, m := range re.FindAllStringSubmatch(doc, -1) {
		out = append(out, m[1])
	}
	return out
}

func shortName(file string) string {
	return strings.TrimSuffix(filepath.Base(file), ".nomad.hcl")
}

func TestDocFleetTable(t *testing.T) {
	rows := docTable(t, readDoc(t), "file", "job", "type", "driver", "count", "node class", "kill_timeout")
	seen := map[string]bool{}
	for _, row := range rows {
		file := strings.TrimPrefix(row[0], "deploy/nomad/")
		if _, ok := jobFiles[file]; !ok {
			t.Errorf("the fleet table lists %s, which is not a job file", row[0])
			continue
		}
		seen[file] = true
		job := parseJob(t, file)
		tg := onlyGroup(t, job)
		task := onlyMainTask(t, tg)
		var drivers []string
		for _, tk := range tg.Tasks {
			if !slices.Contains(drivers, tk.Driver) {
				drivers = append(drivers, tk.Driver)
			}
		}
		count := strconv.Itoa(num(tg.Count))
		if str(job.Type) == api.JobTypeSystem {
			count = "one per node"
		}
		kt, err := time.ParseDuration(row[6])
		if err != nil {
			t.Errorf("%s: kill_timeout %q: %v", file, row[6], err)
		}
		want := []string{row[0], str(job.ID), str(job.Type), strings.Join(drivers, ", "), count, nodeClass(job, tg)}
		if got := row[:6]; !slices.Equal(got, want) {
			t.Errorf("%s: the fleet table says %v, the job file %v", file, got, want)
		}
		if kt != dur(task.KillTimeout) {
			t.Errorf("%s: the fleet table says kill_timeout %v, the job file %v", file, kt, dur(task.KillTimeout))
		}
	}
	for f := range jobFiles {
		if !seen[f] {
			t.Errorf("the fleet table does not list %s", f)
		}
	}
}

func TestDocSettingsTable(t *testing.T) {
	rows := docTable(t, readDoc(t), "variable", "value", "jobs")
	docRows := map[string][]string{}
	for _, row := range rows {
		if _, dup := docRows[row[0]]; dup {
			t.Errorf("settings table lists %s twice", row[0])
		}
		docRows[row[0]] = row
	}
	setBy := map[string][]string{}
	for _, svc := range sortedKeys(serviceJobs) {
		task := onlyMainTask(t, onlyGroup(t, parseJob(t, serviceJobs[svc])))
		env := taskEnv(task)
		for _, name := range sortedKeys(env) {
			setBy[name] = append(setBy[name], svc)
			row, ok := docRows[name]
			if !ok {
				t.Errorf("%s sets %s; the settings table does not list it", serviceJobs[svc], name)
				continue
			}
			if _, plain := task.Env[name]; plain {
				if row[1] != env[name] {
					t.Errorf("%s: the settings table says %q, %s sets %q", name, row[1], serviceJobs[svc], env[name])
				}
			} else if m := regexp.MustCompile(`nomadService "([^"]+)"`).FindStringSubmatch(env[name]); m == nil || !strings.Contains(row[1], m[1]) {
				t.Errorf("%s comes from a template; the settings table should name its source (%s)", name, env[name])
			}
		}
	}
	for name, row := range docRows {
		var jobs []string
		for _, j := range strings.Split(row[2], ",") {
			jobs = append(jobs, strings.TrimSpace(j))
		}
		sort.Strings(jobs)
		if !slices.Equal(jobs, setBy[name]) {
			t.Errorf("%s: the settings table says it is set by %v, the job files set it in %v", name, jobs, setBy[name])
		}
	}
}

// TestDocCommands: the `nomad job run` commands come in the deployment order
// and pass the variables each job requires, and no other.
func TestDocCommands(t *testing.T) {
	doc := readDoc(t)
	var order []string
	for _, block := range codeBlocks(doc, "sh") {
		for _, line := range strings.Split(block, "\n") {
			fields := strings.Fields(line)
			if len(fields) < 3 || fields[0] != "nomad" || fields[1] != "job" || fields[2] != "run" {
				continue
			}
			file := strings.TrimPrefix(fields[len(fields)-1], "deploy/nomad/")
			if _, ok := jobFiles[file]; !ok {
				t.Errorf("%q: not a job file", line)
				continue
			}
			order = append(order, file)
			declared := jobVariables(t, file)
			passed := map[string]bool{}
			for i, f := range fields {
				if f == "-var" && i+1 < len(fields) {
					name, _, _ := strings.Cut(fields[i+1], "=")
					passed[name] = true
					if _, ok := declared[name]; !ok {
						t.Errorf("%q passes -var %s, which %s does not declare", line, name, file)
					}
				}
			}
			for name, required := range declared {
				if required && !passed[name] {
					t.Errorf("%q does not pass the required variable %s", line, name)
				}
			}
		}
	}
	want := []string{"nats.nomad.hcl", "results.nomad.hcl", "gateway.nomad.hcl", "executor.nomad.hcl", "autoscaler/autoscaler.nomad.hcl"}
	if !slices.Equal(order, want) {
		t.Errorf("deployment order in docs/deploy.md: %v, want %v", order, want)
	}
}

// jobVariables are the variable blocks of a job file: name -> required (no
// default).
func jobVariables(t *testing.T, file string) map[string]bool {
	t.Helper()
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	f, diags := hclsyntax.ParseConfig(src, file, hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	out := map[string]bool{}
	for _, b := range f.Body.(*hclsyntax.Body).Blocks {
		if b.Type == "variable" && len(b.Labels) == 1 {
			_, hasDefault := b.Body.Attributes["default"]
			out[b.Labels[0]] = !hasDefault
		}
	}
	return out
}

// TestDocClientConfigs: the Nomad client configurations of step 3 offer what
// the jobs need on each node class, and nothing more where it matters.
func TestDocClientConfigs(t *testing.T) {
	doc := readDoc(t)
	clients := map[string]*hclBlock{}
	for i, block := range codeBlocks(doc, "hcl") {
		path := filepath.Join(t.TempDir(), "client"+strconv.Itoa(i)+".hcl")
		if err := os.WriteFile(path, []byte(block), 0o644); err != nil {
			t.Fatal(err)
		}
		root := parseHCL(t, path)
		for _, c := range root.blocks("client") {
			clients[c.str(t, "node_class")] = root
		}
	}
	if got := sortedKeys(clients); !slices.Equal(got, []string{classAPI, classExecutor, classNATS}) {
		t.Fatalf("client configurations for node classes %v", got)
	}

	// Drivers the jobs use on each class.
	need := map[string][]string{}
	for _, job := range allJobs(t) {
		for _, tg := range job.TaskGroups {
			class := nodeClass(job, tg)
			for _, task := range tg.Tasks {
				if !slices.Contains(need[class], task.Driver) {
					need[class] = append(need[class], task.Driver)
				}
			}
		}
	}
	var maxKT time.Duration
	for _, job := range allJobs(t) {
		for _, tg := range job.TaskGroups {
			for _, task := range tg.Tasks {
				maxKT = max(maxKT, dur(task.KillTimeout))
			}
		}
	}
	for class, root := range clients {
		client := root.one(t, "client")
		if got := client.duration(t, "max_kill_timeout"); got != maxKillTimeout || got < maxKT {
			t.Errorf("%s nodes: max_kill_timeout %v; want %v (>= the longest kill_timeout, %v)", class, got, maxKillTimeout, maxKT)
		}
		opts := client.Attrs["options"]
		allow := ""
		if opts.Type().IsObjectType() && opts.Type().HasAttribute("driver.allowlist") {
			allow = opts.GetAttr("driver.allowlist").AsString()
		}
		allowed := strings.Split(allow, ",")
		for _, d := range need[class] {
			if !slices.Contains(allowed, d) {
				t.Errorf("%s nodes: driver.allowlist %q lacks %s, which a job placed there uses", class, allow, d)
			}
		}
		rawExec := false
		for _, p := range root.blocks("plugin") {
			if len(p.Labels) == 1 && p.Labels[0] == "raw_exec" {
				if v, ok := p.one(t, "config").Attrs["enabled"]; ok && v.True() {
					rawExec = true
				}
			}
		}
		if rawExec != (class == classExecutor) || slices.Contains(allowed, "raw_exec") != (class == classExecutor) {
			t.Errorf("%s nodes: raw_exec must be enabled on executor nodes and nowhere else", class)
		}
	}

	nats := onlyGroup(t, parseJob(t, "nats.nomad.hcl"))
	var vol *hclBlock
	for _, hv := range clients[classNATS].one(t, "client").blocks("host_volume") {
		if len(hv.Labels) == 1 && hv.Labels[0] == nats.Volumes["data"].Source {
			vol = hv
		}
	}
	if vol == nil {
		t.Errorf("nats nodes: no host_volume %q for the NATS job", nats.Volumes["data"].Source)
	} else if ro, ok := vol.Attrs["read_only"]; ok && ro.True() {
		t.Error("nats nodes: the host volume is read-only")
	} else if p := vol.str(t, "path"); !strings.Contains(doc, "mkdir -p "+p) {
		t.Errorf("the guide does not create the host volume's path %s", p)
	}
	res := clients[classExecutor].one(t, "client").one(t, "reserved")
	if res.int(t, "cpu") <= 0 || res.int(t, "memory") <= 0 {
		t.Error("executor nodes: reserved cpu and memory for the OS, dockerd and Nomad")
	}
}

// TestDocDockerConfig: the daemon.json registers the runtime the executor
// asks for, without network.
func TestDocDockerConfig(t *testing.T) {
	// gvisor sandboxes run under runsc unless AIRLOCK_RUNTIME names another
	// gVisor runtime (runsc-...).
	runtime := onlyMainTask(t, onlyGroup(t, parseJob(t, "executor.nomad.hcl"))).Env["AIRLOCK_RUNTIME"]
	if !strings.HasPrefix(runtime, "runsc") {
		runtime = "runsc"
	}
	found := false
	for _, block := range codeBlocks(readDoc(t), "json") {
		var cfg struct {
			Runtimes map[string]struct {
				Path        string   `json:"path"`
				RuntimeArgs []string `json:"runtimeArgs"`
			} `json:"runtimes"`
		}
		if err := json.Unmarshal([]byte(block), &cfg); err != nil || cfg.Runtimes == nil {
			continue
		}
		rt, ok := cfg.Runtimes[runtime]
		if !ok {
			t.Errorf("daemon.json does not register %q (AIRLOCK_ISOLATION gvisor)", runtime)
			continue
		}
		found = true
		if !slices.Contains(rt.RuntimeArgs, "--network=none") || !filepath.IsAbs(rt.Path) {
			t.Errorf("daemon.json runtime %s: want an absolute path and --network=none, got %+v", runtime, rt)
		}
	}
	if !found {
		t.Error("docs/deploy.md has no daemon.json with runtimes")
	}
}

// TestDocNumbers: the figures the guide quotes are the job files'.
func TestDocNumbers(t *testing.T) {
	doc := strings.Join(strings.Fields(readDoc(t)), " ")
	policy := parseHCL(t, policyFile).one(t, "scaling")
	pol := policy.one(t, "policy")
	target := pol.one(t, "target")
	exec := parseJob(t, "executor.nomad.hcl")
	task := onlyMainTask(t, onlyGroup(t, exec))
	slots := task.Env["AIRLOCK_SLOTS"]
	vars := jobVariableDefaults(t, "executor.nomad.hcl")

	expect := func(pattern string, want ...string) {
		t.Helper()
		m := regexp.MustCompile(pattern).FindStringSubmatch(doc)
		if m == nil {
			t.Errorf("docs/deploy.md does not say %s", pattern)
			return
		}
		if !slices.Equal(m[1:], want) {
			t.Errorf("docs/deploy.md: %q, the files say %v", m[0], want)
		}
	}
	mins := func(d time.Duration) string { return strconv.Itoa(int(d.Minutes())) }
	secs := func(d time.Duration) string { return strconv.Itoa(int(d.Seconds())) }

	expect(`between (\d+) and (\d+) executor nodes`, strconv.Itoa(policy.int(t, "min")), strconv.Itoa(policy.int(t, "max")))
	expect(`evaluated every (\d+) s`, secs(pol.duration(t, "evaluation_interval")))
	expect(`cooldown of (\d+) minutes`, mins(pol.duration(t, "cooldown")))
	expect(`drains the chosen node before terminating it \(deadline (\d+) minutes`, mins(target.duration(t, "node_drain_deadline")))
	expect("Auto Scaling Group `([^`]+)` to", target.str(t, "aws_asg_name"))
	expect(`\((\d+) × (\d+) = (\d+)\)`, strconv.Itoa(policy.int(t, "max")), slots, strconv.Itoa(policy.int(t, "max")*mustAtoi(t, slots)))
	expect(`With (\d+) slots the executor reserves (\d+) × (\d+) MHz and (\d+) × (\d+) \+ (\d+) = (\d+) MB`,
		slots, slots, vars["slot_cpu_mhz"], slots, vars["slot_memory_mb"],
		strconv.Itoa(num(task.Resources.MemoryMB)-mustAtoi(t, slots)*mustAtoi(t, vars["slot_memory_mb"])),
		strconv.Itoa(num(task.Resources.MemoryMB)))
	expect(`one core and (\d+) MB per slot`, vars["slot_memory_mb"])
	expect(`the deployment's health deadline is (\d+) minutes`, mins(dur(onlyGroup(t, exec).Update.HealthyDeadline)))
	expect("within `AIRLOCK_SHUTDOWN_TIMEOUT` \\((\\d+) s; kill_timeout (\\d+) s", secs(mustDuration(t, task.Env["AIRLOCK_SHUTDOWN_TIMEOUT"])), secs(dur(task.KillTimeout)))

	for _, metric := range []string{"airlock_queue_pending", "airlock_queue_in_flight", "airlock_executor_slots"} {
		if !strings.Contains(doc, "`"+metric+"`") {
			t.Errorf("docs/deploy.md does not name the metric %s", metric)
		}
	}
}

// TestDocReferences: the job files' pointers into docs/deploy.md lead
// somewhere.
func TestDocReferences(t *testing.T) {
	doc := readDoc(t)
	headings := map[string]bool{}
	steps := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^##+ (?:(\d+)\. )?(.+)$`).FindAllStringSubmatch(doc, -1) {
		headings[m[2]] = true
		if m[1] != "" {
			steps[m[1]] = true
		}
	}
	ref := regexp.MustCompile(`docs/deploy\.md, (?:step (\d+)|"([^"]+)")`)
	for f := range jobFiles {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ref.FindAllStringSubmatch(strings.Join(strings.Fields(strings.ReplaceAll(string(src), "#", "")), " "), -1) {
			if m[1] != "" && !steps[m[1]] {
				t.Errorf("%s points to docs/deploy.md step %s, which does not exist", f, m[1])
			}
			if m[2] != "" && !headings[m[2]] {
				t.Errorf("%s points to docs/deploy.md section %q, which does not exist", f, m[2])
			}
		}
	}
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func mustDuration(t *testing.T, s string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// jobVariableDefaults are the literal defaults of a job file's variables.
func jobVariableDefaults(t *testing.T, file string) map[string]string {
	t.Helper()
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	f, diags := hclsyntax.ParseConfig(src, file, hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	out := map[string]string{}
	for _, b := range f.Body.(*hclsyntax.Body).Blocks {
		if b.Type != "variable" || len(b.Labels) != 1 {
			continue
		}
		if a, ok := b.Body.Attributes["default"]; ok {
			v, diags := a.Expr.Value(nil)
			if diags.HasErrors() {
				continue
			}
			switch {
			case v.Type().FriendlyName() == "string":
				out[b.Labels[0]] = v.AsString()
			case v.Type().FriendlyName() == "number":
				n, _ := v.AsBigFloat().Int64()
				out[b.Labels[0]] = strconv.FormatInt(n, 10)
			}
		}
	}
	return out
}
