package contracts

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ProblemsStore is the JetStream Object Store that holds the stored problem
// packages of every tenant (docs/judge.md "Problem packages"). Its objects
// are named under the tenant: <tenant>/<problem>/head (the current version
// and the versions kept), <tenant>/<problem>/versions/<version> (a
// version's manifest and its checker's and interactor's sources) and
// <tenant>/<problem>/blobs/<sha256> (one test input or answer, chunked by
// the store). Only the gateway writes it; executors read it.
const ProblemsStore = "problems"

// ProblemVersionsKept is how many versions of a problem stay readable: the
// current one and the ones it replaced most recently, so that a job queued
// with an older version still runs the package it was submitted with.
const ProblemVersionsKept = 3

// ProblemPackage is the body of PUT /v1/problems/{id}: what a request that
// names the problem takes from it instead of its own fields.
type ProblemPackage struct {
	// Tests are the problem's tests (1 to Policy.MaxTests), with their
	// inputs, answers and points, as on a request.
	Tests        []TestCase    `json:"tests" validate:"required,min=1,dive"`
	Checker      *JudgeProgram `json:"checker,omitempty"`
	Interactor   *JudgeProgram `json:"interactor,omitempty"`
	Compare      CompareMode   `json:"compare,omitempty" validate:"omitempty,oneof=exact trim tokens float"`
	AbsTolerance float64       `json:"abs_tolerance,omitempty" validate:"gte=0"`
	RelTolerance float64       `json:"rel_tolerance,omitempty" validate:"gte=0"`
	// Limits are the default limits of a submission to the problem: a
	// limit the request sets wins.
	Limits Limits `json:"limits"`
}

// ProblemManifest describes one stored version of a problem package
// without its test data: what GET /v1/problems/{id} answers.
type ProblemManifest struct {
	ID string `json:"id"`
	// Version is the SHA-256 of the package's content (its id, every
	// test's name, arguments, points and the hashes of its input and
	// answer, the checker's and interactor's sources, the compare mode and
	// the limits): the same package uploaded again has the same version.
	Version      string          `json:"version"`
	Tests        []ProblemTest   `json:"tests"`
	Checker      *ProblemProgram `json:"checker,omitempty"`
	Interactor   *ProblemProgram `json:"interactor,omitempty"`
	Compare      CompareMode     `json:"compare,omitempty"`
	AbsTolerance float64         `json:"abs_tolerance,omitempty"`
	RelTolerance float64         `json:"rel_tolerance,omitempty"`
	Limits       Limits          `json:"limits"`
	MaxScore     float64         `json:"max_score"`
	// TestBytes is the size of every test's input and answer together.
	TestBytes int64 `json:"test_bytes"`
	// CreatedAt is when this version was first stored.
	CreatedAt time.Time `json:"created_at"`
}

// ProblemTest is one test of a stored package: its input and answer by
// hash and size.
type ProblemTest struct {
	Name   string   `json:"name,omitempty"`
	Args   []string `json:"args,omitempty"`
	Points float64  `json:"points"`
	Input  BlobRef  `json:"input"`
	Answer *BlobRef `json:"answer,omitempty"`
}

// BlobRef names stored bytes by their SHA-256 (hex) and size.
type BlobRef struct {
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// ProblemProgram is a stored checker or interactor, its sources by hash.
type ProblemProgram struct {
	Language string        `json:"language"`
	Version  string        `json:"version,omitempty"`
	Limits   Limits        `json:"limits"`
	Files    []ProblemFile `json:"files"`
}

// ProblemFile is one source file of a stored checker or interactor.
type ProblemFile struct {
	Name string `json:"name"`
	BlobRef
}

// problemIDRE matches a problem id: it becomes part of an object name.
var problemIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// ValidProblemID reports whether s can name a problem: 1 to 128 letters,
// digits, '.', '_' or '-', starting with a letter or digit.
func ValidProblemID(s string) bool { return problemIDRE.MatchString(s) }

var versionRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// ValidProblemVersion reports whether s has the form of a version (a
// SHA-256 in lower-case hex).
func ValidProblemVersion(s string) bool { return versionRE.MatchString(s) }

// SHA256Hex is the SHA-256 of b in lower-case hex.
func SHA256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// ProblemObject names the objects of a tenant's problem in ProblemsStore.
func ProblemObject(tenant, problem string, parts ...string) string {
	name := tenant + "/" + problem
	for _, p := range parts {
		name += "/" + p
	}
	return name
}

// ProblemMaxBytesDefault is the default bound of the problems store.
const ProblemMaxBytesDefault = 4 << 30

// ProblemsStoreConfig is the object store of the problem packages: file
// storage, bounded (a full store refuses new packages: 503
// store_unavailable), no TTL (a package lives until it is deleted).
func (t Topology) ProblemsStoreConfig() jetstream.ObjectStoreConfig {
	return jetstream.ObjectStoreConfig{
		Bucket:      ProblemsStore,
		Description: "Airlock problem packages (tests, checkers), per tenant",
		Storage:     jetstream.FileStorage,
		MaxBytes:    t.ProblemsMaxBytes,
		Replicas:    t.replicas(),
	}
}

// objectStream is the stream behind an object store.
func objectStream(name string) string { return "OBJ_" + name }

// EnsureProblems opens the problems store, creating it when it does not
// exist yet and reconciling its bound as Ensure does (the gateway owns it).
func (t Topology) EnsureProblems(ctx context.Context, js jetstream.JetStream, opts ...EnsureOption) (jetstream.ObjectStore, error) {
	o := newEnsureOptions(opts)
	oc := t.ProblemsStoreConfig()
	object := "object store " + oc.Bucket
	have, err := o.existing(ctx, js, object, objectStream(oc.Bucket), func() error {
		_, err := js.CreateObjectStore(ctx, oc)
		return err
	})
	if err != nil {
		return nil, err
	}
	if have != nil {
		var diffs []diff
		if want := unlimited(oc.MaxBytes); have.MaxBytes != want {
			diffs = append(diffs, diff{field: "max_bytes", have: have.MaxBytes, want: want})
		}
		if err := o.settle(object, objectStream(oc.Bucket), "", diffs, func() error {
			_, err := js.UpdateObjectStore(ctx, oc)
			return err
		}); err != nil {
			return nil, err
		}
	}
	obs, err := js.ObjectStore(ctx, ProblemsStore)
	if err != nil {
		return nil, fmt.Errorf("open object store %s: %w", ProblemsStore, err)
	}
	return obs, nil
}

// ApplyProblem fills req from a loaded package: its tests, checker,
// interactor, compare mode and tolerances, and each limit the request does
// not set. The request named the problem, so it had none of these.
func ApplyProblem(req *ExecutionRequest, pkg *ProblemPackage) {
	req.Tests, req.Checker, req.Interactor = pkg.Tests, pkg.Checker, pkg.Interactor
	req.Compare, req.AbsTolerance, req.RelTolerance = pkg.Compare, pkg.AbsTolerance, pkg.RelTolerance
	req.Limits = MergeLimits(req.Limits, pkg.Limits)
}

// MergeLimits is l with each unset (zero) limit taken from defaults.
func MergeLimits(l, defaults Limits) Limits {
	pick := func(v, d int64) int64 {
		if v != 0 {
			return v
		}
		return d
	}
	return Limits{
		CPUTimeMS: pick(l.CPUTimeMS, defaults.CPUTimeMS), WallTimeMS: pick(l.WallTimeMS, defaults.WallTimeMS),
		MemoryMB: pick(l.MemoryMB, defaults.MemoryMB), Processes: pick(l.Processes, defaults.Processes),
		OutputBytes:      pick(l.OutputBytes, defaults.OutputBytes),
		CompileCPUTimeMS: pick(l.CompileCPUTimeMS, defaults.CompileCPUTimeMS), CompileWallTimeMS: pick(l.CompileWallTimeMS, defaults.CompileWallTimeMS),
		CompileMemoryMB: pick(l.CompileMemoryMB, defaults.CompileMemoryMB),
	}
}

// ProblemHash is the version of a package: the SHA-256 of its id and its
// manifest's content (the tests' hashes, not their bytes) with the
// checker's and interactor's full sources. The manifest's own version and
// creation time are not part of it.
func ProblemHash(id string, m *ProblemManifest, checker, interactor *JudgeProgram) string {
	content := *m
	content.ID, content.Version, content.CreatedAt, content.Checker, content.Interactor = id, "", time.Time{}, nil, nil
	data, _ := json.Marshal(struct {
		Manifest   ProblemManifest `json:"manifest"`
		Checker    *JudgeProgram   `json:"checker"`
		Interactor *JudgeProgram   `json:"interactor"`
	}{content, checker, interactor})
	return SHA256Hex(data)
}

// ProblemRequest is a request to the NATS endpoint of problem packages
// (Topology.ProblemSubject): Op is ProblemPut (with Package), ProblemGet or
// ProblemDelete of problem ID. The reply is the ProblemManifest ({} for a
// delete) or a service error, as on the execute endpoint.
type ProblemRequest struct {
	Op      string          `json:"op"`
	ID      string          `json:"id"`
	Package *ProblemPackage `json:"package,omitempty"`
}

// The operations of a ProblemRequest.
const (
	ProblemPut    = "put"
	ProblemGet    = "get"
	ProblemDelete = "delete"
)
