package contracts

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/nats-io/nats.go/jetstream"
)

// ReadExecutors lists the heartbeats in the executors bucket kv (an expired
// one is gone): a watcher delivers the last value of every key, then a nil
// marker. An unreadable heartbeat is logged to log and skipped.
func ReadExecutors(ctx context.Context, kv jetstream.KeyValue, log *slog.Logger) ([]ExecutorInfo, error) {
	w, err := kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", ExecutorsBucket, err)
	}
	defer func() { _ = w.Stop() }()
	var infos []ExecutorInfo
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return nil, fmt.Errorf("watch %s: watcher closed", ExecutorsBucket)
			}
			if e == nil {
				return infos, nil
			}
			var info ExecutorInfo
			if err := json.Unmarshal(e.Value(), &info); err != nil {
				log.Warn("ignoring unreadable executor heartbeat", "key", e.Key(), "err", err)
				continue
			}
			if info.ID == "" {
				info.ID = e.Key()
			}
			infos = append(infos, info)
		case <-ctx.Done():
			return nil, fmt.Errorf("list %s: %w", ExecutorsBucket, ctx.Err())
		}
	}
}
