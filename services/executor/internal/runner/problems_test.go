package runner

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlockrun/airlock/contracts"
)

// TestProblemCache: concurrent jobs of one package read it once; another
// tenant's or another version's key reads again; a failed read is not
// kept; without a source every read fails.
func TestProblemCache(t *testing.T) {
	r := New(&fakeSandbox{})
	if _, err := r.Problem(context.Background(), "acme", "p", "v"); !errors.Is(err, ErrNoProblems) {
		t.Fatalf("without a source: %v", err)
	}
	var reads atomic.Int32
	release := make(chan struct{})
	r.Problems = func(_ context.Context, tenant, id, version string) (*contracts.ProblemPackage, error) {
		reads.Add(1)
		<-release
		if version == "bad" {
			return nil, errors.New("store fault")
		}
		return &contracts.ProblemPackage{Tests: []contracts.TestCase{{Name: tenant + "/" + id + "/" + version}}}, nil
	}
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := r.Problem(context.Background(), "acme", "p", "v1")
			if err != nil || p.Tests[0].Name != "acme/p/v1" {
				t.Errorf("read: %v", err)
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	if n := r.ProblemLoads(); n != 1 || reads.Load() != 1 {
		t.Errorf("%d loads (%d reads) for one package, want 1", n, reads.Load())
	}
	if p, _ := r.Problem(context.Background(), "beta", "p", "v1"); p == nil || p.Tests[0].Name != "beta/p/v1" {
		t.Errorf("another tenant's key gave %+v", p)
	}
	for range 2 {
		if _, err := r.Problem(context.Background(), "acme", "p", "bad"); err == nil {
			t.Error("a failed read succeeded")
		}
	}
	if n := r.ProblemLoads(); n != 4 {
		t.Errorf("%d loads, want 4 (a failed read is not kept)", n)
	}
}
