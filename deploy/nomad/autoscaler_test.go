package nomad

import (
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

const policyFile = "autoscaler/executor-nodes.policy.hcl"

// hclBlock is a generic view of an HCL file: attributes evaluated without
// variables (the autoscaler's files have none) and nested blocks.
type hclBlock struct {
	Type   string
	Labels []string
	Attrs  map[string]cty.Value
	Blocks []*hclBlock
}

func (b *hclBlock) blocks(typ string) []*hclBlock {
	var out []*hclBlock
	for _, c := range b.Blocks {
		if c.Type == typ {
			out = append(out, c)
		}
	}
	return out
}

func (b *hclBlock) one(t *testing.T, typ string) *hclBlock {
	t.Helper()
	bs := b.blocks(typ)
	if len(bs) != 1 {
		t.Fatalf("%s %v: want one %s block, got %d", b.Type, b.Labels, typ, len(bs))
	}
	return bs[0]
}

func (b *hclBlock) str(t *testing.T, name string) string {
	t.Helper()
	v, ok := b.Attrs[name]
	if !ok || v.Type() != cty.String {
		t.Fatalf("%s %v: %s is not a string attribute", b.Type, b.Labels, name)
	}
	return v.AsString()
}

func (b *hclBlock) int(t *testing.T, name string) int {
	t.Helper()
	v, ok := b.Attrs[name]
	if !ok || v.Type() != cty.Number {
		t.Fatalf("%s %v: %s is not a number attribute", b.Type, b.Labels, name)
	}
	n, _ := v.AsBigFloat().Int64()
	return int(n)
}

func (b *hclBlock) duration(t *testing.T, name string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(b.str(t, name))
	if err != nil {
		t.Fatalf("%s %v: %s: %v", b.Type, b.Labels, name, err)
	}
	return d
}

func parseHCL(t *testing.T, path string) *hclBlock {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	file, diags := hclsyntax.ParseConfig(src, path, hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatalf("%s: %v", path, diags)
	}
	var conv func(body *hclsyntax.Body) *hclBlock
	conv = func(body *hclsyntax.Body) *hclBlock {
		out := &hclBlock{Attrs: map[string]cty.Value{}}
		for name, attr := range body.Attributes {
			v, diags := attr.Expr.Value(nil)
			if diags.HasErrors() {
				t.Fatalf("%s: %s: %v", path, name, diags)
			}
			out.Attrs[name] = v
		}
		for _, blk := range body.Blocks {
			c := conv(blk.Body)
			c.Type, c.Labels = blk.Type, blk.Labels
			out.Blocks = append(out.Blocks, c)
		}
		return out
	}
	return conv(file.Body.(*hclsyntax.Body))
}

// TestAutoscalerPolicy checks the cluster scaling policy against the
// executor job it scales.
func TestAutoscalerPolicy(t *testing.T) {
	root := parseHCL(t, policyFile)
	scaling := root.one(t, "scaling")
	if v, ok := scaling.Attrs["enabled"]; !ok || v.False() {
		t.Error("scaling.enabled is not true")
	}
	minNodes, maxNodes := scaling.int(t, "min"), scaling.int(t, "max")
	if minNodes < 1 || maxNodes < minNodes {
		t.Errorf("min %d, max %d: want 1 <= min <= max (a queue with no executor never drains)", minNodes, maxNodes)
	}
	policy := scaling.one(t, "policy")
	if policy.duration(t, "cooldown") < time.Minute {
		t.Error("cooldown under a minute: nodes take minutes to join and to drain")
	}

	check := policy.one(t, "check")
	if got := check.str(t, "source"); got != "prometheus" {
		t.Errorf("check source %q, want prometheus", got)
	}
	query := check.str(t, "query")
	// The metrics the services expose (names fixed in the policy's comment).
	for _, metric := range []string{"airlock_queue_pending", "airlock_queue_in_flight", "airlock_executor_slots"} {
		if !strings.Contains(query, metric) {
			t.Errorf("query does not use %s: %s", metric, query)
		}
	}
	if strat := check.one(t, "strategy"); len(strat.Labels) != 1 || strat.Labels[0] != "pass-through" {
		t.Errorf("strategy %v, want pass-through (the query computes the node count)", strat.Labels)
	}

	exec := parseJob(t, "executor.nomad.hcl")
	etg := onlyGroup(t, exec)
	etask := onlyMainTask(t, etg)
	slots, _ := strconv.Atoi(etask.Env["AIRLOCK_SLOTS"])
	// The fallback slots per node, used before any executor reports, is
	// the executor job's.
	if m := regexp.MustCompile(`airlock_executor_slots\)\s*or\s*vector\((\d+)\)`).FindStringSubmatch(query); m == nil || m[1] != strconv.Itoa(slots) {
		t.Errorf("query: want `avg(airlock_executor_slots) or vector(%d)` as slots per node", slots)
	}

	target := policy.one(t, "target")
	if len(target.Labels) != 1 || target.Labels[0] != "aws-asg" {
		t.Fatalf("target %v, want aws-asg", target.Labels)
	}
	if got, want := target.str(t, "node_class"), nodeClass(exec, etg); got != want {
		t.Errorf("target node_class %q, executor job's node class %q", got, want)
	}
	if target.str(t, "aws_asg_name") == "" {
		t.Error("aws_asg_name is empty")
	}
	if got := target.str(t, "dry-run"); got != "false" {
		t.Errorf("dry-run %q", got)
	}
	// Scale-in drains the node: the executor is stopped by the drain (its
	// SIGTERM path), not by the instance's termination.
	if got := target.str(t, "node_drain_ignore_system_jobs"); got != "false" {
		t.Errorf("node_drain_ignore_system_jobs %q: the executor (a system job) must be drained gracefully", got)
	}
	if dd := target.duration(t, "node_drain_deadline"); dd < 2*dur(etask.KillTimeout) {
		t.Errorf("node_drain_deadline %v: want at least twice the executor's kill_timeout %v", dd, dur(etask.KillTimeout))
	}
	if got := target.str(t, "node_purge"); got != "true" {
		t.Errorf("node_purge %q: terminated nodes would stay listed as down", got)
	}

	// The fleet-wide in-flight cap must not idle the largest fleet.
	maxInFlight, err := strconv.Atoi(etask.Env["AIRLOCK_MAX_IN_FLIGHT"])
	if err != nil {
		t.Fatalf("AIRLOCK_MAX_IN_FLIGHT: %v", err)
	}
	if maxInFlight < maxNodes*slots {
		t.Errorf("AIRLOCK_MAX_IN_FLIGHT %d < max nodes %d x slots %d: scaled-out nodes would sit idle", maxInFlight, maxNodes, slots)
	}

	src, _ := os.ReadFile(policyFile)
	if strings.Contains(string(src), "{{") {
		t.Error("the policy is rendered by a Nomad template: it must not contain {{")
	}
}

func TestAutoscalerJob(t *testing.T) {
	job := parseJob(t, "autoscaler/autoscaler.nomad.hcl")
	tg := onlyGroup(t, job)
	if str(job.Type) != "service" || num(tg.Count) != 1 {
		t.Errorf("want a service job with one agent, got %s count %d", str(job.Type), num(tg.Count))
	}
	if got := nodeClass(job, tg); got != classAPI {
		t.Errorf("node class %q, want %q", got, classAPI)
	}
	task := onlyMainTask(t, tg)
	if task.Driver != "exec" {
		t.Errorf("driver %q, want exec", task.Driver)
	}
	if task.Identity == nil || !task.Identity.Env {
		t.Error("the task needs its workload identity (identity { env = true }) for the Task API")
	}
	if c, ok := serviceChecks(tg)["health"]; !ok || c.Path != "/v1/health" {
		t.Errorf("want an http check of /v1/health, got %+v", c)
	}
	var config, policy string
	var policyDest string
	for _, tmpl := range task.Templates {
		switch dest := str(tmpl.DestPath); {
		case dest == "local/config.hcl":
			config = str(tmpl.EmbeddedTmpl)
		case strings.HasPrefix(dest, "local/policies/"):
			policy, policyDest = str(tmpl.EmbeddedTmpl), dest
		}
	}
	src, err := os.ReadFile(policyFile)
	if err != nil {
		t.Fatal(err)
	}
	if policy != string(src) {
		t.Errorf("the job's policy template is not %s", policyFile)
	}
	for _, want := range []string{
		`unix://{{ env "NOMAD_SECRETS_DIR" }}/api.sock`,
		`nomadService "prometheus"`,
		`target "aws-asg"`,
		`driver = "aws-asg"`,
		`strategy "pass-through"`,
		`apm "prometheus"`,
		`dir = "{{ env "NOMAD_TASK_DIR" }}/` + strings.TrimPrefix(policyDest[:strings.LastIndex(policyDest, "/")], "local/") + `"`,
		`aws_region = "eu-west-1"`,
		`bind_port    = {{ env "NOMAD_PORT_http" }}`,
	} {
		if !strings.Contains(config, want) {
			t.Errorf("agent config lacks %s", want)
		}
	}
	args, _ := task.Config["args"].([]any)
	if !slices.Contains(args, any("${NOMAD_TASK_DIR}/config.hcl")) {
		t.Errorf("args %v do not load the rendered config", args)
	}

	acl := parseHCL(t, "autoscaler/acl.hcl")
	if got := acl.one(t, "node").str(t, "policy"); got != "write" {
		t.Errorf("ACL node policy %q: draining and purging nodes needs write", got)
	}
	if ns := acl.one(t, "namespace"); ns.str(t, "policy") != "scale" {
		t.Error("ACL namespace policy should be scale (read scaling policies)")
	}
}
