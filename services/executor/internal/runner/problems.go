package runner

import (
	"context"
	"errors"

	"github.com/airlockrun/airlock/contracts"
)

// problemCacheBytes bounds the problem packages an executor keeps in
// memory (their test data, checker and interactor sources).
const problemCacheBytes = 256 << 20

// ErrNoProblems: this runner reads no problem packages (Runner.Problems is
// nil).
var ErrNoProblems = errors.New("this executor reads no problem packages")

// packageSize is what a package holds in memory, roughly: its test data
// and its programs' sources.
func packageSize(p *contracts.ProblemPackage) int64 {
	if p == nil {
		return -1
	}
	var n int64
	for _, tc := range p.Tests {
		n += int64(len(tc.Stdin)) + int64(len(tc.Name)) + 64
		if tc.ExpectedOutput != nil {
			n += int64(len(*tc.ExpectedOutput))
		}
	}
	for _, jp := range []*contracts.JudgeProgram{p.Checker, p.Interactor} {
		if jp != nil {
			for _, f := range jp.Files {
				n += int64(len(f.Content))
			}
		}
	}
	return n
}

// Problem is version of problem id of tenant: from the executor's cache
// (keyed by tenant, id and version, at most problemCacheBytes in memory,
// least recently used first out), else read with r.Problems. Concurrent
// jobs of one package read it once. The package is shared: read it, never
// change it.
func (r *Runner) Problem(ctx context.Context, tenant, id, version string) (*contracts.ProblemPackage, error) {
	if r.Problems == nil {
		return nil, ErrNoProblems
	}
	return r.problems.get(ctx, tenant+"/"+id+"/"+version, func() (*contracts.ProblemPackage, error) {
		return r.Problems(ctx, tenant, id, version)
	})
}

// ProblemLoads counts the packages this runner read from the store (a
// cache hit reads none).
func (r *Runner) ProblemLoads() int64 { return r.problems.builds.Load() }
