package node

import (
	"fmt"

	"github.com/shoaldb/shoal/core/cluster"
	"github.com/shoaldb/shoal/core/kv"
)

// stateMachine is what a group's committed entries are applied to.
type stateMachine interface {
	// applied is the index the machine has applied, as it will be found
	// after a restart; raft resumes after it.
	applied() uint64
	// apply applies the command of the entry at index, proposed as id. A
	// rejected command changes nothing, identically on every replica; an
	// error is a broken store, which stops the node.
	apply(index uint64, id string, data []byte) (outcome, error)
	// skip records an entry with no command: a leader's empty entry or a
	// membership change.
	skip(index uint64)
	// flush ends a round of applies (one Ready's); sync makes it durable.
	flush(sync bool) error
	snapshot() ([]byte, error)
	// restore replaces the state with a snapshot taken at index, durably.
	restore(data []byte, index uint64) error
	// digest summarises the state, to compare replicas at one index.
	digest() string
}

// outcome is what applying a command produced.
type outcome struct {
	rejected error     // the command could not apply
	result   kv.Result // a key-value command's result
	// deciding: the command started a model change, which group 0
	// decides later (cluster.Config.ModelDecision).
	deciding bool
	// moved is the bucket move the command committed, if it did; its
	// bucket's new owner holds it from index movedAt of its log.
	moved   *cluster.BucketMove
	movedAt uint64
}

// configMachine is group 0's state machine: the cluster configuration, in
// memory, rebuilt after a restart from the latest snapshot and the entries
// after it.
type configMachine struct {
	conf  *cluster.Config
	index uint64
}

func (m *configMachine) applied() uint64 { return m.index }

func (m *configMachine) apply(index uint64, id string, data []byte) (outcome, error) {
	m.index = index
	cmd, err := cluster.DecodeCommand(data)
	if err != nil {
		return outcome{rejected: err}, nil
	}
	moving := m.conf.Move
	err = m.conf.ApplyAction(id, cmd)
	out := outcome{rejected: err, deciding: err == nil && cmd.Op == "model.propose"}
	if moving != nil && m.conf.Move == nil && m.conf.Buckets[moving.Bucket] == moving.To {
		out.moved, out.movedAt = moving, m.conf.BucketIndex[moving.Bucket]
	}
	return out, nil
}

func (m *configMachine) skip(index uint64)         { m.index = index }
func (m *configMachine) flush(bool) error          { return nil }
func (m *configMachine) snapshot() ([]byte, error) { return m.conf.Encode(), nil }

func (m *configMachine) restore(data []byte, index uint64) error {
	c, err := cluster.Decode(data)
	if err != nil {
		return err
	}
	m.conf, m.index = c, index
	return nil
}

func (m *configMachine) digest() string { return hashHex(m.conf.Encode()) }

// dataMachine is a replicaset's state machine: the key-value store, in
// pebble, with its applied index.
type dataMachine struct{ m *kv.Machine }

func (d dataMachine) applied() uint64 { return d.m.Applied() }

// apply ignores id: a key-value command carries its client and sequence
// number, by which the store applies it once.
func (d dataMachine) apply(index uint64, _ string, data []byte) (outcome, error) {
	cmd, err := kv.DecodeCommand(data)
	if err != nil {
		d.m.Skip(index)
		return outcome{rejected: err}, nil
	}
	res, err := d.m.Apply(index, cmd)
	return outcome{result: res}, err
}

func (d dataMachine) skip(index uint64)         { d.m.Skip(index) }
func (d dataMachine) flush(sync bool) error     { return d.m.Flush(sync) }
func (d dataMachine) snapshot() ([]byte, error) { return d.m.Snapshot() }

func (d dataMachine) restore(data []byte, index uint64) error { return d.m.Restore(data, index) }

func (d dataMachine) digest() string {
	h, err := d.m.Digest()
	if err != nil {
		panic(fmt.Sprintf("node: digest of the key-value store: %v", err))
	}
	return h
}

// hashHex is the FNV-1a 64-bit hash of the parts, in 16 hex digits: cheap,
// and enough to tell entries and states apart in a trace.
func hashHex(parts ...[]byte) string {
	h := uint64(fnvOffset)
	for _, p := range parts {
		h = fnv64a(h, p)
	}
	var b [16]byte
	for i := 15; i >= 0; i-- {
		b[i] = "0123456789abcdef"[h&0xf]
		h >>= 4
	}
	return string(b[:])
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// fnv64a continues an FNV-1a hash over b. (hash/fnv's hashers would be
// allocated on every call.)
func fnv64a(h uint64, b []byte) uint64 {
	for _, c := range b {
		h ^= uint64(c)
		h *= fnvPrime
	}
	return h
}
