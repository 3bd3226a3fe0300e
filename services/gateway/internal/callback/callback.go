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

// Policy decides where callbacks may go and how they are signed.
type Policy struct {
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
func (p Policy) secret(tenant string) string {
	if s := p.TenantSecrets[tenant]; s != "" {
		return s
	}
	return p.Secret
}

// Check validates a callback URL at submission: http or https, a host, a
// signing secret for the tenant, and no literal internal address. Host
// names are checked again, after resolution, on every delivery.
func (p Policy) Check(tenant, raw string) error {
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
func (p Policy) allowed(tenant string, ap netip.AddrPort) bool {
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
func (p Policy) Client(tenant string, timeout time.Duration) *http.Client {
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
	Policy      Policy
	MaxAttempts int           // default 8
	Timeout     time.Duration // per attempt, default 10s
	// Backoff is the delay before attempt n+1 is Backoff << (n-1), capped at
	// five minutes (default 1s).
	Backoff time.Duration
}

// Run delivers callbacks until ctx ends. Each completed execution with a
// callback_url is POSTed once it is in RESULTS; a failed delivery is retried
// (the message is Nak'ed with a growing delay, so retries survive a restart)
// until MaxAttempts, then dropped with an error in the log.
func Run(ctx context.Context, js jetstream.JetStream, cfg Config, log *slog.Logger) error {
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 8
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = time.Second
	}
	cons, err := contracts.EnsureConsumer(ctx, js, contracts.ResultsStream,
		cfg.Topology.CallbacksConsumerConfig(cfg.Timeout+20*time.Second, cfg.MaxAttempts),
		contracts.As(contracts.RoleGateway), contracts.WithLog(log))
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped while starting
		}
		return fmt.Errorf("create callbacks consumer: %w", err)
	}
	clients := &clients{policy: cfg.Policy, timeout: cfg.Timeout, byTenant: map[string]*http.Client{}}
	// Deliver in parallel, so one slow receiver does not hold up the others;
	// a full pool slows the consumer down.
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	cc, err := cons.Consume(func(msg jetstream.Msg) {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			deliver(ctx, clients, cfg, msg, log)
		}()
	}, jetstream.PullMaxMessages(32))
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("consume results for callbacks: %w", err)
	}
	<-ctx.Done()
	cc.Drain()
	<-cc.Closed()
	wg.Wait()
	return nil
}

// clients holds one delivery client per tenant (see Policy.Client).
type clients struct {
	policy  Policy
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

func deliver(ctx context.Context, clients *clients, cfg Config, msg jetstream.Msg, log *slog.Logger) {
	var exec contracts.Execution
	if err := json.Unmarshal(msg.Data(), &exec); err != nil || !exec.Terminal() || exec.CallbackURL == "" {
		_ = msg.Ack()
		return
	}
	attempt := 1
	if meta, err := msg.Metadata(); err == nil {
		attempt = int(meta.NumDelivered)
	}
	log = log.With("id", exec.ID, "attempt", attempt)
	secret := cfg.Policy.secret(exec.Tenant)
	if secret == "" || cfg.Policy.Check(exec.Tenant, exec.CallbackURL) != nil {
		log.Warn("callback dropped: its URL or secret is not acceptable here")
		_ = msg.Term()
		return
	}
	body := msg.Data()
	rctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, exec.CallbackURL, bytes.NewReader(body))
	if err != nil {
		_ = msg.Term()
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "airlock-callback/1")
	req.Header.Set("Airlock-Execution-Id", exec.ID)
	req.Header.Set("Airlock-Delivery-Attempt", strconv.Itoa(attempt))
	req.Header.Set(SignatureHeader, Sign(secret, time.Now(), body))
	resp, err := clients.of(exec.Tenant).Do(req)
	if err == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			log.Debug("callback delivered", "status", resp.StatusCode)
			_ = msg.Ack()
			return
		}
		err = fmt.Errorf("receiver answered %s", resp.Status)
	}
	if errors.Is(err, ErrBlocked) {
		log.Warn("callback blocked", "err", err)
		_ = msg.Term()
		return
	}
	if attempt >= cfg.MaxAttempts {
		log.Error("callback failed on every attempt: dropped", "err", err)
		_ = msg.Term()
		return
	}
	delay := min(cfg.Backoff<<(attempt-1), 5*time.Minute)
	log.Info("callback failed: will retry", "err", err, "in", delay)
	_ = msg.NakWithDelay(delay)
}
