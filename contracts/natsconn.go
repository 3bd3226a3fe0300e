package contracts

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// NATSConn is how a process connects to NATS: the servers, its identity
// and the TLS it verifies them with. Every Airlock command that connects
// builds its connection from one (Connect), so that each has the same
// options and none logs a secret.
type NATSConn struct {
	// URL lists the servers, comma-separated. A user:password or token in a
	// URL works, but prefer Creds or NkeySeed (a URL is easily logged).
	URL string
	// Creds is a credentials file (a user JWT and its nkey seed).
	Creds string
	// NkeySeed is a file holding an nkey user seed (SU...).
	NkeySeed string
	// CA is a PEM file of the certificate authorities that signed the
	// servers' certificates (TLS is required when set).
	CA string
	// Cert and Key are this client's TLS certificate and key (PEM), for
	// servers that verify clients.
	Cert, Key string
	// InboxPrefix replaces "_INBOX" as the prefix of reply subjects (see
	// InboxPrefix; an identity may subscribe only to its own inboxes).
	InboxPrefix string
}

// Authenticated reports whether the connection presents an identity of its
// own (a credentials file, an nkey, or a user or token in a URL): then the
// server's permissions, not headers or bodies, decide who a publisher is.
func (c NATSConn) Authenticated() bool {
	if c.Creds != "" || c.NkeySeed != "" {
		return true
	}
	for _, raw := range strings.Split(c.URL, ",") {
		if u, err := url.Parse(strings.TrimSpace(raw)); err == nil && u.User != nil {
			return true
		}
	}
	return false
}

// Options returns the nats.go options of the identity and TLS settings.
func (c NATSConn) Options() ([]nats.Option, error) {
	var opts []nats.Option
	if c.Creds != "" && c.NkeySeed != "" {
		return nil, errors.New("nats: give a credentials file or an nkey seed, not both")
	}
	if c.Creds != "" {
		opts = append(opts, nats.UserCredentials(c.Creds))
	}
	if c.NkeySeed != "" {
		o, err := nats.NkeyOptionFromSeed(c.NkeySeed)
		if err != nil {
			return nil, fmt.Errorf("nats nkey seed file: %w", err)
		}
		opts = append(opts, o)
	}
	if c.CA != "" {
		opts = append(opts, nats.RootCAs(c.CA))
	}
	switch {
	case c.Cert != "" && c.Key != "":
		opts = append(opts, nats.ClientCert(c.Cert, c.Key))
	case c.Cert != "" || c.Key != "":
		return nil, errors.New("nats: a client certificate needs both the certificate and the key file")
	}
	if c.InboxPrefix != "" {
		opts = append(opts, nats.CustomInboxPrefix(c.InboxPrefix))
	}
	return opts, nil
}

// Connect connects as name ("airlock-gateway", ...), reconnecting for ever,
// and logs disconnections, reconnections and the server's asynchronous
// errors (a permission violation among them) with the URL redacted. extra
// options come last (nats.InProcessServer for the embedded server).
func (c NATSConn) Connect(name string, log *slog.Logger, extra ...nats.Option) (*nats.Conn, error) {
	opts, err := c.Options()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts = append(opts, nats.Name(name), nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true), nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("nats reconnected", "url", RedactURL(nc.ConnectedUrl())) }),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			args := []any{"err", err}
			if sub != nil {
				args = append(args, "subject", sub.Subject)
			}
			log.Warn("nats error", args...)
		}))
	nc, err := nats.Connect(c.URL, append(opts, extra...)...)
	if err != nil {
		// nats.go's errors may quote the URL.
		return nil, fmt.Errorf("connect to nats %s: %s", RedactURL(c.URL), redactIn(err.Error(), c.URL))
	}
	return nc, nil
}

// RedactURL returns a comma-separated list of NATS URLs with any user,
// password or token replaced by "REDACTED", for logs and errors.
func RedactURL(urls string) string {
	if urls == "" {
		return ""
	}
	parts := strings.Split(urls, ",")
	for i, raw := range parts {
		raw = strings.TrimSpace(raw)
		u, err := url.Parse(raw)
		switch {
		case err != nil && strings.Contains(raw, "@"):
			parts[i] = "REDACTED"
		case err != nil:
			parts[i] = raw
		case u.User != nil:
			u.User = url.User("REDACTED")
			parts[i] = u.String()
		default:
			parts[i] = raw
		}
	}
	return strings.Join(parts, ",")
}

// redactIn replaces every URL of urls that carries a secret in s.
func redactIn(s, urls string) string {
	for _, raw := range strings.Split(urls, ",") {
		raw = strings.TrimSpace(raw)
		if raw != "" && strings.Contains(raw, "@") {
			s = strings.ReplaceAll(s, raw, RedactURL(raw))
		}
	}
	return s
}
