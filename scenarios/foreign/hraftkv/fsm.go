package hraftkv

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"maps"
	"slices"
	"sync"

	"github.com/hashicorp/raft"

	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/kv"
)

// command is one client operation as a log entry. Reads are entries too:
// hashicorp/raft has no read index, and a read applied in log order is
// linearizable by construction.
type command struct {
	Op       string  `json:"op"` // get, put, delete, cas
	Key      string  `json:"k"`
	Value    string  `json:"v,omitempty"`
	Expected *string `json:"e,omitempty"` // cas: nil expects the key absent
}

// result is what applying a command gave.
type result struct {
	value    kv.Value // get: read; cas mismatch: found
	mismatch bool     // a cas whose compare failed
}

func encode(f kv.Op, key, value string, expected kv.Value) ([]byte, error) {
	c := command{Op: f.String(), Key: key, Value: value}
	switch f {
	case kv.OpGet, kv.OpPut, kv.OpDelete:
	case kv.OpCAS:
		if expected.Present {
			c.Expected = &expected.S
		}
	default:
		return nil, fmt.Errorf("hraftkv serves get, put, delete and cas, not %s", f)
	}
	return json.Marshal(c)
}

// FSM is a node's state machine: a map from keys to values.
type FSM struct {
	note func(kind string, fields ...env.Field) // the node's trace

	mu      sync.Mutex // raft applies in its own goroutine; reads come from others
	data    map[string]string
	applied uint64 // the index of the last entry applied
	term    uint64 // its term
}

func newFSM(note func(kind string, fields ...env.Field)) *FSM {
	return &FSM{note: note, data: map[string]string{}}
}

// Apply applies one entry, and traces it (raft.apply: its index, term and
// a hash of its type and data, as shoal's engine hashes its entries).
func (f *FSM) Apply(l *raft.Log) any {
	h := fnv.New64a()
	h.Write([]byte{byte(l.Type)})
	h.Write(l.Data)
	f.note("raft.apply", env.Str("group", Group), env.Int("index", int64(l.Index)), env.Int("term", int64(l.Term)),
		env.Str("hash", fmt.Sprintf("%016x", h.Sum64())))
	var c command
	err := json.Unmarshal(l.Data, &c)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applied, f.term = l.Index, l.Term
	if err != nil {
		return fmt.Errorf("entry %d is no command: %v", l.Index, err)
	}
	cur, ok := f.data[c.Key]
	found := kv.Value{S: cur, Present: ok}
	switch c.Op {
	case "get":
		return result{value: found}
	case "put":
		f.data[c.Key] = c.Value
	case "delete":
		delete(f.data, c.Key)
	case "cas":
		if ok != (c.Expected != nil) || ok && cur != *c.Expected {
			return result{value: found, mismatch: true}
		}
		f.data[c.Key] = c.Value
	default:
		return fmt.Errorf("entry %d: unknown operation %q", l.Index, c.Op)
	}
	return result{}
}

// Get reads key from this node's own state, whatever it has applied: a
// stale read.
func (f *FSM) Get(key string) (kv.Value, uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.data[key]
	return kv.Value{S: v, Present: ok}, f.applied
}

// State returns the index of the last entry applied and a digest of the
// map.
func (f *FSM) State() (applied uint64, digest string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.applied, digestOf(f.data)
}

// digestOf is a digest of a map: equal maps, equal digests.
func digestOf(data map[string]string) string {
	h := sha256.New()
	for _, k := range slices.Sorted(maps.Keys(data)) {
		fmt.Fprintf(h, "%q=%q\n", k, data[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Snapshot captures the map, and traces it (raft.compact: the index and
// term of the last entry applied and the map's digest, as sm.digest's,
// for the convergence check). Raft calls it every SnapshotInterval once
// SnapshotThreshold entries have been appended since the last.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.note("raft.compact", env.Str("group", Group), env.Int("index", int64(f.applied)), env.Int("term", int64(f.term)),
		env.Str("digest", digestOf(f.data)))
	return snapshot{Data: maps.Clone(f.data), Applied: f.applied, Term: f.term}, nil
}

// Restore replaces the map with a snapshot's, and traces it
// (raft.snapshot.install): one the leader sent (InstallSnapshot), or at
// a restart the node's own latest.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var s snapshot
	if err := json.NewDecoder(rc).Decode(&s); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if s.Data == nil {
		s.Data = map[string]string{}
	}
	f.data, f.applied, f.term = s.Data, s.Applied, s.Term
	f.note("raft.snapshot.install", env.Str("group", Group), env.Int("index", int64(f.applied)), env.Int("term", int64(f.term)),
		env.Str("digest", digestOf(f.data)))
	return nil
}

type snapshot struct {
	Data    map[string]string `json:"data"`
	Applied uint64            `json:"applied"`
	Term    uint64            `json:"term"`
}

func (s snapshot) Persist(sink raft.SnapshotSink) error {
	if err := json.NewEncoder(sink).Encode(s); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s snapshot) Release() {}
