package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/status"
)

// etcdDefaultAddr is where etcd serves clients unless told otherwise.
const etcdDefaultAddr = "http://127.0.0.1:2379"

// etcdSystem is etcd through its own Go client, each bench client with
// its own clientv3.Client on one endpoint (one gRPC connection), so that
// the clients spread over the members as shoal's do over its instances.
var etcdSystem = &benchSystem{
	name:          "etcd",
	consistencies: []string{consistencyLinearizable, consistencyStale},
	defaultAddr:   func() string { return etcdDefaultAddr },
	normAddr:      func(a string) (string, error) { return hostPortAddr(a, "http") },
	probe:         probeEtcd,
	dial: func(_ context.Context, addr string, c benchConfig) (benchConn, error) {
		cl, err := newEtcdClient(addr, c.timeout)
		if err != nil {
			return nil, err
		}
		return &etcdConn{cl: cl, serializable: c.consistency == consistencyStale}, nil
	},
	write: "Put: acknowledged once a majority has it in its write-ahead log, fsynced",
	read: map[string]string{
		consistencyLinearizable: "Get (the default): linearizable, the leader confirms its leadership (ReadIndex) before the member answers",
		consistencyStale:        "Get with WithSerializable(): the member answers from its own store (not linearizable)",
	},
}

// newEtcdClient opens a client of the one member at addr; etcd's client
// logs nothing (its retries would flood the report's stderr).
func newEtcdClient(addr string, timeout time.Duration) (*clientv3.Client, error) {
	cl, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{addr},
		DialTimeout: min(timeout, 3*time.Second),
		Logger:      zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("etcd client of %s: %w", addr, err)
	}
	return cl, nil
}

// probeEtcd asks the member for its status until it knows a leader or
// ctx ends.
func probeEtcd(ctx context.Context, addr string, c benchConfig) error {
	cl, err := newEtcdClient(addr, c.timeout)
	if err != nil {
		return err
	}
	defer cl.Close()
	for {
		st, err := cl.Status(ctx, addr)
		if err == nil && st.Leader == 0 {
			err = errors.New("the member knows no leader")
		}
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// etcdConn is one bench client's etcd client.
type etcdConn struct {
	cl           *clientv3.Client
	serializable bool
}

func (e *etcdConn) put(ctx context.Context, key string, value []byte) error {
	_, err := e.cl.Put(ctx, key, string(value))
	return etcdError(err)
}

func (e *etcdConn) get(ctx context.Context, key string) (bool, error) {
	var opts []clientv3.OpOption
	if e.serializable {
		opts = append(opts, clientv3.WithSerializable())
	}
	resp, err := e.cl.Get(ctx, key, opts...)
	if err != nil {
		return false, etcdError(err)
	}
	return len(resp.Kvs) > 0, nil
}

func (e *etcdConn) close() { e.cl.Close() }

// etcdError names what etcd answered ("etcd: Unavailable", from its
// gRPC status); a deadline or a failure to connect stays a transport
// failure.
func etcdError(err error) error {
	if err == nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return err
	}
	if ee, ok := errors.AsType[rpctypes.EtcdError](err); ok {
		return &opError{kind: "etcd: " + ee.Code().String(), msg: ee.Error()}
	}
	if st, ok := status.FromError(err); ok {
		return &opError{kind: "etcd: " + st.Code().String(), msg: st.Message()}
	}
	return err
}
