package client_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/contracts/client"
	"github.com/airlockrun/airlock/internal/testkit"
)

// TestProblemStore: versions by content, the versions kept, the test data
// of a version pushed out removed, tenants apart, the version a
// submission pins, and a package whose stored data was tampered with
// refused by the reader.
func TestProblemStore(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	b := startBus(t, ctx, "", client.Options{Tenant: "acme"})
	b.announce(t, ctx)
	obs, err := b.topo.EnsureProblems(ctx, b.n.JS)
	if err != nil {
		t.Fatal(err)
	}
	pkg := func(answer string) *contracts.ProblemPackage {
		a := answer
		return &contracts.ProblemPackage{Compare: contracts.CompareTokens, Limits: contracts.Limits{CPUTimeMS: 1500},
			Tests: []contracts.TestCase{{Name: "big", Stdin: strings.Repeat("1 ", 300_000)}, {Stdin: "2", ExpectedOutput: &a}}}
	}
	first, err := b.c.PutProblem(ctx, "p", pkg("v0"))
	if err != nil || !first.Created || first.Unchanged {
		t.Fatalf("first put: %+v %v", first, err)
	}
	again, err := b.c.PutProblem(ctx, "p", pkg("v0"))
	if err != nil || again.Created || !again.Unchanged || again.Manifest.Version != first.Manifest.Version ||
		!again.Manifest.CreatedAt.Equal(first.Manifest.CreatedAt) {
		t.Fatalf("the same package again: %+v %v", again, err)
	}
	var versions []string
	for i := 1; i <= 4; i++ {
		st, err := b.c.PutProblem(ctx, "p", pkg(fmt.Sprintf("v%d", i)))
		if err != nil || st.Created || st.Unchanged || st.Manifest.Version == first.Manifest.Version {
			t.Fatalf("version %d: %+v %v", i, st, err)
		}
		versions = append(versions, st.Manifest.Version)
	}
	// Kept: the last three (v4, v3, v2); v0 and v1 are gone, with their
	// own answers; the input all versions share stays.
	for i, v := range append([]string{first.Manifest.Version}, versions...) {
		got, err := client.LoadProblem(ctx, obs, "acme", "p", v)
		kept := i >= 2
		switch {
		case kept && (err != nil || *got.Tests[1].ExpectedOutput != fmt.Sprintf("v%d", i) || got.Limits.CPUTimeMS != 1500 || len(got.Tests[0].Stdin) != 600_000):
			t.Errorf("version %d: %v", i, err)
		case !kept && !errors.Is(err, client.ErrProblemNotFound):
			t.Errorf("version %d was pushed out, but reads: %v", i, err)
		}
	}
	left := map[string]bool{}
	list, _ := obs.List(ctx)
	for _, o := range list {
		left[o.Name] = true
	}
	if n := len(left); n != 1+3+2+3 { // head, three versions, the two shared inputs, three answers
		t.Errorf("%d objects left, want 9: %v", n, left)
	}
	if left[contracts.ProblemObject("acme", "p", "blobs", contracts.SHA256Hex([]byte("v0")))] {
		t.Error("the answer of a version pushed out is still stored")
	}

	// Another tenant sees nothing and stores its own.
	beta := b.c.As("beta")
	if _, err := beta.Problem(ctx, "p"); !errors.Is(err, client.ErrProblemNotFound) {
		t.Errorf("beta reads acme's problem: %v", err)
	}
	if err := beta.DeleteProblem(ctx, "p"); !errors.Is(err, client.ErrProblemNotFound) {
		t.Errorf("beta deletes acme's problem: %v", err)
	}
	if _, err := client.LoadProblem(ctx, obs, "beta", "p", versions[3]); !errors.Is(err, client.ErrProblemNotFound) {
		t.Errorf("acme's package loads as beta's: %v", err)
	}

	// A submission pins the current version and takes the package's limits.
	req := contracts.ExecutionRequest{Language: "python", Files: []contracts.File{{Name: "main.py", Content: "print(2)"}}, Problem: "p"}
	if _, err := b.c.Submit(ctx, &req, client.SubmitOptions{}); err != nil {
		t.Fatal(err)
	}
	if req.ProblemVersion != versions[3] || req.Limits.CPUTimeMS != 1500 || req.Tests != nil {
		t.Errorf("submitted request: version %q limits %+v", req.ProblemVersion, req.Limits)
	}
	var ve *contracts.ValidationError
	pinned := contracts.ExecutionRequest{Language: "python", Files: req.Files, Problem: "p", ProblemVersion: first.Manifest.Version}
	if _, err := b.c.Submit(ctx, &pinned, client.SubmitOptions{}); !errors.As(err, &ve) || ve.Code != contracts.CodeUnknownProblem || ve.Field != "problem_version" {
		t.Errorf("a version pushed out: %v", err)
	}

	// Tampered test data is refused by the reader.
	blob := contracts.ProblemObject("acme", "p", "blobs", contracts.SHA256Hex([]byte("v4")))
	if _, err := obs.PutString(ctx, blob, "v5"); err != nil {
		t.Fatal(err)
	}
	if _, err := client.LoadProblem(ctx, obs, "acme", "p", versions[3]); err == nil || !strings.Contains(err.Error(), "does not match its hash") {
		t.Errorf("tampered data: %v", err)
	}

	if err := b.c.DeleteProblem(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	if list, _ := obs.List(ctx); len(list) != 0 {
		t.Errorf("%d objects left after delete", len(list))
	}
}
