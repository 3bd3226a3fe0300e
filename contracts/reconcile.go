package contracts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Who reconciles what. Every JetStream object has exactly one owner role:
// the owner creates the object when it is missing and changes an existing
// one to its own settings (logging each change); every other role creates
// the object when it is missing (where its permissions let it) and only
// checks an existing one, logging a warning for each setting that differs
// and keeping what is there. So services of different roles started with
// different settings do not fight: the owner's settings win. All instances
// of one role must be given the same settings (one job specification per
// role); instances that disagree each log the change they make.
//
// Whatever the role, Ensure refuses to start on a difference that cannot be
// changed in place (a stream's retention or storage, a subject that would
// leave stored messages without a stream, a consumer's ack or deliver policy
// or filter): the error names the object, the field, what is there and what
// was wanted. An operator resolves it by hand (docs/operations.md).
//
// The owners follow the NATS permissions (Permissions): only the gateway
// may update the streams and buckets, and each consumer only its owner.
//
// The executors' shared consumer belongs to the gateway, not to the
// executors: its MaxAckPending is the fleet-wide cap on running jobs, and
// with it AckWait and MaxDeliver (the attempts) are the fleet's settings,
// like the queue's bounds (Topology). The gateways are few and run from one
// job specification; executors are many, added and drained node by node, and
// one of them started with other settings would otherwise change the cap for
// every node. An executor creates the consumer when it is missing (from the
// same topology) and otherwise follows what is there: it works with the
// consumer's AckWait and MaxDeliver, whatever its own flags say.

// Owner is the role that owns the settings of a stream or bucket (by its
// stream name, KV_<bucket> for a bucket) or, when consumer is not empty, of
// that consumer of the stream.
func Owner(stream, consumer string) Role {
	switch {
	case consumer == "":
		return RoleGateway
	case stream == JobsStream && consumer == ExecutorConsumer:
		return RoleGateway
	case stream == ResultsStream && consumer == ResultsConsumer:
		return RoleResults
	case stream == ResultsStream && consumer == CallbacksConsumer:
		return RoleGateway
	}
	return RoleOperator
}

// EnsureOption configures Ensure and EnsureConsumer.
type EnsureOption func(*ensureOptions)

type ensureOptions struct {
	role Role
	log  *slog.Logger
}

// As makes Ensure act for role: it changes only the objects role owns and
// checks the others. Without As, Ensure acts for RoleOperator, which owns
// everything (the all-in-one process, tools and tests).
func As(role Role) EnsureOption { return func(o *ensureOptions) { o.role = role } }

// WithLog is where Ensure logs the changes it makes and the differences it
// keeps (default: nowhere).
func WithLog(log *slog.Logger) EnsureOption { return func(o *ensureOptions) { o.log = log } }

func newEnsureOptions(opts []EnsureOption) ensureOptions {
	o := ensureOptions{role: RoleOperator}
	for _, f := range opts {
		f(&o)
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	return o
}

func (o ensureOptions) owns(stream, consumer string) bool {
	return o.role == RoleOperator || o.role == Owner(stream, consumer)
}

// ConfigError is a difference Ensure may not resolve: the existing object
// has Have where this service wants Want.
type ConfigError struct {
	Object, Field string
	Have, Want    any
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("%s: %s is %v, this service wants %v; it cannot be changed in place (see docs/operations.md, \"Configuration drift\")",
		e.Object, e.Field, e.Have, e.Want)
}

// diff is one setting that differs.
type diff struct {
	field      string
	have, want any
}

// settle changes the object (owner) or warns about each difference
// (others). update applies every difference at once.
func (o ensureOptions) settle(object, stream, consumer string, diffs []diff, update func() error) error {
	if len(diffs) == 0 {
		return nil
	}
	if !o.owns(stream, consumer) {
		for _, d := range diffs {
			o.log.Warn("topology: setting differs from this service's; kept (another role owns it)",
				"object", object, "field", d.field, "have", d.have, "want", d.want, "owner", Owner(stream, consumer))
		}
		return nil
	}
	if err := update(); err != nil {
		return fmt.Errorf("update %s: %w", object, err)
	}
	for _, d := range diffs {
		o.log.Info("topology: changed", "object", object, "field", d.field, "old", d.have, "new", d.want)
	}
	return nil
}

// unlimited maps the "no limit" zero of a wanted setting to the -1 the
// server reports.
func unlimited[T int64 | int32 | int](v T) T {
	if v == 0 {
		return -1
	}
	return v
}

// add appends the difference of one setting, if any, and puts the wanted
// value into apply (the configuration that will be sent).
func add[T comparable](diffs []diff, field string, have T, want *T, apply *T) []diff {
	if have == *want {
		return diffs
	}
	*apply = *want
	return append(diffs, diff{field, have, *want})
}

// reconcileStream compares an existing stream with want: it returns the
// refusal, or the differences and the configuration that applies them.
func reconcileStream(object string, have, want jetstream.StreamConfig) (jetstream.StreamConfig, []diff, error) {
	if have.Retention != want.Retention {
		return have, nil, &ConfigError{object, "retention", have.Retention, want.Retention}
	}
	if have.Storage != want.Storage {
		return have, nil, &ConfigError{object, "storage", have.Storage, want.Storage}
	}
	for _, s := range have.Subjects {
		if !slices.Contains(want.Subjects, s) {
			return have, nil, &ConfigError{object, "subjects", have.Subjects, want.Subjects}
		}
	}
	next := have
	var diffs []diff
	if len(want.Subjects) != len(have.Subjects) {
		next.Subjects = want.Subjects
		diffs = append(diffs, diff{"subjects", have.Subjects, want.Subjects})
	}
	diffs = add(diffs, "description", have.Description, &want.Description, &next.Description)
	diffs = add(diffs, "discard", have.Discard, &want.Discard, &next.Discard)
	want.MaxMsgs, want.MaxBytes = unlimited(want.MaxMsgs), unlimited(want.MaxBytes)
	want.MaxMsgsPerSubject, want.MaxMsgSize = unlimited(want.MaxMsgsPerSubject), unlimited(want.MaxMsgSize)
	diffs = add(diffs, "max_msgs", have.MaxMsgs, &want.MaxMsgs, &next.MaxMsgs)
	diffs = add(diffs, "max_bytes", have.MaxBytes, &want.MaxBytes, &next.MaxBytes)
	diffs = add(diffs, "max_msgs_per_subject", have.MaxMsgsPerSubject, &want.MaxMsgsPerSubject, &next.MaxMsgsPerSubject)
	diffs = add(diffs, "discard_new_per_subject", have.DiscardNewPerSubject, &want.DiscardNewPerSubject, &next.DiscardNewPerSubject)
	diffs = add(diffs, "max_msg_size", have.MaxMsgSize, &want.MaxMsgSize, &next.MaxMsgSize)
	diffs = add(diffs, "max_age", have.MaxAge, &want.MaxAge, &next.MaxAge)
	if want.Duplicates != 0 { // 0: the server's default, whatever it is
		diffs = add(diffs, "duplicate_window", have.Duplicates, &want.Duplicates, &next.Duplicates)
	}
	diffs = add(diffs, "replicas", max(have.Replicas, 1), &want.Replicas, &next.Replicas)
	if want.AllowDirect { // turned on where wanted, never off (buckets have it by default)
		diffs = add(diffs, "allow_direct", have.AllowDirect, &want.AllowDirect, &next.AllowDirect)
	}
	return next, diffs, nil
}

// bucketStream is the stream configuration the settings of a bucket become,
// as far as Ensure compares them.
func bucketStream(kc jetstream.KeyValueConfig) jetstream.StreamConfig {
	history := int64(kc.History)
	if history < 1 {
		history = 1
	}
	return jetstream.StreamConfig{
		Name: kvStream(kc.Bucket), Description: kc.Description, Subjects: []string{"$KV." + kc.Bucket + ".>"},
		Retention: jetstream.LimitsPolicy, Storage: kc.Storage, Discard: jetstream.DiscardNew,
		MaxMsgsPerSubject: history, MaxAge: kc.TTL, MaxBytes: kc.MaxBytes, MaxMsgSize: kc.MaxValueSize,
		Replicas: max(kc.Replicas, 1),
	}
}

// existing returns the configuration of the stream name behind object, or
// nil after creating the object with create when there is none.
func (o ensureOptions) existing(ctx context.Context, js jetstream.JetStream, object, name string, create func() error) (*jetstream.StreamConfig, error) {
	s, err := js.Stream(ctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		err = create()
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) || errors.Is(err, jetstream.ErrBucketExists) {
			return nil, nil // another service created it: checked next time
		}
		if err != nil {
			return nil, fmt.Errorf("create %s: %w", object, err)
		}
		o.log.Info("topology: created", "object", object)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up %s: %w", object, err)
	}
	c := s.CachedInfo().Config
	return &c, nil
}

// ensureStream creates the stream sc, or reconciles the existing one.
func (o ensureOptions) ensureStream(ctx context.Context, js jetstream.JetStream, sc jetstream.StreamConfig) error {
	object := "stream " + sc.Name
	have, err := o.existing(ctx, js, object, sc.Name, func() error {
		_, err := js.CreateStream(ctx, sc)
		return err
	})
	if err != nil || have == nil {
		return err
	}
	next, diffs, err := reconcileStream(object, *have, sc)
	if err != nil {
		return err
	}
	return o.settle(object, sc.Name, "", diffs, func() error {
		_, err := js.UpdateStream(ctx, next)
		return err
	})
}

// ensureBucket creates the bucket kc, or reconciles the existing one.
func (o ensureOptions) ensureBucket(ctx context.Context, js jetstream.JetStream, kc jetstream.KeyValueConfig) error {
	object := "bucket " + kc.Bucket
	have, err := o.existing(ctx, js, object, kvStream(kc.Bucket), func() error {
		_, err := js.CreateKeyValue(ctx, kc)
		return err
	})
	if err != nil || have == nil {
		return err
	}
	// A bucket's duplicate window follows its TTL: not a setting of ours.
	want := bucketStream(kc)
	_, diffs, err := reconcileStream(object, *have, want)
	if err != nil {
		return err
	}
	for i := range diffs {
		switch diffs[i].field {
		case "max_age":
			diffs[i].field = "ttl"
		case "max_msgs_per_subject":
			diffs[i].field = "history"
		case "max_msg_size":
			diffs[i].field = "max_value_size"
		}
	}
	return o.settle(object, want.Name, "", diffs, func() error {
		_, err := js.UpdateKeyValue(ctx, kc)
		return err
	})
}

// EnsureConsumer creates the durable consumer cc on stream, or reconciles
// the existing one (see Owner), and returns it. Its ack policy, deliver
// policy and filter cannot change in place.
func EnsureConsumer(ctx context.Context, js jetstream.JetStream, stream string, cc jetstream.ConsumerConfig, opts ...EnsureOption) (jetstream.Consumer, error) {
	o := newEnsureOptions(opts)
	object := "consumer " + stream + "/" + cc.Durable
	c, err := js.Consumer(ctx, stream, cc.Durable)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		c, err = js.CreateConsumer(ctx, stream, cc)
		if errors.Is(err, jetstream.ErrConsumerExists) {
			return EnsureConsumer(ctx, js, stream, cc, opts...) // another process created it
		}
		if err != nil {
			return nil, fmt.Errorf("create %s: %w", object, err)
		}
		o.log.Info("topology: created", "object", object)
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up %s: %w", object, err)
	}
	have := c.CachedInfo().Config
	switch {
	case have.AckPolicy != cc.AckPolicy:
		return nil, &ConfigError{object, "ack_policy", have.AckPolicy, cc.AckPolicy}
	case have.DeliverPolicy != cc.DeliverPolicy:
		return nil, &ConfigError{object, "deliver_policy", have.DeliverPolicy, cc.DeliverPolicy}
	case have.FilterSubject != cc.FilterSubject || !slices.Equal(have.FilterSubjects, cc.FilterSubjects):
		return nil, &ConfigError{object, "filter_subject", filters(have), filters(cc)}
	}
	next := have
	var diffs []diff
	if cc.AckWait == 0 {
		cc.AckWait = 30 * time.Second // the server's default
	}
	if cc.MaxAckPending == 0 {
		cc.MaxAckPending = 1000 // the server's default
	}
	cc.MaxDeliver = int(unlimited(cc.MaxDeliver))
	diffs = add(diffs, "description", have.Description, &cc.Description, &next.Description)
	diffs = add(diffs, "ack_wait", have.AckWait, &cc.AckWait, &next.AckWait)
	diffs = add(diffs, "max_deliver", have.MaxDeliver, &cc.MaxDeliver, &next.MaxDeliver)
	diffs = add(diffs, "max_ack_pending", have.MaxAckPending, &cc.MaxAckPending, &next.MaxAckPending)
	if err := o.settle(object, stream, cc.Durable, diffs, func() error {
		c, err = js.UpdateConsumer(ctx, stream, next)
		return err
	}); err != nil {
		return nil, err
	}
	return c, nil
}

func filters(cc jetstream.ConsumerConfig) []string {
	if cc.FilterSubject != "" {
		return append([]string{cc.FilterSubject}, cc.FilterSubjects...)
	}
	return cc.FilterSubjects
}
