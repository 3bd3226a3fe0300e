package executor

import (
	"context"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Delivery is one delivery of a job: the part of a JetStream message the
// job lifecycle uses. natsDelivery is the real one.
type Delivery interface {
	// Data is the job as published.
	Data() []byte
	// Subject is the subject the job was published on (it names the tenant).
	Subject() string
	// Metadata carries the delivery count and the publish time.
	Metadata() (*jetstream.MsgMetadata, error)
	// InProgress resets the server's redelivery timer (AckWait).
	InProgress() error
	// Nak asks for a redelivery at once; NakWithDelay after delay. The next
	// delivery counts one more on the server either way.
	Nak() error
	NakWithDelay(delay time.Duration) error
	// DoubleAck acks the job and waits for the server to confirm it.
	DoubleAck(ctx context.Context) error
	// Term ends the job for good (never delivered again) and waits for the
	// server to confirm it; reason reaches the server's advisory.
	Term(ctx context.Context, reason string) error
}

// natsDelivery is a job fetched from the shared consumer.
type natsDelivery struct {
	msg jetstream.Msg
	nc  *nats.Conn
}

var _ Delivery = natsDelivery{}

func (d natsDelivery) Data() []byte                              { return d.msg.Data() }
func (d natsDelivery) Subject() string                           { return d.msg.Subject() }
func (d natsDelivery) Metadata() (*jetstream.MsgMetadata, error) { return d.msg.Metadata() }
func (d natsDelivery) InProgress() error                         { return d.msg.InProgress() }
func (d natsDelivery) Nak() error                                { return d.msg.Nak() }
func (d natsDelivery) NakWithDelay(delay time.Duration) error    { return d.msg.NakWithDelay(delay) }
func (d natsDelivery) DoubleAck(ctx context.Context) error       { return d.msg.DoubleAck(ctx) }

// Term sends the +TERM acknowledgement as a request: nats.go's Term and
// TermWithReason only publish it, so a lost one would leave the job to be
// delivered again (or, on its last delivery, stuck in the work queue). The
// server answers a +TERM that carries a reply subject.
func (d natsDelivery) Term(ctx context.Context, reason string) error {
	body := "+TERM"
	if reason != "" {
		body += " " + reason
	}
	_, err := d.nc.RequestWithContext(ctx, d.msg.Reply(), []byte(body))
	return err
}
