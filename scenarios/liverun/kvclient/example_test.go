package kvclient_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"

	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/kv"
	"github.com/shoaldb/shoal/core/live"
	"github.com/shoaldb/shoal/scenarios/liverun/kvclient"
	"github.com/shoaldb/shoal/simnet/client"
)

// memory is a live.Backend that keeps the keys in a map.
type memory struct {
	mu    sync.Mutex
	keys  map[string]string
	index uint64
}

func (m *memory) Do(_ context.Context, req kv.Request) (kv.Response, error) {
	op, key, value, expected := req.Op, req.Key, req.Value, req.Expected
	m.mu.Lock()
	defer m.mu.Unlock()
	m.index++
	s, ok := m.keys[key]
	cur := kv.Value{S: s, Present: ok}
	switch op {
	case kv.OpGet:
		return kv.Response{Status: kv.StatusOK, Value: cur, Index: m.index}, nil
	case kv.OpCAS:
		if cur != expected {
			return kv.Response{Status: kv.StatusMismatch, Value: cur, Index: m.index}, nil
		}
		m.keys[key] = value
	case kv.OpPut:
		m.keys[key] = value
	case kv.OpDelete:
		delete(m.keys, key)
	}
	return kv.Response{Status: kv.StatusOK, Index: m.index}, nil
}

func (m *memory) Cluster(context.Context) (live.ClusterStatus, error) {
	return live.ClusterStatus{}, nil
}
func (m *memory) Ready() (bool, string) { return true, "" }

// printer is a Recorder that prints each event without its time.
type printer struct{ mu sync.Mutex }

func (p *printer) Note(node env.NodeID, kind string, fields ...env.Field) {
	p.mu.Lock()
	defer p.mu.Unlock()
	line := string(env.AppendLine(nil, 0, node, kind, fields))
	fmt.Print(strings.TrimPrefix(line, `{"time":0,`))
}

// A client reads every key of a server once, as the final reader does.
func ExampleRun() {
	srv := httptest.NewServer(live.NewAPI(&memory{keys: map[string]string{"k1": "c1-7"}},
		live.APIOptions{Logger: slog.New(slog.DiscardHandler)}))
	defer srv.Close()
	stats := kvclient.Run(context.Background(), kvclient.Config{
		Name:     "final",
		Servers:  map[env.NodeID]string{"n1": srv.URL},
		Process:  1 << 30,
		Recorder: &printer{},
	}, &client.Reads{Keys: []string{"k0", "k1"}})
	fmt.Printf("%+v\n", stats)
	// Output:
	// "node":"final","kind":"client.invoke","process":1073741824,"seq":1,"f":"read","key":"k0","value":"","absent":true}
	// "node":"final","kind":"client.ok","process":1073741824,"seq":1,"f":"read","key":"k0","value":"","absent":true,"index":1,"note":"n1"}
	// "node":"final","kind":"client.invoke","process":1073741824,"seq":2,"f":"read","key":"k1","value":"","absent":true}
	// "node":"final","kind":"client.ok","process":1073741824,"seq":2,"f":"read","key":"k1","value":"c1-7","absent":false,"index":2,"note":"n1"}
	// {OK:2 Fail:0 Info:0 Bad:0}
}
