package executor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/airlockrun/airlock/contracts"
)

// maxDeliveries is the part of the server's advisory the backstop reads.
type maxDeliveries struct {
	Stream     string `json:"stream"`
	Consumer   string `json:"consumer"`
	StreamSeq  uint64 `json:"stream_seq"`
	Deliveries uint64 `json:"deliveries"`
}

// startBackstop handles the MAX_DELIVERIES advisory of the shared consumer,
// a backstop for a job whose last delivery did not end it (its executor
// stopped while RESULTS did not answer, or was killed): a work-queue stream
// keeps such a message for good, and its execution would show running
// until its TTL. The backstop stores internal_error for the execution
// (unless a terminal result is stored already) and then deletes the message
// from JOBS by its stream sequence. The executors share the advisory in a
// queue group: one of them handles each. stop unsubscribes and waits for
// the advisories being handled.
func startBackstop(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, l *lifecycle) (stop func(), err error) {
	jobs, err := js.Stream(ctx, contracts.JobsStream)
	if err != nil {
		return nil, fmt.Errorf("jobs stream: %w", err)
	}
	bctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	sub, err := nc.QueueSubscribe(contracts.ExecutorMaxDeliveriesAdvisory, contracts.ExecutorConsumer, func(m *nats.Msg) {
		var adv maxDeliveries
		if err := json.Unmarshal(m.Data, &adv); err != nil || adv.Stream != contracts.JobsStream ||
			adv.Consumer != contracts.ExecutorConsumer || adv.StreamSeq == 0 {
			return
		}
		wg.Go(func() { l.endUndelivered(bctx, jobs, adv) })
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("subscribe to the max-deliveries advisory: %w", err)
	}
	return func() { _ = sub.Unsubscribe(); cancel(); wg.Wait() }, nil
}

// endUndelivered ends the job at adv's stream sequence: internal_error
// stored, message deleted. A message already gone needs nothing.
func (l *lifecycle) endUndelivered(ctx context.Context, jobs jetstream.Stream, adv maxDeliveries) {
	log := l.log.With("stream_seq", adv.StreamSeq, "deliveries", adv.Deliveries)
	raw, err := jobs.GetMsg(ctx, adv.StreamSeq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return
	}
	if err != nil {
		log.Error("job past its last delivery: read it", "err", err)
		return
	}
	var job contracts.Job
	tenant, ok := l.topo.TenantOfJobSubject(raw.Subject)
	if json.Unmarshal(raw.Data, &job) == nil && contracts.ValidID(job.ID) && ok {
		job.Tenant = tenant
		log = log.With("id", job.ID)
		if ev, err := l.bus.Last(ctx, job.ID, job.ResultToken); err == nil && ev != nil && ev.Exec.Terminal() {
			log.Info("job past its last delivery has a stored result: removing it from the queue")
		} else {
			if job.CreatedAt.IsZero() {
				job.CreatedAt = raw.Time.UTC()
			}
			exec := fail(l.execution(job, int(adv.Deliveries)), fmt.Sprintf(
				"the job was delivered %d times without ending (execution %s)", adv.Deliveries, job.ID))
			log.Error("job past its last delivery: recording internal_error")
			if !l.store(ctx, log, &exec) {
				log.Error("job past its last delivery: internal_error not stored, the job stays in JOBS")
				return
			}
		}
	}
	if err := jobs.DeleteMsg(ctx, adv.StreamSeq); err != nil {
		log.Error("job past its last delivery: remove it from JOBS", "err", err)
	}
}
