package executor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/airlockrun/airlock/contracts"
)

// eventBus is where the lifecycle records a job's events: the RESULTS
// stream; natsBus is the real one. Every method is safe for concurrent use.
type eventBus interface {
	// Publish stores exec as an event of its execution and returns once the
	// stream confirmed it. A repeat of msgID within the stream's
	// de-duplication window is confirmed and dropped. An error wrapping
	// errTooLarge will not go away by retrying.
	Publish(ctx context.Context, exec contracts.Execution, msgID string) error
	// PublishAsync publishes without waiting for the confirmation; the
	// returned function waits for it (ten seconds at most).
	PublishAsync(exec contracts.Execution, msgID string) (wait func() error)
	// Last returns the last stored event of execution id (nil: none).
	Last(ctx context.Context, id, token string) (*event, error)
}

// event is a stored status event and the message id it was published with.
type event struct {
	Exec  contracts.Execution
	MsgID string
}

// errTooLarge: the result does not fit in a NATS message even shortened.
var errTooLarge = errors.New("result too large")

// natsBus publishes to RESULTS through JetStream.
type natsBus struct {
	js      jetstream.JetStream
	results jetstream.Stream
	topo    contracts.Topology
	// maxPayload is the largest result published: the NATS server's
	// max_payload or the topology's MaxResultBytes, the smaller.
	maxPayload int64
}

var _ eventBus = (*natsBus)(nil)

func newNATSBus(ctx context.Context, js jetstream.JetStream, topo contracts.Topology, maxPayload int64) (*natsBus, error) {
	results, err := js.Stream(ctx, contracts.ResultsStream)
	if err != nil {
		return nil, fmt.Errorf("results stream: %w", err)
	}
	return &natsBus{js: js, results: results, topo: topo, maxPayload: maxPayload}, nil
}

func (b *natsBus) encode(exec contracts.Execution) ([]byte, error) {
	data, err := json.Marshal(exec)
	if err != nil {
		return nil, fmt.Errorf("encode execution: %w", err)
	}
	if b.maxPayload > 0 && int64(len(data)) > b.maxPayload {
		return shrink(exec, b.maxPayload)
	}
	return data, nil
}

func (b *natsBus) Publish(ctx context.Context, exec contracts.Execution, msgID string) error {
	data, err := b.encode(exec)
	if err != nil {
		return err
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_, err = b.js.PublishMsg(pctx, b.topo.EventMsg(exec.ID, exec.ResultToken, data), jetstream.WithMsgID(msgID))
	return err
}

func (b *natsBus) PublishAsync(exec contracts.Execution, msgID string) func() error {
	data, err := b.encode(exec)
	var ack jetstream.PubAckFuture
	if err == nil {
		ack, err = b.js.PublishMsgAsync(b.topo.EventMsg(exec.ID, exec.ResultToken, data), jetstream.WithMsgID(msgID))
	}
	if err != nil {
		return func() error { return err }
	}
	return func() error {
		select {
		case <-ack.Ok():
			return nil
		case err := <-ack.Err():
			return err
		case <-time.After(10 * time.Second):
			return errors.New("no acknowledgement within 10 s")
		}
	}
}

// errNoDirectGet: RESULTS was created without direct gets (by a gateway of
// an earlier release), and the executor may read events only that way.
var errNoDirectGet = errors.New("RESULTS allows no direct get (the gateway turns it on at its next start)")

// Last is the last event of execution id that carries token (the job's
// result token): an event without it was not published by the job's
// gateway or executors, and counts as none.
func (b *natsBus) Last(ctx context.Context, id, token string) (*event, error) {
	if info := b.results.CachedInfo(); info == nil || !info.Config.AllowDirect {
		return nil, errNoDirectGet
	}
	msg, err := b.results.GetLastMsgForSubject(ctx, b.topo.EventSubject(id))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if token == "" || msg.Header.Get(contracts.ResultTokenHeader) != token {
		return nil, nil
	}
	ev := &event{MsgID: msg.Header.Get(jetstream.MsgIDHeader)}
	if err := json.Unmarshal(msg.Data, &ev.Exec); err != nil {
		return nil, fmt.Errorf("decode event of %s: %w", id, err)
	}
	return ev, nil
}

// shrink shortens the stored outputs of an execution whose JSON would not fit
// in one result (the smaller of the NATS payload limit and the topology's
// MaxResultBytes): every stdout and stderr is cut to an equal share of the
// budget (an output file's content and a checker's message too), each stage
// cut is marked truncated, and the message says so.
// Verdicts and measurements stay.
func shrink(exec contracts.Execution, maxPayload int64) ([]byte, error) {
	type stream struct {
		text   *string
		base64 bool // an output file's bytes in base64: cut on a 4-character boundary
		stage  *contracts.Stage
	}
	var streams []stream
	// add copies what the stage points to (the original stays whole) and
	// adds its outputs: stdout, stderr and the output files' contents.
	add := func(st *contracts.Stage) {
		streams = append(streams, stream{text: &st.Stdout, stage: st}, stream{text: &st.Stderr, stage: st})
		st.Files = append([]contracts.OutputFile(nil), st.Files...)
		for i := range st.Files {
			streams = append(streams, stream{text: &st.Files[i].Content, base64: st.Files[i].Encoding == "base64", stage: st})
		}
	}
	if exec.Compile != nil {
		c := *exec.Compile
		exec.Compile = &c
		add(exec.Compile)
	}
	if exec.Run != nil {
		r := *exec.Run
		exec.Run = &r
		add(exec.Run)
	}
	exec.Tests = append([]contracts.TestResult(nil), exec.Tests...)
	for i := range exec.Tests {
		t := &exec.Tests[i]
		add(&t.Stage)
		// The checker's message is the test's to shorten too.
		streams = append(streams, stream{text: &t.CheckerMessage, stage: &t.Stage})
		if t.Interactor != nil {
			in := *t.Interactor
			t.Interactor = &in
			add(t.Interactor)
		}
	}
	// JSON escaping can grow a byte up to six times (\u00XX).
	share := int(maxPayload/2) / max(len(streams), 1) / 6
	for _, s := range streams {
		if len(*s.text) <= share {
			continue
		}
		if s.base64 {
			*s.text = (*s.text)[:share/4*4]
		} else {
			*s.text = strings.ToValidUTF8((*s.text)[:share], "")
		}
		s.stage.Truncated = true
	}
	note := "outputs were shortened to fit the result size limit"
	if exec.Message == "" {
		exec.Message = note
	} else {
		exec.Message += "; " + note
	}
	data, err := json.Marshal(exec)
	if err != nil {
		return nil, fmt.Errorf("encode execution: %w", err)
	}
	if int64(len(data)) > maxPayload {
		return nil, fmt.Errorf("execution result of %d bytes does not fit in %d: %w", len(data), maxPayload, errTooLarge)
	}
	return data, nil
}
