package cli

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// natsDefaultAddr is where nats-server serves clients unless told
// otherwise.
const natsDefaultAddr = "nats://127.0.0.1:4222"

// natsBucketName is what nats.go accepts as a KV bucket's name.
var natsBucketName = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

// natsSystem is a NATS JetStream KV bucket through nats.go, each bench
// client with its own connection to one server (servers it learns of
// are ignored, so that the clients stay spread over the servers).
var natsSystem = &benchSystem{
	name:          "nats",
	consistencies: []string{consistencyStale},
	noConsistency: map[string]string{
		consistencyLinearizable: "NATS KV's gets are direct gets (the bucket's stream allows direct access, as nats.go creates it), which any caught-up replica answers",
	},
	defaultAddr: func() string { return natsDefaultAddr },
	normAddr:    func(a string) (string, error) { return hostPortAddr(a, "nats") },
	probe:       probeNATS,
	prepare: func(ctx context.Context, addrs []string, c benchConfig) error {
		return natsEnsureBucket(ctx, addrs[0], c.bucket, c.replicas, c.timeout)
	},
	dial:  dialNATS,
	write: "KV Put: a JetStream publish, acknowledged by the stream's leader once a majority of its replicas stored it (fsynced only with sync_interval: always)",
	read: map[string]string{
		consistencyStale: "KV Get: a direct get, answered by any caught-up replica of the bucket's stream (not linearizable)",
	},
}

// natsConnect connects to the one server at addr: the servers it learns
// of are ignored, so that a client stays where bench put it.
func natsConnect(addr string, timeout time.Duration) (*nats.Conn, error) {
	nc, err := nats.Connect(addr, nats.Name("shoal bench"), nats.Timeout(min(timeout, 3*time.Second)), nats.IgnoreDiscoveredServers())
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", addr, err)
	}
	return nc, nil
}

// natsJetStream connects as natsConnect does and opens JetStream on the
// connection; the caller closes the connection.
func natsJetStream(addr string, timeout time.Duration) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := natsConnect(addr, timeout)
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("JetStream at %s: %w", addr, err)
	}
	return nc, js, nil
}

// probeNATS connects to the server and asks JetStream for the account's
// information until it answers (the cluster's JetStream has a leader) or
// ctx ends.
func probeNATS(ctx context.Context, addr string, c benchConfig) error {
	nc, js, err := natsJetStream(addr, c.timeout)
	if err != nil {
		return err
	}
	defer nc.Close()
	for {
		_, err := js.AccountInfo(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("JetStream at %s: %w", addr, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// natsEnsureBucket binds to the KV bucket through the server at addr,
// or creates it (file storage, replicas copies) when there is none,
// trying again until it succeeds or ctx ends: a cluster whose JetStream
// has only just formed refuses a replicated stream for a moment.
func natsEnsureBucket(ctx context.Context, addr, bucket string, replicas int, timeout time.Duration) error {
	nc, js, err := natsJetStream(addr, timeout)
	if err != nil {
		return err
	}
	defer nc.Close()
	for {
		_, err := js.KeyValue(ctx, bucket)
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			_, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: bucket, Replicas: replicas, Storage: jetstream.FileStorage})
		}
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("KV bucket %s with %d replicas through %s: %w", bucket, replicas, addr, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// dialNATS opens one client's connection and binds it to the bucket.
func dialNATS(ctx context.Context, addr string, c benchConfig) (benchConn, error) {
	nc, js, err := natsJetStream(addr, c.timeout)
	if err != nil {
		return nil, err
	}
	bind, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	kv, err := js.KeyValue(bind, c.bucket)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("KV bucket %s through %s: %w", c.bucket, addr, err)
	}
	return &natsConn{nc: nc, kv: kv}, nil
}

// natsConn is one bench client's connection and its handle on the bucket.
type natsConn struct {
	nc *nats.Conn
	kv jetstream.KeyValue
}

func (n *natsConn) put(ctx context.Context, key string, value []byte) error {
	_, err := n.kv.Put(ctx, key, value)
	return natsError(err)
}

func (n *natsConn) get(ctx context.Context, key string) (bool, error) {
	_, err := n.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, nil
	}
	return err == nil, natsError(err)
}

func (n *natsConn) close() { n.nc.Close() }

// natsError names what NATS answered: a JetStream API error by its code,
// no responders; a deadline or a lost connection stays a transport
// failure.
func natsError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return fmt.Errorf("%w (%w)", context.DeadlineExceeded, err)
	case errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrDisconnected), errors.Is(err, nats.ErrConnectionReconnecting):
		return &opError{kind: "transport: connection closed", msg: err.Error()}
	case errors.Is(err, nats.ErrNoResponders), errors.Is(err, jetstream.ErrNoStreamResponse):
		return &opError{kind: "nats: no responders", msg: err.Error()}
	}
	if ae, ok := errors.AsType[*jetstream.APIError](err); ok {
		return &opError{kind: fmt.Sprintf("JetStream %d", ae.ErrorCode), msg: err.Error()}
	}
	return &opError{kind: "nats: other", msg: err.Error()}
}
