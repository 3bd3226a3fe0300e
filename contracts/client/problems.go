package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/airlockrun/airlock/contracts"
)

// ErrProblemNotFound: no problem with this id is stored for the tenant.
var ErrProblemNotFound = errors.New("no problem with this id")

// problemCallTimeout bounds one store or read of a whole package (its
// tests may be hundreds of megabytes, in chunks).
const problemCallTimeout = 5 * time.Minute

// problemHead is the object <tenant>/<problem>/head: the current version
// and the versions kept (newest first, the current one included).
type problemHead struct {
	Version  string   `json:"version"`
	Versions []string `json:"versions"`
}

// problemVersion is the object <tenant>/<problem>/versions/<version>: the
// manifest, and the checker's and interactor's sources in full.
type problemVersion struct {
	Manifest   contracts.ProblemManifest `json:"manifest"`
	Checker    *contracts.JudgeProgram   `json:"checker,omitempty"`
	Interactor *contracts.JudgeProgram   `json:"interactor,omitempty"`
}

// blobs are the test data a version refers to, by hash.
func (v *problemVersion) blobs() []string {
	var out []string
	for _, t := range v.Manifest.Tests {
		out = append(out, t.Input.SHA256)
		if t.Answer != nil {
			out = append(out, t.Answer.SHA256)
		}
	}
	return out
}

// ProblemStored is the outcome of PutProblem.
type ProblemStored struct {
	Manifest contracts.ProblemManifest
	// Created: the problem did not exist before.
	Created bool
	// Unchanged: the same package was already the problem's current
	// version; nothing was written.
	Unchanged bool
}

// problems opens the problems object store (the gateway creates it).
func (s *shared) problems(ctx context.Context) (jetstream.ObjectStore, error) {
	s.problemsMu.Lock()
	defer s.problemsMu.Unlock()
	if s.problemStore != nil {
		return s.problemStore, nil
	}
	obs, err := s.js.ObjectStore(ctx, contracts.ProblemsStore)
	if err != nil {
		return nil, fmt.Errorf("%w: open the problems store: %w", ErrUnavailable, err)
	}
	s.problemStore = obs
	return obs, nil
}

func checkProblemID(id string) error {
	if !contracts.ValidProblemID(id) {
		return &contracts.ValidationError{Code: contracts.CodeInvalidRequest, Field: "id",
			Message: "a problem id is 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit"}
	}
	return nil
}

// storeError classifies an object store failure: a full store is
// ErrStoreUnavailable, anything else ErrUnavailable.
func storeError(what string, err error) error {
	if contracts.IsQueueFull(err) || contracts.IsStoreUnavailable(err) {
		return fmt.Errorf("%w: %s: the problems store is full or failing: %w", ErrStoreUnavailable, what, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrUnavailable, what, err)
}

// PutProblem stores pkg as problem id of the client's tenant
// (contracts.Validator.Problem, then the checker's and interactor's
// languages and limits against the executors' runtimes). The package's
// version is the hash of its content: when it is already the problem's
// current version nothing is written (Unchanged). Otherwise its test data
// (by hash: bytes already stored for the problem are not written again),
// its version and then its head are written; the versions it replaces stay
// readable up to contracts.ProblemVersionsKept, so that a queued job keeps
// its package; older ones are removed. Concurrent uploads of one problem:
// the last head written wins.
func (c *Client) PutProblem(ctx context.Context, id string, pkg *contracts.ProblemPackage) (ProblemStored, error) {
	if err := c.checkTenant(); err != nil {
		return ProblemStored{}, err
	}
	if err := checkProblemID(id); err != nil {
		return ProblemStored{}, err
	}
	if ve := c.validator.Problem(pkg); ve != nil {
		return ProblemStored{}, ve
	}
	runtimes, err := c.Runtimes(ctx)
	if err != nil {
		return ProblemStored{}, err
	}
	if len(runtimes) == 0 {
		return ProblemStored{}, ErrNoExecutor
	}
	// Check the languages on copies: the package keeps the version as
	// given (a fleet that upgrades a language keeps serving the package).
	var checker, interactor *contracts.JudgeProgram
	if pkg.Checker != nil {
		cp := *pkg.Checker
		checker = &cp
	}
	if pkg.Interactor != nil {
		cp := *pkg.Interactor
		interactor = &cp
	}
	if ve := contracts.ResolveJudgePrograms(checker, interactor, runtimes); ve != nil {
		return ProblemStored{}, ve
	}
	blobs := map[string][]byte{}
	ref := func(b []byte) contracts.BlobRef {
		h := contracts.SHA256Hex(b)
		blobs[h] = b
		return contracts.BlobRef{SHA256: h, Size: int64(len(b))}
	}
	v := problemVersion{Checker: pkg.Checker, Interactor: pkg.Interactor}
	m := &v.Manifest
	m.ID, m.Compare, m.AbsTolerance, m.RelTolerance, m.Limits = id, pkg.Compare, pkg.AbsTolerance, pkg.RelTolerance, pkg.Limits
	for _, tc := range pkg.Tests {
		t := contracts.ProblemTest{Name: tc.Name, Args: tc.Args, Points: tc.TestPoints(), Input: ref([]byte(tc.Stdin))}
		m.TestBytes += int64(len(tc.Stdin))
		if tc.ExpectedOutput != nil {
			a := ref([]byte(*tc.ExpectedOutput))
			t.Answer = &a
			m.TestBytes += a.Size
		}
		m.MaxScore += t.Points
		m.Tests = append(m.Tests, t)
	}
	for _, p := range []struct {
		jp  *contracts.JudgeProgram
		out **contracts.ProblemProgram
	}{{pkg.Checker, &m.Checker}, {pkg.Interactor, &m.Interactor}} {
		if p.jp == nil {
			continue
		}
		pp := &contracts.ProblemProgram{Language: p.jp.Language, Version: p.jp.Version, Limits: p.jp.Limits}
		for _, f := range p.jp.Files {
			data, _ := contracts.DecodeFile(f) // the validator decoded it
			pp.Files = append(pp.Files, contracts.ProblemFile{Name: f.Name, BlobRef: contracts.BlobRef{SHA256: contracts.SHA256Hex(data), Size: int64(len(data))}})
		}
		*p.out = pp
	}
	m.Version = contracts.ProblemHash(id, m, pkg.Checker, pkg.Interactor)

	ctx, cancel := context.WithTimeout(ctx, problemCallTimeout)
	defer cancel()
	obs, err := c.problems(ctx)
	if err != nil {
		return ProblemStored{}, err
	}
	head, found, err := readJSON[problemHead](ctx, obs, contracts.ProblemObject(c.tenant, id, "head"))
	if err != nil {
		return ProblemStored{}, err
	}
	if found && head.Version == m.Version {
		stored, ok, err := readJSON[problemVersion](ctx, obs, contracts.ProblemObject(c.tenant, id, "versions", m.Version))
		if err != nil {
			return ProblemStored{}, err
		}
		if ok {
			return ProblemStored{Manifest: stored.Manifest, Unchanged: true}, nil
		}
	}
	for h, data := range blobs {
		name := contracts.ProblemObject(c.tenant, id, "blobs", h)
		if _, err := obs.GetInfo(ctx, name); err == nil {
			continue
		} else if !errors.Is(err, jetstream.ErrObjectNotFound) {
			return ProblemStored{}, storeError("read "+name, err)
		}
		if _, err := obs.Put(ctx, jetstream.ObjectMeta{Name: name}, bytes.NewReader(data)); err != nil {
			return ProblemStored{}, storeError("store a test", err)
		}
	}
	vname := contracts.ProblemObject(c.tenant, id, "versions", m.Version)
	if old, ok, err := readJSON[problemVersion](ctx, obs, vname); err != nil {
		return ProblemStored{}, err
	} else if ok {
		v.Manifest.CreatedAt = old.Manifest.CreatedAt // an older version uploaded again
	} else {
		m.CreatedAt = time.Now().UTC()
		if err := writeJSON(ctx, obs, vname, v); err != nil {
			return ProblemStored{}, err
		}
	}
	next := problemHead{Version: m.Version, Versions: []string{m.Version}}
	for _, old := range head.Versions {
		if old != m.Version {
			next.Versions = append(next.Versions, old)
		}
	}
	var dropped []string
	if len(next.Versions) > contracts.ProblemVersionsKept {
		next.Versions, dropped = next.Versions[:contracts.ProblemVersionsKept], next.Versions[contracts.ProblemVersionsKept:]
	}
	if err := writeJSON(ctx, obs, contracts.ProblemObject(c.tenant, id, "head"), next); err != nil {
		return ProblemStored{}, err
	}
	if err := c.removeVersions(ctx, obs, id, dropped, next.Versions); err != nil {
		// The new version is stored; what is left is only space.
		c.log.Warn("remove replaced problem versions", "tenant", c.tenant, "problem", id, "err", err)
	}
	return ProblemStored{Manifest: v.Manifest, Created: !found}, nil
}

// removeVersions deletes the versions drop of problem id and the test data
// none of the versions keep refers to.
func (c *Client) removeVersions(ctx context.Context, obs jetstream.ObjectStore, id string, drop, keep []string) error {
	kept := map[string]bool{}
	for _, k := range keep {
		v, ok, err := readJSON[problemVersion](ctx, obs, contracts.ProblemObject(c.tenant, id, "versions", k))
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		for _, b := range v.blobs() {
			kept[b] = true
		}
	}
	var errs []error
	for _, d := range drop {
		vname := contracts.ProblemObject(c.tenant, id, "versions", d)
		v, ok, err := readJSON[problemVersion](ctx, obs, vname)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !ok {
			continue
		}
		for _, b := range v.blobs() {
			if kept[b] {
				continue
			}
			kept[b] = true // deleted once
			if err := obs.Delete(ctx, contracts.ProblemObject(c.tenant, id, "blobs", b)); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
				errs = append(errs, err)
			}
		}
		if err := obs.Delete(ctx, vname); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Problem is the manifest of problem id's current version.
func (c *Client) Problem(ctx context.Context, id string) (contracts.ProblemManifest, error) {
	v, err := c.problemVersion(ctx, id, "")
	if err != nil {
		return contracts.ProblemManifest{}, err
	}
	return v.Manifest, nil
}

// problemVersion reads version (the current one when "") of problem id:
// ErrProblemNotFound when the tenant has no such problem or version.
func (c *Client) problemVersion(ctx context.Context, id, version string) (*problemVersion, error) {
	if err := c.checkTenant(); err != nil {
		return nil, err
	}
	if !contracts.ValidProblemID(id) || version != "" && !contracts.ValidProblemVersion(version) {
		return nil, ErrProblemNotFound
	}
	ctx, cancel := c.call(ctx)
	defer cancel()
	obs, err := c.problems(ctx)
	if err != nil {
		return nil, err
	}
	if version == "" {
		head, ok, err := readJSON[problemHead](ctx, obs, contracts.ProblemObject(c.tenant, id, "head"))
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, ErrProblemNotFound
		}
		version = head.Version
	}
	v, ok, err := readJSON[problemVersion](ctx, obs, contracts.ProblemObject(c.tenant, id, "versions", version))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrProblemNotFound
	}
	return &v, nil
}

// DeleteProblem removes problem id of the client's tenant: its head first
// (from then on it is unknown to submissions and reads), then every
// version kept and their test data. A job already queued with the problem
// ends with internal_error unless its executor holds the package in its
// cache (docs/judge.md).
func (c *Client) DeleteProblem(ctx context.Context, id string) error {
	if err := c.checkTenant(); err != nil {
		return err
	}
	if !contracts.ValidProblemID(id) {
		return ErrProblemNotFound
	}
	ctx, cancel := context.WithTimeout(ctx, problemCallTimeout)
	defer cancel()
	obs, err := c.problems(ctx)
	if err != nil {
		return err
	}
	name := contracts.ProblemObject(c.tenant, id, "head")
	head, ok, err := readJSON[problemHead](ctx, obs, name)
	if err != nil {
		return err
	}
	if !ok {
		return ErrProblemNotFound
	}
	if err := obs.Delete(ctx, name); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
		return storeError("delete "+name, err)
	}
	if err := c.removeVersions(ctx, obs, id, head.Versions, nil); err != nil {
		c.log.Warn("remove a deleted problem's versions", "tenant", c.tenant, "problem", id, "err", err)
	}
	return nil
}

// resolveProblem pins the version of the problem req names (the current
// one unless the request pins one) and fills the limits the request leaves
// unset from the package's: a rule broken is a ValidationError
// (unknown_problem for a problem or version the tenant does not have).
func (c *Client) resolveProblem(ctx context.Context, req *contracts.ExecutionRequest) error {
	if req.Problem == "" {
		return nil
	}
	v, err := c.problemVersion(ctx, req.Problem, req.ProblemVersion)
	if errors.Is(err, ErrProblemNotFound) {
		field, what := "problem", fmt.Sprintf("no problem %q is stored for this tenant", req.Problem)
		if req.ProblemVersion != "" {
			field, what = "problem_version", fmt.Sprintf("problem %q has no version %s (it was replaced or deleted)", req.Problem, req.ProblemVersion)
		}
		return &contracts.ValidationError{Code: contracts.CodeUnknownProblem, Field: field, Message: what + "; PUT /v1/problems/{id} stores one"}
	}
	if err != nil {
		return err
	}
	req.ProblemVersion = v.Manifest.Version
	req.Limits = contracts.MergeLimits(req.Limits, v.Manifest.Limits)
	return nil
}

// LoadProblem reads version of problem id of tenant in full from obs: the
// package a job that names it runs, its test data checked against the
// hashes of its manifest. A problem or version that is not stored is
// ErrProblemNotFound. Executors call it (through their cache).
func LoadProblem(ctx context.Context, obs jetstream.ObjectStore, tenant, id, version string) (*contracts.ProblemPackage, error) {
	if !contracts.ValidTenant(tenant) || !contracts.ValidProblemID(id) || !contracts.ValidProblemVersion(version) {
		return nil, ErrProblemNotFound
	}
	v, ok, err := readJSON[problemVersion](ctx, obs, contracts.ProblemObject(tenant, id, "versions", version))
	if err != nil {
		return nil, err
	}
	if !ok || v.Manifest.Version != version {
		return nil, ErrProblemNotFound
	}
	pkg := &contracts.ProblemPackage{Checker: v.Checker, Interactor: v.Interactor, Compare: v.Manifest.Compare,
		AbsTolerance: v.Manifest.AbsTolerance, RelTolerance: v.Manifest.RelTolerance, Limits: v.Manifest.Limits}
	if contracts.ProblemHash(id, &v.Manifest, v.Checker, v.Interactor) != version {
		return nil, fmt.Errorf("problem %s version %s: the stored manifest does not match its version", id, version)
	}
	read := map[string]string{}
	blob := func(ref contracts.BlobRef) (string, error) {
		if s, ok := read[ref.SHA256]; ok {
			return s, nil
		}
		data, err := obs.GetBytes(ctx, contracts.ProblemObject(tenant, id, "blobs", ref.SHA256))
		if errors.Is(err, jetstream.ErrObjectNotFound) {
			return "", ErrProblemNotFound
		}
		if err != nil {
			return "", fmt.Errorf("%w: read a test of problem %s: %w", ErrUnavailable, id, err)
		}
		if contracts.SHA256Hex(data) != ref.SHA256 {
			return "", fmt.Errorf("problem %s: a test's data does not match its hash %s", id, ref.SHA256)
		}
		read[ref.SHA256] = string(data)
		return read[ref.SHA256], nil
	}
	for _, t := range v.Manifest.Tests {
		in, err := blob(t.Input)
		if err != nil {
			return nil, err
		}
		tc := contracts.TestCase{Name: t.Name, Args: t.Args, Stdin: in, Points: &t.Points}
		if t.Answer != nil {
			ans, err := blob(*t.Answer)
			if err != nil {
				return nil, err
			}
			tc.ExpectedOutput = &ans
		}
		pkg.Tests = append(pkg.Tests, tc)
	}
	return pkg, nil
}

// readJSON reads object name as JSON; found is false when it is not stored.
func readJSON[T any](ctx context.Context, obs jetstream.ObjectStore, name string) (v T, found bool, err error) {
	data, err := obs.GetBytes(ctx, name)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return v, false, nil
	}
	if err != nil {
		return v, false, fmt.Errorf("%w: read %s: %w", ErrUnavailable, name, err)
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return v, false, fmt.Errorf("decode %s: %w", name, err)
	}
	return v, true, nil
}

func writeJSON(ctx context.Context, obs jetstream.ObjectStore, name string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", name, err)
	}
	if _, err := obs.PutBytes(ctx, name, data); err != nil {
		return storeError("store "+name, err)
	}
	return nil
}
