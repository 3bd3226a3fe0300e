package executor

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/airlockrun/airlock/contracts"
)

// finish stores the terminal result in RESULTS, then acks the job (or
// terminates it, for an internal_error), both confirmed by the server. The
// result is kept and its publication retried with backoff while the job is
// held in progress, however long RESULTS does not answer: a job is never run
// again because the bus was slow. Only when ctx ends (the shutdown timeout)
// with the result unstored is the job handed back.
func (l *lifecycle) finish(ctx context.Context, msg Delivery, log *slog.Logger, exec contracts.Execution) {
	if !l.store(ctx, log, &exec) {
		l.metrics.errors.WithLabelValues("executor", "publish").Inc()
		log.Error("store result: the executor stops; handing the job back")
		_ = msg.Nak()
		return
	}
	var took time.Duration
	if exec.StartedAt != nil && exec.FinishedAt != nil {
		took = exec.FinishedAt.Sub(*exec.StartedAt)
	}
	l.metrics.finished(exec, took)
	if exec.Verdict == contracts.VerdictInternalError {
		l.term(ctx, msg, log, exec.Message)
		return
	}
	l.ack(ctx, msg, log)
}

// store publishes exec as the job's result until RESULTS confirms it. A
// result too large to store even shortened becomes an internal_error, which
// is stored instead. It gives up (false) only when ctx ends, after one last
// try.
func (l *lifecycle) store(ctx context.Context, log *slog.Logger, exec *contracts.Execution) bool {
	pause := cmp.Or(l.retryFirst, 250*time.Millisecond)
	most := cmp.Or(l.retryMax, 5*time.Second)
	for try := 1; ; try++ {
		err := l.bus.Publish(ctx, *exec, completedMsgID(exec.ID))
		if err == nil {
			return true
		}
		if errors.Is(err, errTooLarge) {
			log.Error("result too large to store: recording internal_error", "err", err)
			*exec = fail(*exec, "the result could not be stored: "+err.Error())
			continue
		}
		if ctx.Err() != nil {
			log.Error("store result", "err", err)
			return false
		}
		if try == 1 || try%10 == 0 {
			log.Warn("store result: retrying while the job is held", "try", try, "err", err)
		}
		select {
		case <-ctx.Done():
			// One last try, in case RESULTS came back in the meantime.
			lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			err = l.bus.Publish(lctx, *exec, completedMsgID(exec.ID))
			cancel()
			if err != nil {
				log.Error("store result", "err", err)
			}
			return err == nil
		case <-time.After(pause):
		}
		pause = min(2*pause, most)
	}
}

// ack acks a job whose result is stored and waits for the server's
// confirmation. A lost ack only makes the job delivered again, and that
// delivery finds the stored result and acks it (see attempt). A NATS node
// going away fails the ack for a moment: it is retried within AckWait.
func (l *lifecycle) ack(ctx context.Context, msg Delivery, log *slog.Logger) {
	l.confirm(ctx, log, "ack job (the result is stored; a redelivery acks it)", msg.DoubleAck)
}

// term ends a job for good and waits for the server's confirmation.
func (l *lifecycle) term(ctx context.Context, msg Delivery, log *slog.Logger, reason string) {
	l.confirm(ctx, log, "terminate job", func(ctx context.Context) error { return msg.Term(ctx, reason) })
}

// confirm sends an acknowledgement until the server confirms it, five times
// at most.
func (l *lifecycle) confirm(ctx context.Context, log *slog.Logger, what string, send func(context.Context) error) {
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		err := send(actx)
		cancel()
		if err == nil {
			return
		}
		if attempt == 5 {
			log.Warn(what, "err", err)
			return
		}
		time.Sleep(time.Duration(attempt) * 500 * time.Millisecond)
	}
}
