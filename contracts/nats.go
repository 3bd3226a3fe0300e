package contracts

import (
	"context"
	"errors"
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
	// IdempotencyBucket holds the idempotency keys' reservations: each
	// names the execution (or evaluation) its key was first used for and a
	// hash of that request (see contracts/client's Reserve).
	IdempotencyBucket = "idempotency"
	// ExecutorConsumer is the one durable pull consumer all executors share;
	// its MaxAckPending is the fleet-wide concurrency cap.
	ExecutorConsumer = "executors"
	// ResultsConsumer is the durable consumer of the results service.
	ResultsConsumer = "results"
	// CallbacksConsumer is the durable consumer on RESULTS that all
	// gateways share to deliver callbacks.
	CallbacksConsumer = "callbacks"
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
	// DuplicateWindow is how long JOBS and RESULTS remember a Nats-Msg-Id
	// (an execution id): a job published twice within it is queued once.
	DuplicateWindow time.Duration
	// ResultTTL is how long an execution stays readable, and how long an
	// idempotency key keeps naming its execution.
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
		// Direct gets by subject: an executor reads the last event of the
		// job it holds ($JS.API.DIRECT.GET.RESULTS.<event subject>), a
		// permission the server can limit to event subjects, unlike a read
		// by sequence.
		AllowDirect: true,
	}
}

// ExecutionsBucketConfig is the KV bucket the API reads executions from.
func (t Topology) ExecutionsBucketConfig() jetstream.KeyValueConfig {
	return t.resultsBucket(ExecutionsBucket, "Airlock executions by id (latest state)")
}

// IdempotencyBucketConfig is the KV bucket of idempotency-key reservations:
// a reservation is created once (never overwritten) and expires with the
// results (ResultTTL).
func (t Topology) IdempotencyBucketConfig() jetstream.KeyValueConfig {
	return t.resultsBucket(IdempotencyBucket, "Airlock idempotency keys: the execution each key names and its request's hash")
}

// resultsBucket is a bucket whose entries live as long as the results.
func (t Topology) resultsBucket(name, description string) jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:      name,
		Description: description,
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

// ExecutorHandBacks is how many deliveries of a job beyond its attempts the
// shared consumer allows for hand-backs: an executor that stops hands its
// running jobs back, and that delivery is not counted as an attempt.
const ExecutorHandBacks = 3

// ExecutorMaxDeliveriesAdvisory is the subject of the server's advisory for
// a job of the executors' consumer that reached MaxDeliver without being
// acked or terminated; the executors handle it as a backstop.
const ExecutorMaxDeliveriesAdvisory = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES." + JobsStream + "." + ExecutorConsumer

// ExecutorConsumerConfig is the executors' shared consumer on JOBS:
// MaxAckPending is the fleet-wide cap on running jobs, and MaxDeliver is one
// delivery more than the attempts (the extra one only records the
// internal_error and terminates the job) plus ExecutorHandBacks.
func (t Topology) ExecutorConsumerConfig(maxInFlight int, ackWait time.Duration, maxAttempts int) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       ExecutorConsumer,
		Description:   "Airlock executors (shared; MaxAckPending is the fleet-wide cap)",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		MaxAckPending: maxInFlight,
		MaxDeliver:    maxAttempts + 1 + ExecutorHandBacks,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
}

// ResultsConsumerConfig is the results service's consumer on RESULTS.
func (t Topology) ResultsConsumerConfig(ackWait time.Duration, maxAckPending int) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       ResultsConsumer,
		Description:   "Airlock results service: status events into the executions bucket",
		AckPolicy:     jetstream.AckExplicitPolicy,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckWait:       ackWait,
		MaxAckPending: maxAckPending,
	}
}

// CallbacksConsumerConfig is the gateways' shared callbacks consumer on
// RESULTS.
func (t Topology) CallbacksConsumerConfig(ackWait time.Duration, maxDeliver int) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       CallbacksConsumer,
		Description:   "Airlock callback deliveries (shared by all gateways)",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		MaxDeliver:    maxDeliver,
		MaxAckPending: 256,
		// A new consumer starts at the present (an existing one keeps its
		// position): its first creation must not replay a day of callbacks.
		DeliverPolicy: jetstream.DeliverNewPolicy,
	}
}

func (t Topology) replicas() int {
	if t.Replicas < 1 {
		return 1
	}
	return t.Replicas
}

// Ensure creates every stream and bucket that does not exist yet and
// reconciles the existing ones with this topology: the objects the role
// given with As owns are changed to these settings (each change logged with
// WithLog), the others are only checked (each difference logged as a
// warning); a difference that cannot be changed in place is an error naming
// the object and the field (see Owner for who owns what). In a cluster that
// is still forming (no JetStream meta leader yet, or another service
// creating the same objects) the calls time out: Ensure retries them until
// ctx ends (up to EnsureTimeout when ctx has no deadline).
func (t Topology) Ensure(ctx context.Context, js jetstream.JetStream, opts ...EnsureOption) error {
	o := newEnsureOptions(opts)
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, EnsureTimeout)
		defer cancel()
	}
	for attempt := 1; ; attempt++ {
		err := t.ensureOnce(ctx, js, o)
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

func (t Topology) ensureOnce(ctx context.Context, js jetstream.JetStream, o ensureOptions) error {
	call := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, 10*time.Second) }
	for _, sc := range []jetstream.StreamConfig{t.JobsStreamConfig(), t.ResultsStreamConfig()} {
		cctx, cancel := call()
		err := o.ensureStream(cctx, js, sc)
		cancel()
		if err != nil {
			return err
		}
	}
	for _, kc := range []jetstream.KeyValueConfig{t.ExecutionsBucketConfig(), t.ExecutorsBucketConfig(), t.IdempotencyBucketConfig(), t.KeysBucketConfig()} {
		cctx, cancel := call()
		err := o.ensureBucket(cctx, js, kc)
		cancel()
		if err != nil {
			return err
		}
	}
	return nil
}
