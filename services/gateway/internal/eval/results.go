package eval

import (
	"context"
	"errors"
	"math"
	"sync"
	"time"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/contracts/client"
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
	out := &contracts.Evaluation{ID: m.ID, Language: m.Language, Version: m.Version, CreatedAt: m.CreatedAt,
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
	for i, c := range m.candidates {
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
		res.Index, res.ID, res.Problem, res.ExecutionID = i, c.ID, m.Problems[c.Problem], execID
		if e, ok := rejected[i]; ok {
			res.Status, res.Error = "rejected", &e
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
		res.Index, res.ID, res.Problem, res.ExecutionID = i, out.Candidates[i].ID, out.Candidates[i].Problem, exec.ID
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

// candidateOf summarises one execution.
func candidateOf(exec *contracts.Execution) contracts.CandidateResult {
	res := contracts.CandidateResult{Status: string(exec.Status), StartedAt: exec.StartedAt, FinishedAt: exec.FinishedAt}
	if !exec.Terminal() {
		return res
	}
	res.Verdict = exec.Verdict
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

// aggregate fills the status, progress, summary and pass@k of out from its
// candidates.
func aggregate(out *contracts.Evaluation, m *evalMeta, p *evalProgress) {
	prog := &out.Progress
	sum := &out.Summary
	prog.Total, sum.Total = m.Total, m.Total
	prog.QueueFullRetries = p.QueueFullRetries
	sum.ByVerdict = map[contracts.Verdict]int{}
	counts := make([]contracts.ProblemCount, len(m.Problems))
	for i, name := range m.Problems {
		counts[i].Problem = name
	}
	var finished time.Time
	for i := range out.Candidates {
		c := &out.Candidates[i]
		pc := &counts[m.candidates[i].Problem]
		pc.N++
		switch c.Status {
		case "pending":
			prog.Pending++
			continue
		case "rejected":
			prog.Rejected++
			continue
		case string(contracts.StatusQueued):
			prog.Queued++
		case string(contracts.StatusRunning):
			prog.Running++
		case string(contracts.StatusCompleted):
			prog.Completed++
		}
		prog.Submitted++
		if c.Status != string(contracts.StatusCompleted) {
			continue
		}
		sum.Completed++
		sum.ByVerdict[c.Verdict]++
		if c.Passed {
			sum.Passed++
			pc.C++
		}
		sum.CPUTimeMS += c.CPUTimeMS
		sum.WallTimeMS += c.WallTimeMS
		sum.DurationMS += c.DurationMS
		if c.FinishedAt != nil && c.FinishedAt.After(finished) {
			finished = *c.FinishedAt
		}
	}
	sum.Failed = sum.Completed - sum.Passed
	if sum.Completed > 0 {
		sum.PassRate = float64(sum.Passed) / float64(sum.Completed)
	}
	out.PassAtK.Problems = counts
	switch {
	case p.State != evalStateSubmitted && prog.Pending > 0:
		out.Status = contracts.EvaluationSubmitting
	case prog.Completed+prog.Rejected < m.Total:
		out.Status = contracts.EvaluationRunning
	default:
		out.Status = contracts.EvaluationCompleted
		if !finished.IsZero() {
			out.FinishedAt = &finished
		}
		for _, k := range m.K {
			est := contracts.PassAtKEstimate{K: k}
			total := 0.0
			for _, pc := range counts {
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
