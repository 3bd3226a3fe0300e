package contracts

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Names of the JetStream objects. They are fixed; the subject prefix is not.
const (
	JobsStream       = "JOBS"
	ResultsStream    = "RESULTS"
	ExecutionsBucket = "executions"
	ExecutorsBucket  = "executors"
	// ExecutorConsumer is the one durable pull consumer all executors share;
	// its MaxAckPending is the fleet-wide concurrency cap.
	ExecutorConsumer = "executors"
	// ResultsConsumer is the durable consumer of the results service.
	ResultsConsumer = "results"
	// DefaultTenant is the tenant of anonymous submissions.
	DefaultTenant = "default"
)

// ErrCodeQueueFull is the JetStream API error code for a publish refused by a
// stream at MaxMsgs with DiscardNew.
const ErrCodeQueueFull = 10077

// IsQueueFull reports whether a publish failed because the JOBS stream is
// full, for everyone or (see IsTenantQueueFull) for one tenant. The server
// gives every store failure the same code (a closed store, a message too
// large for it, a full disk): only a bound the stream reached is "full".
func IsQueueFull(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == ErrCodeQueueFull &&
		(strings.Contains(apiErr.Description, "maximum messages") || strings.Contains(apiErr.Description, "maximum bytes"))
}

// IsMessageTooLarge reports whether a publish failed because the message is
// larger than the stream or its store takes.
func IsMessageTooLarge(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == errCodeMessageExceedsMaximum ||
		apiErr.ErrorCode == ErrCodeQueueFull && strings.Contains(apiErr.Description, "message too large"))
}

// errCodeMessageExceedsMaximum is the JetStream API error code for a message
// over the stream's maximum message size.
const errCodeMessageExceedsMaximum = 10054

// IsTenantQueueFull reports whether a publish failed because the tenant's own
// subject reached TenantQueueMax (the server uses the same code as for a full
// stream and says "per subject" in the description).
func IsTenantQueueFull(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == ErrCodeQueueFull &&
		strings.Contains(apiErr.Description, "per subject")
}

// Topology is the shape of Airlock's JetStream objects: every service is
// given the same one.
type Topology struct {
	// Prefix starts every subject (default "airlock").
	Prefix string
	// QueueMax bounds the JOBS stream (queued plus running jobs).
	QueueMax int64
	// TenantQueueMax bounds one tenant's queued plus running jobs (its own
	// subject), so one client cannot fill the queue for everyone; 0: no bound.
	TenantQueueMax int64
	// DuplicateWindow is how long a Nats-Msg-Id (and so an Idempotency-Key) is remembered.
	DuplicateWindow time.Duration
	// ResultTTL is how long an execution stays readable.
	ResultTTL time.Duration
	// HeartbeatTTL is how long an executor counts as alive after its last beat.
	HeartbeatTTL time.Duration
	// Replicas is the JetStream replica count (1 on a laptop, 3 in a fleet).
	Replicas int
}

// DefaultTopology is the topology used unless configured.
func DefaultTopology() Topology {
	return Topology{
		Prefix:          "airlock",
		QueueMax:        10000,
		DuplicateWindow: 10 * time.Minute,
		ResultTTL:       24 * time.Hour,
		HeartbeatTTL:    15 * time.Second,
		Replicas:        1,
	}
}

var tenantRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidTenant reports whether name can be a tenant: it becomes a subject token.
func ValidTenant(name string) bool { return tenantRE.MatchString(name) }

// JobSubject is the subject a tenant's jobs are published on.
func (t Topology) JobSubject(tenant string) string {
	if tenant == "" {
		tenant = DefaultTenant
	}
	return t.Prefix + ".jobs." + tenant
}

// EventSubject is the subject of status events for one execution.
func (t Topology) EventSubject(id string) string { return t.Prefix + ".events." + id }

// JobsStreamConfig is the JOBS work queue: file storage, bounded, DiscardNew
// (a full queue refuses new jobs; it never drops queued ones).
func (t Topology) JobsStreamConfig() jetstream.StreamConfig {
	sc := jetstream.StreamConfig{
		Name:        JobsStream,
		Description: "Airlock jobs waiting for an executor (work queue)",
		Subjects:    []string{t.Prefix + ".jobs.>"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Discard:     jetstream.DiscardNew,
		MaxMsgs:     t.QueueMax,
		Duplicates:  t.DuplicateWindow,
		Replicas:    t.replicas(),
	}
	if t.TenantQueueMax > 0 {
		sc.MaxMsgsPerSubject = t.TenantQueueMax
		sc.DiscardNewPerSubject = true
	}
	return sc
}

// ResultsStreamConfig is the RESULTS stream of status events; it keeps events
// for the result TTL so that nothing is lost while the results service is down.
func (t Topology) ResultsStreamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        ResultsStream,
		Description: "Airlock execution status events (queued, running, completed)",
		Subjects:    []string{t.Prefix + ".events.>"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Discard:     jetstream.DiscardOld,
		MaxAge:      t.ResultTTL,
		Duplicates:  t.DuplicateWindow,
		Replicas:    t.replicas(),
	}
}

// ExecutionsBucketConfig is the KV bucket the API reads executions from.
func (t Topology) ExecutionsBucketConfig() jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:      ExecutionsBucket,
		Description: "Airlock executions by id (latest state)",
		TTL:         t.ResultTTL,
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    t.replicas(),
	}
}

// ExecutorsBucketConfig is the KV bucket of executor heartbeats.
func (t Topology) ExecutorsBucketConfig() jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:      ExecutorsBucket,
		Description: "Airlock live executors (heartbeats)",
		TTL:         t.HeartbeatTTL,
		History:     1,
		// File storage: a memory bucket vanishes when the NATS server
		// restarts, and every gateway would then see no executor at all.
		Storage:  jetstream.FileStorage,
		Replicas: t.replicas(),
	}
}

func (t Topology) replicas() int {
	if t.Replicas < 1 {
		return 1
	}
	return t.Replicas
}

// Ensure creates every stream and bucket that does not exist yet. It never
// changes an existing one (see ApplyJobs), so services started with slightly
// different settings do not fight. In a cluster that is still forming (no
// JetStream meta leader yet, or another service creating the same objects)
// the calls time out: Ensure retries them until ctx ends (up to
// EnsureTimeout when ctx has no deadline).
func (t Topology) Ensure(ctx context.Context, js jetstream.JetStream) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, EnsureTimeout)
		defer cancel()
	}
	for attempt := 1; ; attempt++ {
		err := t.ensureOnce(ctx, js)
		if err == nil || !transient(err) || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(min(time.Duration(attempt)*250*time.Millisecond, 2*time.Second)):
		}
	}
}

// EnsureTimeout bounds Ensure's retries when its context has no deadline.
const EnsureTimeout = 2 * time.Minute

// transient reports errors worth retrying: the cluster is not ready, or a
// request timed out.
func transient(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrJetStreamNotEnabled) ||
		strings.Contains(err.Error(), "no suitable peers") || strings.Contains(err.Error(), "insufficient resources")
}

func (t Topology) ensureOnce(ctx context.Context, js jetstream.JetStream) error {
	call := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, 10*time.Second) }
	for _, sc := range []jetstream.StreamConfig{t.JobsStreamConfig(), t.ResultsStreamConfig()} {
		cctx, cancel := call()
		_, err := js.Stream(cctx, sc.Name)
		if err == nil {
			cancel()
			continue
		}
		if !errors.Is(err, jetstream.ErrStreamNotFound) {
			cancel()
			return fmt.Errorf("look up stream %s: %w", sc.Name, err)
		}
		_, err = js.CreateStream(cctx, sc)
		cancel()
		if err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return fmt.Errorf("create stream %s: %w", sc.Name, err)
		}
	}
	for _, kc := range []jetstream.KeyValueConfig{t.ExecutionsBucketConfig(), t.ExecutorsBucketConfig()} {
		cctx, cancel := call()
		_, err := js.KeyValue(cctx, kc.Bucket)
		if err == nil {
			cancel()
			continue
		}
		if !errors.Is(err, jetstream.ErrBucketNotFound) {
			cancel()
			return fmt.Errorf("look up bucket %s: %w", kc.Bucket, err)
		}
		_, err = js.CreateKeyValue(cctx, kc)
		cancel()
		if err != nil && !errors.Is(err, jetstream.ErrBucketExists) {
			return fmt.Errorf("create bucket %s: %w", kc.Bucket, err)
		}
	}
	return nil
}

// ApplyJobs updates the JOBS stream to this topology's settings (the gateway
// owns them: queue bound and duplicate window).
func (t Topology) ApplyJobs(ctx context.Context, js jetstream.JetStream) error {
	if _, err := js.CreateOrUpdateStream(ctx, t.JobsStreamConfig()); err != nil {
		return fmt.Errorf("update stream %s: %w", JobsStream, err)
	}
	return nil
}
