package eval

import (
	"context"
	"errors"
	"math"
	"sync"
	"time"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/contracts/client"
	"github.com/airlockrun/airlock/services/gateway/internal/eval/benchmark"
)

// view reads an evaluation's progress and the state of every queued
// candidate, and aggregates them.
func (ev *evaluator) view(ctx context.Context, m *evalMeta) (*contracts.Evaluation, error) {
	p, err := ev.currentProgress(ctx, m.ID)
	if err != nil {
		return nil, err
	}
	if p == nil { // expired or half-created: report what the index says
		p = &evalProgress{State: evalStateStoring}
	}
	out := &contracts.Evaluation{ID: m.ID, Language: m.Language, Version: m.Version, Format: m.Format, CreatedAt: m.CreatedAt,
		Candidates: make([]contracts.CandidateResult, m.Total)}
	rejected := map[int]contracts.ErrorDetail{}
	for _, r := range p.Rejected {
		rejected[r.Index] = r.Error
	}
	submitted := p.Submitted
	if p.State == evalStateSubmitted {
		submitted = m.Total
	}
	var need []int
	ev.mu.Lock()
	for i := range m.candidates {
		res := &out.Candidates[i]
		execID := contracts.EvaluationExecutionID(m.Tenant, m.ID, i)
		if done, ok := ev.done[execID]; ok {
			*res = done
		} else {
			res.Status = "pending"
			if i < submitted {
				res.Status = string(contracts.StatusQueued)
				need = append(need, i)
			}
		}
		m.label(res, i)
		if e, ok := rejected[i]; ok {
			rejectedAs(res, e)
		}
	}
	ev.mu.Unlock()

	c := ev.client.As(m.Tenant)
	var mu sync.Mutex
	err = parallel(len(need), evalLookupConc, func(j int) error {
		i := need[j]
		exec, err := c.Get(ctx, out.Candidates[i].ExecutionID)
		switch {
		case errors.Is(err, client.ErrNotFound): // its queued event was not recorded (yet): still queued
			return nil
		case err != nil:
			return err
		}
		res := candidateOf(&exec)
		m.label(&res, i)
		mu.Lock()
		out.Candidates[i] = res
		mu.Unlock()
		if exec.Terminal() {
			ev.mu.Lock()
			if len(ev.done) >= evalCacheDone {
				clear(ev.done)
			}
			ev.done[exec.ID] = res
			ev.mu.Unlock()
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	aggregate(out, m, p)
	return out, nil
}

// label sets the names of candidate i on res.
func (m *evalMeta) label(res *contracts.CandidateResult, i int) {
	c := m.candidates[i]
	res.Index, res.ID, res.Problem = i, c.ID, m.Problems[c.Problem]
	res.ExecutionID = contracts.EvaluationExecutionID(m.Tenant, m.ID, i)
	res.TaskID, res.Sample = m.task(i)
}

// rejectedAs marks res as a candidate the job queue refused.
func rejectedAs(res *contracts.CandidateResult, e contracts.ErrorDetail) {
	res.Status, res.Error = "rejected", &e
	res.Result = contracts.ResultFailedPrefix + "rejected: " + e.Code
}

// candidateOf summarises one execution.
func candidateOf(exec *contracts.Execution) contracts.CandidateResult {
	res := contracts.CandidateResult{Status: string(exec.Status), StartedAt: exec.StartedAt, FinishedAt: exec.FinishedAt}
	if !exec.Terminal() {
		return res
	}
	res.Verdict = exec.Verdict
	res.Result = benchmark.Result(exec)
	res.Passed = exec.Verdict == contracts.VerdictAccepted
	res.FailedTest = exec.FailedTest
	res.Message = exec.Message
	if exec.FailedTest != nil && *exec.FailedTest >= 0 && *exec.FailedTest < len(exec.Tests) {
		res.FailedTestName = exec.Tests[*exec.FailedTest].Name
	}
	add := func(s *contracts.Stage) {
		res.CPUTimeMS += s.CPUTimeMS
		res.WallTimeMS += s.WallTimeMS
		res.MemoryKB = max(res.MemoryKB, s.MemoryKB)
	}
	if exec.Compile != nil {
		add(exec.Compile)
	}
	if exec.Run != nil {
		add(exec.Run)
	}
	res.TestsTotal = len(exec.Tests)
	for i := range exec.Tests {
		add(&exec.Tests[i].Stage)
		if exec.Tests[i].Verdict == contracts.VerdictAccepted {
			res.TestsPassed++
		}
	}
	if exec.StartedAt != nil && exec.FinishedAt != nil {
		res.DurationMS = exec.FinishedAt.Sub(*exec.StartedAt).Milliseconds()
	}
	return res
}

// aggregator sums candidates into an evaluation's progress, summary and
// pass@k, one candidate at a time (GET and the events stream use it).
type aggregator struct {
	m        *evalMeta
	p        *evalProgress
	prog     contracts.EvaluationProgress
	sum      contracts.EvaluationSummary
	counts   []contracts.ProblemCount
	finished time.Time
}

func newAggregator(m *evalMeta, p *evalProgress) *aggregator {
	g := &aggregator{m: m, p: p, counts: make([]contracts.ProblemCount, len(m.Problems))}
	g.prog.Total, g.sum.Total = m.Total, m.Total
	g.prog.QueueFullRetries = p.QueueFullRetries
	g.sum.ByVerdict = map[contracts.Verdict]int{}
	for i, name := range m.Problems {
		g.counts[i].Problem = name
	}
	for _, c := range m.candidates {
		g.counts[c.Problem].N++
	}
	return g
}

// add counts candidate c (its Index names it).
func (g *aggregator) add(c *contracts.CandidateResult) {
	prog, sum := &g.prog, &g.sum
	switch c.Status {
	case "pending":
		prog.Pending++
		return
	case "rejected":
		prog.Rejected++
		return
	case string(contracts.StatusQueued):
		prog.Queued++
	case string(contracts.StatusRunning):
		prog.Running++
	case string(contracts.StatusCompleted):
		prog.Completed++
	}
	prog.Submitted++
	if c.Status != string(contracts.StatusCompleted) {
		return
	}
	sum.Completed++
	sum.ByVerdict[c.Verdict]++
	if c.Passed {
		sum.Passed++
		g.counts[g.m.candidates[c.Index].Problem].C++
	}
	sum.CPUTimeMS += c.CPUTimeMS
	sum.WallTimeMS += c.WallTimeMS
	sum.DurationMS += c.DurationMS
	if c.FinishedAt != nil && c.FinishedAt.After(g.finished) {
		g.finished = *c.FinishedAt
	}
}

// finish fills the status, progress, summary and pass@k of out.
func (g *aggregator) finish(out *contracts.Evaluation) {
	m, prog, sum := g.m, &g.prog, &g.sum
	sum.Failed = sum.Completed - sum.Passed
	if sum.Completed > 0 {
		sum.PassRate = float64(sum.Passed) / float64(sum.Completed)
	}
	out.Progress, out.Summary = *prog, *sum
	out.PassAtK.Problems = g.counts
	switch {
	case g.p.State != evalStateSubmitted && prog.Pending > 0:
		out.Status = contracts.EvaluationSubmitting
	case prog.Completed+prog.Rejected < m.Total:
		out.Status = contracts.EvaluationRunning
	default:
		out.Status = contracts.EvaluationCompleted
		if !g.finished.IsZero() {
			finished := g.finished
			out.FinishedAt = &finished
		}
		for _, k := range m.K {
			est := contracts.PassAtKEstimate{K: k}
			total := 0.0
			for _, pc := range g.counts {
				if v := contracts.PassAtK(pc.N, pc.C, k); !math.IsNaN(v) {
					total += v
					est.Problems++
				}
			}
			if est.Problems > 0 {
				v := total / float64(est.Problems)
				est.Value = &v
			}
			out.PassAtK.Estimates = append(out.PassAtK.Estimates, est)
		}
	}
}

// aggregate fills the status, progress, summary and pass@k of out from its
// candidates.
func aggregate(out *contracts.Evaluation, m *evalMeta, p *evalProgress) {
	g := newAggregator(m, p)
	for i := range out.Candidates {
		g.add(&out.Candidates[i])
	}
	g.finish(out)
}
