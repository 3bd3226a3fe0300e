package contracts

import (
	"context"
	"errors"
	"math"
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

// JetStream API error codes of a refused publish. The server answers every
// failure of the stream's store with ErrCodeStoreFailed and says which in
// the description (the store's error text): a bound the stream reached, a
// message too large, a closed store. The classifications below tell them
// apart; each is tested against the real server (nats_test.go), so a server
// that words them differently fails the tests, not the fleet.
const (
	// ErrCodeStoreFailed is "storing the message failed" (JSStreamStoreFailedF).
	ErrCodeStoreFailed = 10077
	// ErrCodeQueueFull is the code of a publish refused by a stream at its
	// MaxMsgs or MaxBytes with DiscardNew: the store-failure code.
	ErrCodeQueueFull = ErrCodeStoreFailed
	// errCodeMessageExceedsMaximum: a message over the stream's MaxMsgSize.
	errCodeMessageExceedsMaximum = 10054
	// errCodeAccountResourcesExceeded: the account's JetStream limits are used up.
	errCodeAccountResourcesExceeded = 10002
	// errCodeInsufficientResources: the server's JetStream store is used up.
	errCodeInsufficientResources = 10023
	// errCodeStorageResourcesExceeded: no storage left for the request.
	errCodeStorageResourcesExceeded = 10047
)

// The store's own words for a bound a DiscardNew stream reached (the
// nats-server store errors ErrMaxMsgs, ErrMaxBytes, ErrMaxMsgsPerSubject)
// and for a message larger than the store takes (ErrMsgTooLarge).
const (
	storeMaxMsgs           = "maximum messages exceeded"
	storeMaxBytes          = "maximum bytes exceeded"
	storeMaxMsgsPerSubject = "maximum messages per subject exceeded"
	storeMsgTooLarge       = "message too large"
)

func apiError(err error) (*jetstream.APIError, bool) {
	var apiErr *jetstream.APIError
	ok := errors.As(err, &apiErr)
	return apiErr, ok
}

// IsQueueFull reports whether a publish failed because the JOBS stream is
// full — its MaxMsgs or MaxBytes — for everyone or (see IsTenantQueueFull)
// for one tenant. Other store failures (a closed store, a message too large,
// a store out of resources) are not a full queue: see IsMessageTooLarge and
// IsStoreUnavailable.
func IsQueueFull(err error) bool {
	e, ok := apiError(err)
	return ok && e.ErrorCode == ErrCodeStoreFailed &&
		(strings.Contains(e.Description, storeMaxMsgs) || strings.Contains(e.Description, storeMaxBytes) ||
			strings.Contains(e.Description, storeMaxMsgsPerSubject))
}

// IsTenantQueueFull reports whether a publish failed because the tenant's own
// subject reached TenantQueueMax.
func IsTenantQueueFull(err error) bool {
	e, ok := apiError(err)
	return ok && e.ErrorCode == ErrCodeStoreFailed && strings.Contains(e.Description, storeMaxMsgsPerSubject)
}

// IsMessageTooLarge reports whether a publish failed because the message is
// larger than the stream or its store takes. (A message over the server's
// max_payload fails in the client, as nats.ErrMaxPayload.)
func IsMessageTooLarge(err error) bool {
	e, ok := apiError(err)
	return ok && (e.ErrorCode == errCodeMessageExceedsMaximum ||
		e.ErrorCode == ErrCodeStoreFailed && strings.Contains(e.Description, storeMsgTooLarge))
}

// IsStoreUnavailable reports whether a publish failed because JetStream
// could not store it for a reason of its own: the store is closed or
// failing, or the server's or the account's storage is used up. It is not
// the client's doing and not a bound of the stream; it passes when the
// operator acts (docs/operations.md, "Storage").
func IsStoreUnavailable(err error) bool {
	e, ok := apiError(err)
	if !ok {
		return false
	}
	switch e.ErrorCode {
	case errCodeAccountResourcesExceeded, errCodeInsufficientResources, errCodeStorageResourcesExceeded:
		return true
	case ErrCodeStoreFailed:
		return !IsQueueFull(err) && !IsMessageTooLarge(err)
	}
	return false
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

	// The executors' shared consumer (ExecutorConsumerConfig): settings of
	// the fleet, not of one executor. The gateway owns them (see Owner);
	// an executor creates the consumer when it is missing and otherwise
	// follows what is there.

	// MaxInFlight is the fleet-wide cap on running jobs (MaxAckPending).
	MaxInFlight int
	// AckWait is how long a job may go without a heartbeat before it is
	// delivered again; running jobs send InProgress every AckWait/3.
	AckWait time.Duration
	// MaxAttempts is how often a job is tried before it ends as
	// internal_error (MaxDeliver is one more).
	MaxAttempts int

	// Storage bounds, in bytes (0: the default, -1: no bound). A bound makes
	// one stream or bucket refuse or drop its own data instead of filling
	// the JetStream store, where every stream would fail together
	// (docs/operations.md, "Storage").

	// QueueMaxBytes bounds the JOBS stream's size; a full stream answers
	// like QueueMax (429 queue_full).
	QueueMaxBytes int64
	// ResultsMaxBytes bounds the RESULTS stream; at the bound the oldest
	// events go first (the results service has stored them by then).
	ResultsMaxBytes int64
	// ExecutionsMaxBytes bounds the executions bucket; at the bound it
	// refuses new results until old ones expire (ResultTTL).
	ExecutionsMaxBytes int64
	// ExecutorsMaxBytes bounds the executors bucket (heartbeats).
	ExecutorsMaxBytes int64
	// EvaluationsMaxBytes bounds the evaluations bucket.
	EvaluationsMaxBytes int64
	// ProblemsMaxBytes bounds the problems object store (every tenant's
	// problem packages).
	ProblemsMaxBytes int64
	// MaxResultBytes bounds one stored result (an execution's JSON):
	// executors shorten the outputs of a larger one (the stages' truncated
	// flags say so), and the RESULTS stream and the executions bucket refuse
	// a message over it plus ResultHeadroom.
	MaxResultBytes int64
}

// ResultHeadroom is what the RESULTS stream and the executions bucket take
// beyond MaxResultBytes: the outcome of a callback that the results service
// merges into a stored result.
const ResultHeadroom = 64 << 10

// DefaultTopology is the topology used unless configured.
func DefaultTopology() Topology {
	return Topology{
		Prefix:          "airlock",
		QueueMax:        10000,
		DuplicateWindow: 10 * time.Minute,
		ResultTTL:       24 * time.Hour,
		HeartbeatTTL:    15 * time.Second,
		Replicas:        1,
		MaxInFlight:     256,
		AckWait:         30 * time.Second,
		MaxAttempts:     3,

		QueueMaxBytes:       1 << 30,
		ResultsMaxBytes:     2 << 30,
		ExecutionsMaxBytes:  4 << 30,
		ExecutorsMaxBytes:   16 << 20,
		EvaluationsMaxBytes: 1 << 30,
		ProblemsMaxBytes:    ProblemMaxBytesDefault,
		MaxResultBytes:      4 << 20,
	}
}

// WithDefaults fills every zero setting but TenantQueueMax (whose zero means
// no bound) from DefaultTopology. Every service calls it, so that all of them
// want the same objects; a storage bound of -1 stays unbounded.
func (t Topology) WithDefaults() Topology {
	d := DefaultTopology()
	orDefault(&t.Prefix, d.Prefix)
	orDefault(&t.QueueMax, d.QueueMax)
	orDefault(&t.DuplicateWindow, d.DuplicateWindow)
	orDefault(&t.ResultTTL, d.ResultTTL)
	orDefault(&t.HeartbeatTTL, d.HeartbeatTTL)
	orDefault(&t.Replicas, d.Replicas)
	orDefault(&t.MaxInFlight, d.MaxInFlight)
	orDefault(&t.AckWait, d.AckWait)
	orDefault(&t.MaxAttempts, d.MaxAttempts)
	orDefault(&t.QueueMaxBytes, d.QueueMaxBytes)
	orDefault(&t.ResultsMaxBytes, d.ResultsMaxBytes)
	orDefault(&t.ExecutionsMaxBytes, d.ExecutionsMaxBytes)
	orDefault(&t.ExecutorsMaxBytes, d.ExecutorsMaxBytes)
	orDefault(&t.EvaluationsMaxBytes, d.EvaluationsMaxBytes)
	orDefault(&t.ProblemsMaxBytes, d.ProblemsMaxBytes)
	orDefault(&t.MaxResultBytes, d.MaxResultBytes)
	return t
}

func orDefault[T comparable](field *T, def T) {
	var zero T
	if *field == zero {
		*field = def
	}
}

// StoreBytes is the file storage the topology's bounds reserve in
// JetStream for one replica: the sum of the MaxBytes of every stream and
// bucket (an unbounded one counts nothing). An account's JetStream limit
// must hold it times the replicas.
func (t Topology) StoreBytes() int64 {
	var sum int64
	for _, b := range []int64{t.QueueMaxBytes, t.ResultsMaxBytes, t.ExecutionsMaxBytes, t.ExecutorsMaxBytes, t.EvaluationsMaxBytes, t.ProblemsMaxBytes,
		t.IdempotencyBucketConfig().MaxBytes, t.KeysBucketConfig().MaxBytes} {
		sum += max(b, 0)
	}
	return sum
}

// maxResultMsg is the largest message the RESULTS stream and the
// executions bucket take (0: no bound).
func (t Topology) maxResultMsg() int32 {
	if t.MaxResultBytes <= 0 {
		return 0
	}
	return int32(min(t.MaxResultBytes+ResultHeadroom, math.MaxInt32))
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
		MaxBytes:    t.QueueMaxBytes,
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
		MaxBytes:    t.ResultsMaxBytes,
		MaxMsgSize:  t.maxResultMsg(),
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
	kc := t.resultsBucket(ExecutionsBucket, "Airlock executions by id (latest state)")
	kc.MaxBytes, kc.MaxValueSize = t.ExecutionsMaxBytes, t.maxResultMsg()
	return kc
}

// IdempotencyBucketConfig is the KV bucket of idempotency-key reservations:
// a reservation is created once (never overwritten) and expires with the
// results (ResultTTL).
func (t Topology) IdempotencyBucketConfig() jetstream.KeyValueConfig {
	kc := t.resultsBucket(IdempotencyBucket, "Airlock idempotency keys: the execution each key names and its request's hash")
	// A reservation is a few hundred bytes: an eighth of the executions'
	// bound holds far more keys than the executions it can hold.
	kc.MaxBytes = -1
	if t.ExecutionsMaxBytes > 0 {
		kc.MaxBytes = t.ExecutionsMaxBytes / 8
	}
	kc.MaxValueSize = 4 << 10
	return kc
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
		MaxBytes: t.ExecutorsMaxBytes,
		Replicas: t.replicas(),
	}
}

// ExecutorHandBacks is how many deliveries of a job beyond its attempts the
// shared consumer allows for hand-backs: an executor that stops hands its
// running jobs back, and that delivery is not counted as an attempt.
const ExecutorHandBacks = 3

// ExecutorPasses is how many deliveries of a job beyond its attempts and
// hand-backs the shared consumer allows for passes: an executor that does
// not serve a job's runtime passes it back (a delayed Nak, not counted as an
// attempt) for one that does. At the executors' longest pass delay (5 s)
// they last about half an hour; a job still not taken then ends at its last
// delivery (docs/operations.md, "Routing by runtime").
const ExecutorPasses = 360

// executorSpareDeliveries are the deliveries of a job beyond its attempts:
// the one that records internal_error, the hand-backs and the passes.
const executorSpareDeliveries = 1 + ExecutorHandBacks + ExecutorPasses

// ExecutorMaxDeliveriesAdvisory is the subject of the server's advisory for
// a job of the executors' consumer that reached MaxDeliver without being
// acked or terminated; the executors handle it as a backstop.
const ExecutorMaxDeliveriesAdvisory = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES." + JobsStream + "." + ExecutorConsumer

// ExecutorConsumerConfig is the executors' shared consumer on JOBS:
// MaxAckPending is the fleet-wide cap on running jobs (MaxInFlight), and
// MaxDeliver is one delivery more than the attempts (the extra one only
// records the internal_error and terminates the job) plus ExecutorHandBacks
// and ExecutorPasses.
func (t Topology) ExecutorConsumerConfig() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       ExecutorConsumer,
		Description:   "Airlock executors (shared; MaxAckPending is the fleet-wide cap)",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       t.AckWait,
		MaxAckPending: t.MaxInFlight,
		MaxDeliver:    t.MaxAttempts + executorSpareDeliveries,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
}

// WithConsumer returns t with the executors' consumer settings: the
// fleet-wide cap, the ack wait and the attempts.
func (t Topology) WithConsumer(maxInFlight int, ackWait time.Duration, maxAttempts int) Topology {
	t.MaxInFlight, t.AckWait, t.MaxAttempts = maxInFlight, ackWait, maxAttempts
	return t
}

// FollowingConsumer returns t with the ack wait, attempts and cap of the
// executors' consumer as the server has it (have): the fleet's settings,
// which the gateway owns and every executor works with, whatever it was
// given. Values the consumer leaves open (no MaxDeliver), and a MaxDeliver
// without room for the passes (a consumer made by an older gateway), keep
// t's.
func (t Topology) FollowingConsumer(have jetstream.ConsumerConfig) Topology {
	if have.AckWait >= time.Second {
		t.AckWait = have.AckWait
	}
	if have.MaxDeliver > executorSpareDeliveries {
		t.MaxAttempts = have.MaxDeliver - executorSpareDeliveries
	}
	if have.MaxAckPending > 0 {
		t.MaxInFlight = have.MaxAckPending
	}
	return t
}

// FollowingResults returns t with the result bound of the RESULTS stream as
// the server has it (have): an executor shortens its results to what the
// stream takes, whatever it was given. A stream without a message bound
// keeps t's.
func (t Topology) FollowingResults(have jetstream.StreamConfig) Topology {
	if have.MaxMsgSize > ResultHeadroom {
		t.MaxResultBytes = int64(have.MaxMsgSize) - ResultHeadroom
	}
	return t
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
