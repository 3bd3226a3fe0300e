// Package callback delivers finished executions to the callback_url of their
// request: a POST of the Execution JSON, signed with HMAC-SHA256, retried
// with backoff, and never to an address an attacker could use to reach the
// inside of the network (SSRF) unless an operator allow-listed it.
package callback

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/airlockrun/airlock/contracts"
)

// ConsumerName is the durable consumer on RESULTS that all gateways share,
// so each result is delivered by one of them.
const ConsumerName = contracts.CallbacksConsumer

// SignatureHeader carries "t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">".
const SignatureHeader = "Airlock-Signature"

// Rules decides where callbacks may go and how they are signed.
type Rules struct {
	// Secret signs callbacks of tenants without a secret of their own.
	Secret string
	// TenantSecrets are per-tenant (per API key) secrets.
	TenantSecrets map[string]string
	// Allow opens networks that are loopback, private, link-local or
	// otherwise internal, each on some ports and for one tenant or all.
	// Public addresses are reachable on any port without a rule.
	Allow []Rule
}

// ErrBlocked is a callback address on an internal network.
var ErrBlocked = errors.New("callback address is not allowed")

// secret returns the signing secret for a tenant.
func (p Rules) secret(tenant string) string {
	if s := p.TenantSecrets[tenant]; s != "" {
		return s
	}
	return p.Secret
}

// Check validates a callback URL at submission: http or https, a host, a
// signing secret for the tenant, and no literal internal address. Host
// names are checked again, after resolution, on every delivery.
func (p Rules) Check(tenant, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return errors.New("callback_url must be an absolute http or https URL")
	}
	if u.User != nil {
		return errors.New("callback_url must not contain credentials")
	}
	if p.secret(tenant) == "" {
		return errors.New("callbacks are not configured on this server (no signing secret: set AIRLOCK_CALLBACK_SECRET)")
	}
	if ip, err := netip.ParseAddr(u.Hostname()); err == nil {
		port := u.Port()
		if port == "" {
			port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
		}
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil {
			return errors.New("callback_url has an invalid port")
		}
		if ap := netip.AddrPortFrom(ip, uint16(n)); !p.allowed(tenant, ap) {
			return fmt.Errorf("%w: %s is an internal address", ErrBlocked, ap)
		}
	}
	return nil
}

// internal networks beyond what netip classifies itself.
var internalNets = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),         // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),     // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),      // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),     // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),       // reserved
	netip.MustParsePrefix("64:ff9b::/96"),      // NAT64 (may map to internal IPv4)
	netip.MustParsePrefix("fd00:ec2::254/128"), // EC2 metadata over IPv6
}

// allowed reports whether a callback of tenant may connect to ap: a public
// address on any port, an internal one only as a rule of Allow permits.
func (p Rules) allowed(tenant string, ap netip.AddrPort) bool {
	if tenant == "" {
		tenant = contracts.DefaultTenant
	}
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	for _, r := range p.Allow {
		if r.permits(tenant, ap) {
			return true
		}
	}
	return public(ap.Addr())
}

// public reports whether ip is on no internal network.
func public(ip netip.Addr) bool {
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	for _, pr := range internalNets {
		if pr.Contains(ip) {
			return false
		}
	}
	return true
}

// Client returns the HTTP client that delivers tenant's callbacks. The
// address is checked when the connection is made, after DNS resolution, so
// a name that resolves (or re-resolves) to an internal address is refused;
// no proxy from the environment is used and redirects are not followed.
// Each tenant needs its own client: its connections, checked against its
// rules, must not be reused for another tenant.
func (p Rules) Client(tenant string, timeout time.Duration) *http.Client {
	dialer := &net.Dialer{
		Timeout: timeout,
		Control: func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: %s", ErrBlocked, address)
			}
			if !p.allowed(tenant, ap) {
				return fmt.Errorf("%w: %s is an internal address", ErrBlocked, ap)
			}
			return nil
		},
	}
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           dialer.DialContext,
			TLSHandshakeTimeout:   timeout,
			ResponseHeaderTimeout: timeout,
			MaxIdleConnsPerHost:   4,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Sign returns the signature header value for body at time t.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

// Config configures the delivery worker.
type Config struct {
	Topology    contracts.Topology
	Policy      Rules
	MaxAttempts int           // default 8
	Timeout     time.Duration // per attempt, default 10s
	// Backoff is the delay before attempt n+1 is Backoff << (n-1), capped at
	// five minutes (default 1s).
	Backoff time.Duration
	// Slots is how many deliveries one gateway makes at once (default 16).
	Slots int
}

func (c Config) withDefaults() Config {
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 8
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.Backoff <= 0 {
		c.Backoff = time.Second
	}
	if c.Slots <= 0 {
		c.Slots = 16
	}
	return c
}

// ackWait is how long a delivered event may stay unacknowledged: one POST
// with room to spare. Waiting for a slot is covered by progress acks.
func (c Config) ackWait() time.Duration { return c.Timeout + 20*time.Second }

// EnsureConsumer creates the shared consumer if it does not exist, starting
// at the present: a new consumer must not replay a day of callbacks. An
// existing one keeps its position (and the start it was created with); its
// other settings are the topology's (contracts.Topology.CallbacksConsumerConfig),
// reconciled by the gateway, which owns them.
func EnsureConsumer(ctx context.Context, js jetstream.JetStream, cfg Config, log *slog.Logger) (jetstream.Consumer, error) {
	cfg = cfg.withDefaults()
	want := cfg.Topology.CallbacksConsumerConfig(cfg.ackWait(), cfg.MaxAttempts)
	if c, err := js.Consumer(ctx, contracts.ResultsStream, want.Durable); err == nil {
		have := c.CachedInfo().Config
		want.DeliverPolicy, want.OptStartSeq, want.OptStartTime = have.DeliverPolicy, have.OptStartSeq, have.OptStartTime
	}
	return contracts.EnsureConsumer(ctx, js, contracts.ResultsStream, want,
		contracts.As(contracts.RoleGateway), contracts.WithLog(log))
}

// head is what the worker reads of an event to decide whether it needs a
// delivery, without decoding the outputs.
type head struct {
	ID             string           `json:"id"`
	Status         contracts.Status `json:"status"`
	CallbackURL    string           `json:"callback_url"`
	CallbackStatus string           `json:"callback_status"`
}

// needsDelivery reports whether an event is the completed state of an
// execution with a callback, and not the record of a callback's outcome,
// published by the job's executor: an event without the job's result
// token is a forgery and is never POSTed (signed with the tenant's secret).
func (w *worker) needsDelivery(msg jetstream.Msg) bool {
	var h head
	if json.Unmarshal(msg.Data(), &h) != nil {
		return false
	}
	if h.Status != contracts.StatusCompleted || h.CallbackURL == "" || h.CallbackStatus != "" {
		return false
	}
	if !w.sealer.Sealed(w.cfg.Topology, msg.Subject(), msg.Headers(), h.ID) {
		w.log.Warn("refusing a callback for an event without its job's result token", "subject", msg.Subject(), "id", h.ID)
		return false
	}
	return true
}

// Run delivers callbacks until ctx ends. Each completed execution with a
// callback_url is POSTed once it is in RESULTS; a failed delivery is retried
// (the message is Nak'ed with a growing delay, so retries survive a restart)
// until MaxAttempts. The outcome, delivered or failed, is published as a
// completed event with callback_status, which the results service merges
// into the stored execution.
//
// Only events that need a delivery take one of the Slots; the others are
// acknowledged as they arrive, so slow receivers hold up no more than their
// own callbacks. The client buffers no more events than there are slots,
// and an event waiting for a slot is kept alive with progress acks, so no
// event outlives its AckWait (and burns a delivery) before it is POSTed.
func Run(ctx context.Context, js jetstream.JetStream, cfg Config, log *slog.Logger) error {
	cfg = cfg.withDefaults()
	cons, err := EnsureConsumer(ctx, js, cfg, log)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped while starting
		}
		return fmt.Errorf("create callbacks consumer: %w", err)
	}
	sealer, err := contracts.LoadResultSealer(ctx, js)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	w := &worker{
		sealer:  sealer,
		cfg:     cfg,
		js:      js,
		log:     log,
		clients: &clients{policy: cfg.Policy, timeout: cfg.Timeout, byTenant: map[string]*http.Client{}},
		slots:   make(chan struct{}, cfg.Slots),
	}
	cc, err := cons.Consume(func(msg jetstream.Msg) { w.take(ctx, msg) }, jetstream.PullMaxMessages(cfg.Slots))
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("consume results for callbacks: %w", err)
	}
	<-ctx.Done()
	cc.Drain()
	<-cc.Closed()
	w.wg.Wait()
	return nil
}

type worker struct {
	sealer  *contracts.ResultSealer
	cfg     Config
	js      jetstream.JetStream
	log     *slog.Logger
	clients *clients
	slots   chan struct{}
	wg      sync.WaitGroup
}

// take handles one event as it arrives: it acknowledges at once an event
// that needs no delivery, and otherwise waits for a slot (sending progress
// acks meanwhile) and starts the delivery in it.
func (w *worker) take(ctx context.Context, msg jetstream.Msg) {
	if !w.needsDelivery(msg) {
		_ = msg.Ack()
		return
	}
	progress := time.NewTicker(w.cfg.ackWait() / 3)
	defer progress.Stop()
	for waiting := true; waiting; {
		select {
		case w.slots <- struct{}{}:
			waiting = false
		case <-progress.C:
			_ = msg.InProgress()
		case <-ctx.Done():
			_ = msg.Nak() // hand it back to another gateway
			return
		}
	}
	// The POST gets a full AckWait of its own, however long the wait was.
	_ = msg.InProgress()
	w.wg.Add(1)
	go func() {
		defer func() { <-w.slots; w.wg.Done() }()
		w.deliver(ctx, msg)
	}()
}

// clients holds one delivery client per tenant (see Policy.Client).
type clients struct {
	policy  Rules
	timeout time.Duration

	mu       sync.Mutex
	byTenant map[string]*http.Client
}

func (c *clients) of(tenant string) *http.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	httpc, ok := c.byTenant[tenant]
	if !ok {
		httpc = c.policy.Client(tenant, c.timeout)
		c.byTenant[tenant] = httpc
	}
	return httpc
}

// errRefused is a callback whose URL or secret is not acceptable here.
var errRefused = errors.New("callback URL or secret not acceptable")

// statusError is a receiver's answer other than 2xx.
type statusError struct{ code int }

func (e statusError) Error() string { return "receiver answered " + strconv.Itoa(e.code) }

// errorClass names the kind of a failed delivery, for callback_error; it
// never carries what the receiver sent.
func errorClass(err error) string {
	var se statusError
	var ne net.Error
	switch {
	case errors.As(err, &se):
		return "http_" + strconv.Itoa(se.code)
	case errors.Is(err, ErrBlocked):
		return "blocked"
	case errors.Is(err, errRefused):
		return "refused"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	return "connection"
}

func (w *worker) deliver(ctx context.Context, msg jetstream.Msg) {
	var exec contracts.Execution
	if err := json.Unmarshal(msg.Data(), &exec); err != nil {
		_ = msg.Term()
		return
	}
	attempt := 1
	if meta, err := msg.Metadata(); err == nil {
		attempt = int(meta.NumDelivered)
	}
	log := w.log.With("id", exec.ID, "attempt", attempt)
	err := w.post(ctx, &exec, msg.Data(), attempt)
	switch {
	case err == nil:
		log.Debug("callback delivered")
		w.record(ctx, exec, contracts.CallbackDelivered, "", log)
		_ = msg.Ack()
	case errors.Is(err, ErrBlocked), errors.Is(err, errRefused):
		log.Warn("callback dropped", "err", err)
		w.record(ctx, exec, contracts.CallbackFailed, errorClass(err), log)
		_ = msg.Term()
	case ctx.Err() != nil:
		_ = msg.Nak() // stopped mid-delivery: another gateway retries it
	case attempt >= w.cfg.MaxAttempts:
		log.Error("callback failed on every attempt: dropped", "err", err)
		w.record(ctx, exec, contracts.CallbackFailed, errorClass(err), log)
		_ = msg.Term()
	default:
		delay := min(w.cfg.Backoff<<(attempt-1), 5*time.Minute)
		log.Info("callback failed: will retry", "err", err, "in", delay)
		_ = msg.NakWithDelay(delay)
	}
}

// post makes one delivery attempt.
func (w *worker) post(ctx context.Context, exec *contracts.Execution, body []byte, attempt int) error {
	secret := w.cfg.Policy.secret(exec.Tenant)
	if secret == "" || w.cfg.Policy.Check(exec.Tenant, exec.CallbackURL) != nil {
		return errRefused
	}
	rctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, exec.CallbackURL, bytes.NewReader(body))
	if err != nil {
		return errRefused
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "airlock-callback/1")
	req.Header.Set("Airlock-Execution-Id", exec.ID)
	req.Header.Set("Airlock-Delivery-Attempt", strconv.Itoa(attempt))
	req.Header.Set(SignatureHeader, Sign(secret, time.Now(), body))
	resp, err := w.clients.of(exec.Tenant).Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return statusError{resp.StatusCode}
	}
	return nil
}

// record publishes the outcome of a callback as a completed event with
// callback_status, for the results service to merge into the stored
// execution (it is the only writer of the executions bucket). The worker
// itself skips such events. A failure to record is logged: the delivery is
// not repeated for it.
func (w *worker) record(ctx context.Context, exec contracts.Execution, status, class string, log *slog.Logger) {
	exec.CallbackStatus, exec.CallbackError = status, class
	data, err := json.Marshal(&exec)
	if err != nil {
		log.Error("record callback outcome", "err", err)
		return
	}
	msg := w.cfg.Topology.EventMsg(exec.ID, w.sealer.Token(exec.ID), data)
	for try := range 3 {
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_, err = w.js.PublishMsg(pctx, msg, jetstream.WithMsgID(exec.ID+":callback:"+status))
		cancel()
		if err == nil {
			return
		}
		time.Sleep(time.Duration(try+1) * 200 * time.Millisecond)
	}
	log.Error("record callback outcome: not recorded", "callback_status", status, "err", err)
}
