package runner

import (
	"context"
	"io"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/services/executor/internal/sandbox"
	"github.com/airlockrun/airlock/services/executor/sandboxinit"
)

// relay carries one direction of an interactive test: what one sandbox's
// program writes to its stdout (the collector's tee, within that program's
// output cap, so the buffer is bounded by it) until the other sandbox's
// stdin feeder reads it. Write never blocks: a program that writes what the
// other does not read fills only its own output cap. The host copies the
// bytes and never looks at them.
type relay struct {
	mu      sync.Mutex
	buf     []byte
	closed  bool // no more writes: the reader gets io.EOF once buf is drained
	dropped bool // the reader is gone: writes are discarded
	wake    chan struct{}
}

func newRelay() *relay { return &relay{wake: make(chan struct{}, 1)} }

// Write appends b (a tee callback: b is not kept).
func (p *relay) Write(b []byte) {
	p.mu.Lock()
	if !p.closed && !p.dropped {
		p.buf = append(p.buf, b...)
	}
	p.mu.Unlock()
	p.signal()
}

// Close ends the stream: the writing program is gone.
func (p *relay) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.signal()
}

// Drop discards what is buffered and what comes: the reading program is
// gone. It also ends any Read under way.
func (p *relay) Drop() {
	p.mu.Lock()
	p.dropped, p.closed, p.buf = true, true, nil
	p.mu.Unlock()
	p.signal()
}

func (p *relay) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Read blocks until bytes are buffered or the stream is closed (one reader).
func (p *relay) Read(b []byte) (int, error) {
	for {
		p.mu.Lock()
		if len(p.buf) > 0 {
			n := copy(b, p.buf)
			p.buf = p.buf[n:]
			p.mu.Unlock()
			return n, nil
		}
		if p.closed {
			p.mu.Unlock()
			return 0, io.EOF
		}
		p.mu.Unlock()
		<-p.wake
	}
}

// interaction is the outcome of one interactive test.
type interaction struct {
	CheckerResult
	program, interactor contracts.Stage
	pidsHit             bool
}

// interact runs one test's program (prog, a run spec) and the interactor
// together, each in its own sandbox with its own limits, the program's
// stdout relayed to the interactor's stdin and the interactor's stdout to
// the program's stdin, as the bytes come. The interactor gets argv
// input.txt output.txt (and answer.txt when the test has an expected
// output) and may write output.txt, which chk then judges when there is a
// checker. InteractiveVerdict decides the test.
func (r *Runner) interact(ctx context.Context, id, tenant string, ic, chk *checker, tc contracts.TestCase, prog sandbox.Spec,
	finish func(sandbox.Spec, sandbox.Outcome) (contracts.Stage, error), ran func(sandbox.Outcome)) (interaction, error) {
	names, contents := []string{"input.txt"}, [][]byte{[]byte(tc.Stdin)}
	if tc.ExpectedOutput != nil {
		names, contents = append(names, "answer.txt"), append(contents, []byte(*tc.ExpectedOutput))
	}
	files, err := withFiles(ic.files, names, contents)
	if err != nil {
		return interaction{}, err
	}
	argv := append(ic.lang.Expand(ic.lang.Run, ic.names), "input.txt", "output.txt")
	if tc.ExpectedOutput != nil {
		argv = append(argv, "answer.txt")
	}
	toInteractor, toProgram := newRelay(), newRelay()
	prog.Stdin, prog.StdinStream, prog.StdoutTee = nil, toProgram, toInteractor.Write
	inter := sandbox.Spec{
		JobID: id, Stage: "interactor", Image: ic.lang.Image,
		Isolation: ic.mode, OCIRuntime: ic.runtime, Tenant: tenant,
		Argv: argv, Env: ic.lang.FullEnv, Files: files,
		StdinStream: toInteractor, StdoutTee: toProgram.Write,
		CPUTime:     ms(ic.limits.CPUTimeMS),
		WallTime:    ms(ic.limits.WallTimeMS),
		MemoryBytes: ic.limits.MemoryMB << 20,
		Processes:   ic.limits.Processes,
		OutputBytes: ic.limits.OutputBytes,
		OutputFiles: []string{"output.txt"},
		CollectMax:  sandboxinit.OutputFilesTarMax(ic.limits.OutputBytes, 1),
	}
	var (
		wg                       sync.WaitGroup
		progOut, interOut        sandbox.Outcome
		progErr, interErr        error
		progEnded, interEnded    time.Time
		progStage, interactStage contracts.Stage
	)
	wg.Add(2)
	go func() {
		defer wg.Done()
		progOut, progErr = r.sb.Run(ctx, prog)
		progEnded = time.Now()
		// The interactor reads the end of its input; what it still writes
		// goes nowhere.
		toInteractor.Close()
		toProgram.Drop()
	}()
	go func() {
		defer wg.Done()
		interOut, interErr = r.sb.Run(ctx, inter)
		interEnded = time.Now()
		toProgram.Close()
		toInteractor.Drop()
	}()
	wg.Wait()
	if progErr != nil {
		return interaction{}, progErr
	}
	if interErr != nil {
		return interaction{}, interErr
	}
	if progStage, err = finish(prog, progOut); err != nil {
		return interaction{}, err
	}
	if interactStage, err = finish(inter, interOut); err != nil {
		return interaction{}, err
	}
	res := interaction{program: progStage, interactor: interactStage, pidsHit: progOut.ProcessLimitHit}
	first := interEnded.Before(progEnded)
	res.CheckerResult = InteractiveVerdict(progOut, prog.CPUTime, interOut, inter.CPUTime, first, tc.TestPoints())
	if res.Verdict == contracts.VerdictAccepted && chk != nil {
		// The checker judges output.txt as the interactor wrote it.
		var output string
		for _, f := range interactStage.Files {
			if f.Name == "output.txt" {
				data, _ := contracts.DecodeFile(contracts.File{Name: f.Name, Content: f.Content, Encoding: f.Encoding})
				output = string(data)
			}
		}
		if res.CheckerResult, err = r.runChecker(ctx, id, tenant, chk, tc, output, ran); err != nil {
			return interaction{}, err
		}
	}
	return res, nil
}

// InteractiveVerdict decides an interactive test from the program's and the
// interactor's outcomes (both measured by the host and the kernel) and
// whether the interactor's sandbox ended first:
//  1. the program's time_limit_exceeded (CPU or wall: waiting forever for
//     input is one) or memory_limit_exceeded, unless the interactor had
//     already ended with a non-zero exit code;
//  2. the interactor's verdict when it did not exit 0, mapped as a
//     checker's; an interactor killed by a broken pipe (the program left
//     early) is wrong_answer, not judge_error;
//  3. the program's runtime_error or output_limit_exceeded, except a
//     program killed by a broken pipe after the interactor decided, which
//     takes the interactor's verdict;
//  4. accepted, with the test's points (a checker may judge it further).
func InteractiveVerdict(prog sandbox.Outcome, progCPU time.Duration, inter sandbox.Outcome, interCPU time.Duration, interFirst bool, points float64) CheckerResult {
	pv := Verdict(prog, progCPU)
	var iv CheckerResult
	if inter.Signal == int(unix.SIGPIPE) && Verdict(inter, interCPU) == contracts.VerdictRuntimeError {
		iv = CheckerResult{Verdict: contracts.VerdictWrongAnswer, Message: capMessage("the interactor's output pipe broke: the program left early\n" + string(inter.Stderr))}
	} else {
		iv = CheckerVerdict(inter, interCPU, points)
	}
	interFailed := iv.Verdict != contracts.VerdictAccepted
	switch {
	case (pv == contracts.VerdictTimeLimitExceeded || pv == contracts.VerdictMemoryLimitExceeded) && !(interFirst && interFailed):
		return CheckerResult{Verdict: pv, Message: iv.Message}
	case interFailed:
		return iv
	case pv != contracts.VerdictAccepted && !(prog.Signal == int(unix.SIGPIPE) && interFirst):
		return CheckerResult{Verdict: pv, Message: iv.Message}
	}
	return iv
}
