package contracts

import (
	"fmt"
	"slices"
	"strings"
)

// Role is an identity on the bus: every process connects as one, and the
// NATS server lets it publish and subscribe to what Permissions says.
type Role string

// The roles. A fleet runs each service with its own identity; internal
// clients get one identity per tenant; people get the operator identity.
const (
	// RoleGateway owns the topology (creates the streams and buckets and
	// reconciles their settings), publishes jobs and their queued events,
	// reads executions, serves the NATS endpoint and sends callbacks.
	RoleGateway Role = "gateway"
	// RoleExecutor takes jobs from the shared consumer, acks them,
	// publishes status events and its heartbeat, reads a job's last event,
	// and removes a job past its last delivery from JOBS. Nothing else.
	RoleExecutor Role = "executor"
	// RoleResults turns status events into the executions bucket: the only
	// identity that writes it.
	RoleResults Role = "results"
	// RoleClient is an internal service of one tenant: it may only send
	// requests to that tenant's NATS endpoint subjects (executions and
	// problem packages) and read the replies.
	RoleClient Role = "client"
	// RoleOperator may do anything in the Airlock account (the nats CLI,
	// backups, repairs). It is a person's identity, never a service's.
	RoleOperator Role = "operator"
)

// ServiceRoles are the roles of Airlock's own processes.
var ServiceRoles = []Role{RoleGateway, RoleExecutor, RoleResults}

// SubjectRule is one direction of a nats-server permission set. The JSON
// field names are those of the nats-server configuration file.
type SubjectRule struct {
	Allow []string `json:"allow,omitempty"`
	Deny  []string `json:"deny,omitempty"`
}

// Permissions is a nats-server permission set, as the "permissions" of a
// user in the server's configuration file.
type Permissions struct {
	Publish   SubjectRule `json:"publish"`
	Subscribe SubjectRule `json:"subscribe"`
	// AllowResponses lets the user publish one reply to the reply subject
	// of each request it received (the gateway's NATS endpoint answers to
	// the requester's inbox, whatever it is).
	AllowResponses bool `json:"allow_responses,omitempty"`
}

// InboxPrefix is the reply-subject prefix of an identity (nats.go's
// CustomInboxPrefix): each identity may subscribe only to its own inboxes,
// so no identity can read the replies another one receives (JetStream API
// answers, fetched jobs, the NATS endpoint's results). tenant is used only
// by RoleClient.
func InboxPrefix(role Role, tenant string) string {
	switch role {
	case RoleClient:
		if tenant == "" {
			tenant = DefaultTenant
		}
		return "_INBOX.tenant." + tenant
	case RoleOperator:
		return "_INBOX"
	}
	return "_INBOX." + string(role)
}

// ExecuteSubject is the NATS endpoint subject of one tenant: a client
// identity may publish only to its own, and the gateway takes the tenant of
// the request from the subject.
func (t Topology) ExecuteSubject(tenant string) string {
	return t.Prefix + ".api.execute." + tenant
}

// ProblemSubject is the NATS endpoint subject of one tenant's problem
// packages (a ProblemRequest): like ExecuteSubject, a client identity may
// publish only to its own.
func (t Topology) ProblemSubject(tenant string) string {
	return t.Prefix + ".api.problem." + tenant
}

// TenantOfProblemSubject returns the tenant of a request received on
// ProblemSubject(tenant).
func (t Topology) TenantOfProblemSubject(subject string) (string, bool) {
	return lastToken(subject, t.Prefix+".api.problem.")
}

// TenantOfExecuteSubject returns the tenant of a request received on
// ExecuteSubject(tenant).
func (t Topology) TenantOfExecuteSubject(subject string) (string, bool) {
	return lastToken(subject, t.Prefix+".api.execute.")
}

// TenantOfJobSubject returns the tenant of a job from the subject it was
// published on: the publisher's permissions, enforced by the server, decide
// the subject, whereas the job body is whatever the publisher wrote.
func (t Topology) TenantOfJobSubject(subject string) (string, bool) {
	return lastToken(subject, t.Prefix+".jobs.")
}

func lastToken(subject, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(subject, prefix)
	if !ok || !ValidTenant(rest) {
		return "", false
	}
	return rest, true
}

// jsAPI is the JetStream API's subject prefix (no JetStream domain).
const jsAPI = "$JS.API."

// kvStream is the name of the stream behind a KV bucket.
func kvStream(bucket string) string { return "KV_" + bucket }

// Permissions is the least-privilege permission set of role: the subjects
// the code of that role uses and no others. tenant is the tenant of a
// RoleClient identity (ignored for the other roles). docs/security.md
// explains each rule and what JetStream does not let us narrow.
func (t Topology) Permissions(role Role, tenant string) (Permissions, error) {
	p := t.Prefix
	streams := []string{JobsStream, ResultsStream, kvStream(ExecutionsBucket), kvStream(ExecutorsBucket), kvStream(IdempotencyBucket), kvStream(KeysBucket)}
	prefixed := func(format string, names ...string) []string {
		out := make([]string, len(names))
		for i, n := range names {
			out[i] = fmt.Sprintf(format, n)
		}
		return out
	}
	// durable is what a process of a shared durable pull consumer needs:
	// create it (or find it as it is), pull, and ack, nak, term or extend.
	durable := func(stream, consumer string) []string {
		return []string{
			jsAPI + "CONSUMER.CREATE." + stream + "." + consumer,
			jsAPI + "CONSUMER.INFO." + stream + "." + consumer,
			jsAPI + "CONSUMER.MSG.NEXT." + stream + "." + consumer,
			"$JS.ACK." + stream + "." + consumer + ".>",
		}
	}
	// readStream is reading a bucket's or an object store's stream: get
	// the last message of a subject and read subjects through an ordered
	// consumer the client creates, replaces and deletes, with flow control.
	readStream := func(s string) []string {
		return []string{
			jsAPI + "DIRECT.GET." + s, jsAPI + "DIRECT.GET." + s + ".>", jsAPI + "STREAM.MSG.GET." + s,
			jsAPI + "CONSUMER.CREATE." + s, jsAPI + "CONSUMER.CREATE." + s + ".>",
			jsAPI + "CONSUMER.DELETE." + s + ".>", jsAPI + "CONSUMER.INFO." + s + ".>",
			"$JS.FC." + s + ".>",
		}
	}
	// readKV is reading a bucket: get a key and watch keys.
	readKV := func(bucket string) []string { return readStream(kvStream(bucket)) }
	// problems is the problems object store's stream: an executor reads
	// objects (the last meta message of a name, then its chunks through an
	// ordered consumer), the gateway also writes them.
	problems := objectStream(ProblemsStore)
	inbox := []string{InboxPrefix(role, tenant) + ".>"}
	// keyAccess reads the keys bucket and creates its entries (create-only
	// is a publish with an expected revision): the gateway and the results
	// service, never an executor.
	ks := kvStream(KeysBucket)
	keyAccess := []string{jsAPI + "DIRECT.GET." + ks, jsAPI + "DIRECT.GET." + ks + ".>", jsAPI + "STREAM.MSG.GET." + ks, "$KV." + KeysBucket + ".>"}
	var perm Permissions
	switch role {
	case RoleGateway:
		all := append(slices.Clone(streams), kvStream(EvaluationsBucket), problems)
		// It owns the settings of every stream and bucket (see Owner): it
		// creates and updates them.
		pub := []string{jsAPI + "INFO"}
		pub = append(pub, prefixed(jsAPI+"STREAM.INFO.%s", all...)...)
		pub = append(pub, prefixed(jsAPI+"STREAM.CREATE.%s", all...)...)
		pub = append(pub, prefixed(jsAPI+"STREAM.UPDATE.%s", all...)...)
		// The executions' past events (an execution the results service
		// has not stored yet) and the callbacks' shared consumer.
		pub = append(pub, jsAPI+"DIRECT.GET."+ResultsStream, jsAPI+"DIRECT.GET."+ResultsStream+".>", jsAPI+"STREAM.MSG.GET."+ResultsStream)
		pub = append(pub, durable(ResultsStream, CallbacksConsumer)...)
		// The queue depth (metrics), the fleet's state (readiness) and the
		// settings of the executors' shared consumer, which it owns (it
		// cannot pull from it or ack).
		pub = append(pub, jsAPI+"CONSUMER.INFO."+JobsStream+"."+ExecutorConsumer, jsAPI+"CONSUMER.CREATE."+JobsStream+"."+ExecutorConsumer)
		for _, b := range []string{ExecutionsBucket, ExecutorsBucket, EvaluationsBucket, IdempotencyBucket} {
			pub = append(pub, readKV(b)...)
		}
		// The problem packages: read, write (chunks and meta messages) and
		// delete (a purge of an object's chunks) objects.
		pub = append(pub, readStream(problems)...)
		pub = append(pub, "$O."+ProblemsStore+".>", jsAPI+"STREAM.PURGE."+problems)
		// The result-token key: read it, or create it when it starts first.
		pub = append(pub, keyAccess...)
		// The gateway keeps evaluations and idempotency keys in their own
		// buckets; it publishes jobs (any tenant: it authenticated the API
		// key) and their queued events. It never writes the executions
		// bucket.
		pub = append(pub, "$KV."+EvaluationsBucket+".>", "$KV."+IdempotencyBucket+".>", p+".jobs.*", p+".events.*")
		perm = Permissions{
			Publish: SubjectRule{Allow: pub, Deny: []string{"$KV." + ExecutionsBucket + ".>"}},
			// Its waiters share one plain subscription to the executions
			// bucket's writes (no consumer on the server); it reads every
			// execution anyway (the direct gets above).
			Subscribe: SubjectRule{Allow: append(inbox, p+".api.execute", p+".api.execute.*", p+".api.problem", p+".api.problem.*",
				"$SRV.>", "$KV."+ExecutionsBucket+".>")},
			AllowResponses: true,
		}
	case RoleExecutor:
		// Ensure looks the streams up (it can create or change none of
		// them); the executor creates the shared consumer when it is
		// missing (the gateway owns its settings).
		pub := prefixed(jsAPI+"STREAM.INFO.%s", streams...)
		pub = append(pub, durable(JobsStream, ExecutorConsumer)...)
		pub = append(pub, "$KV."+ExecutorsBucket+".>", p+".events.*")
		// The last event of a job it holds (was it handed back, is its
		// result stored), by subject only: never RESULTS by sequence, so it
		// reads no execution whose id it does not know. The backstop for a
		// job past its last delivery: read it and remove it from JOBS (see
		// ExecutorMaxDeliveriesAdvisory).
		pub = append(pub, jsAPI+"DIRECT.GET."+ResultsStream+"."+t.EventSubject("*"))
		pub = append(pub, jsAPI+"STREAM.MSG.GET."+JobsStream, jsAPI+"STREAM.MSG.DELETE."+JobsStream)
		// The fleet's heartbeats: which executors serve a job's runtime
		// that this one does not (routing by runtime).
		pub = append(pub, readKV(ExecutorsBucket)...)
		// The problem packages the jobs name: read only (look the store
		// up, read objects).
		pub = append(pub, jsAPI+"STREAM.INFO."+problems)
		pub = append(pub, readStream(problems)...)
		perm = Permissions{
			Publish:   SubjectRule{Allow: pub},
			Subscribe: SubjectRule{Allow: append(inbox, ExecutorMaxDeliveriesAdvisory)},
		}
	case RoleResults:
		// The results service may create the streams when it starts first
		// (as docs/deploy.md orders a fleet's start); it cannot change them
		// (Ensure only checks them and warns).
		// (Creating a bucket reads the account's limits: INFO.)
		pub := []string{jsAPI + "INFO"}
		pub = append(pub, prefixed(jsAPI+"STREAM.INFO.%s", streams...)...)
		pub = append(pub, prefixed(jsAPI+"STREAM.CREATE.%s", streams...)...)
		pub = append(pub, durable(ResultsStream, ResultsConsumer)...)
		s := kvStream(ExecutionsBucket)
		pub = append(pub, jsAPI+"DIRECT.GET."+s, jsAPI+"DIRECT.GET."+s+".>", jsAPI+"STREAM.MSG.GET."+s, "$KV."+ExecutionsBucket+".>")
		pub = append(pub, keyAccess...)
		perm = Permissions{
			Publish:   SubjectRule{Allow: pub},
			Subscribe: SubjectRule{Allow: inbox},
		}
	case RoleClient:
		if tenant == "" {
			tenant = DefaultTenant
		}
		if !ValidTenant(tenant) {
			return Permissions{}, fmt.Errorf("tenant %q: letters, digits, - and _ only", tenant)
		}
		perm = Permissions{
			Publish:   SubjectRule{Allow: []string{t.ExecuteSubject(tenant), t.ProblemSubject(tenant)}},
			Subscribe: SubjectRule{Allow: inbox},
		}
	case RoleOperator:
		perm = Permissions{Publish: SubjectRule{Allow: []string{">"}}, Subscribe: SubjectRule{Allow: []string{">"}}}
	default:
		return Permissions{}, fmt.Errorf("unknown role %q", role)
	}
	return perm, nil
}
