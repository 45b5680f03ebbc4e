package simnet

import (
	"fmt"
	"testing"
	"time"

	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/simnet/toy"
)

// names returns n1..nN.
func names(n int) []env.NodeID {
	out := make([]env.NodeID, n)
	for i := range out {
		out[i] = env.NodeID(fmt.Sprintf("n%d", i+1))
	}
	return out
}

// others returns ids without self.
func others(ids []env.NodeID, self env.NodeID) []env.NodeID {
	var out []env.NodeID
	for _, id := range ids {
		if id != self {
			out = append(out, id)
		}
	}
	return out
}

// openWorld opens a World that the test closes.
func openWorld(t testing.TB, cfg Config) *World {
	t.Helper()
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// addToys adds n toy nodes that gossip and ping each other.
func addToys(t testing.TB, w *World, n int, cfg toy.Config) []env.NodeID {
	t.Helper()
	ids := names(n)
	for _, id := range ids {
		c := cfg
		c.Peers = others(ids, id)
		if err := w.AddNode(id, toy.Start(c)); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// records parses a kept trace.
func records(t testing.TB, w *World) []env.Record {
	t.Helper()
	recs, err := w.Records()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func str(r env.Record, key string) string {
	s, _ := r.Str(key)
	return s
}

func num(r env.Record, key string) int64 {
	n, _ := r.Int(key)
	return n
}

func run(t testing.TB, w *World, until time.Duration) {
	t.Helper()
	if err := w.Run(until); err != nil {
		t.Fatal(err)
	}
}
