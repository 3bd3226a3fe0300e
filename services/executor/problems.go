package executor

import (
	"context"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/contracts/client"
)

// problemStore reads problem packages from the problems object store,
// which it opens on first use (the gateway creates it; an executor only
// reads it).
type problemStore struct {
	js  jetstream.JetStream
	mu  sync.Mutex
	obs jetstream.ObjectStore
}

// load reads version of problem id of tenant (client.LoadProblem).
func (p *problemStore) load(ctx context.Context, tenant, id, version string) (*contracts.ProblemPackage, error) {
	p.mu.Lock()
	if p.obs == nil {
		obs, err := p.js.ObjectStore(ctx, contracts.ProblemsStore)
		if err != nil {
			p.mu.Unlock()
			return nil, fmt.Errorf("open the problems store: %w", err)
		}
		p.obs = obs
	}
	obs := p.obs
	p.mu.Unlock()
	return client.LoadProblem(ctx, obs, tenant, id, version)
}
