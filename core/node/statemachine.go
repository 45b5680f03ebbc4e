package node

import (
	"encoding/binary"
	"fmt"

	"github.com/shoaldb/shoal/core/cluster"
)

// stateMachine is what a group's committed entries are applied to. It is
// rebuilt after a restart from the group's latest snapshot and the entries
// committed after it, so it lives in memory.
type stateMachine interface {
	// apply applies one command; an error rejects it, identically on every
	// replica.
	apply(data []byte) error
	snapshot() []byte
	restore(data []byte) error
	// digest summarises the state, for convergence checks.
	digest() string
}

// configMachine is group 0's state machine: the cluster configuration.
type configMachine struct{ conf *cluster.Config }

func (m *configMachine) apply(data []byte) error {
	cmd, err := cluster.DecodeCommand(data)
	if err != nil {
		return err
	}
	return m.conf.Apply(cmd)
}

func (m *configMachine) snapshot() []byte { return m.conf.Encode() }

func (m *configMachine) restore(data []byte) error {
	c, err := cluster.Decode(data)
	if err != nil {
		return err
	}
	m.conf = c
	return nil
}

func (m *configMachine) digest() string { return hashHex(m.conf.Encode()) }

// chainMachine is a data group's state machine until the key-value store
// arrives: a running hash over every command applied, so that replicas that
// applied different commands, or the same ones in a different order,
// disagree.
type chainMachine struct {
	count uint64
	hash  uint64
}

func (m *chainMachine) apply(data []byte) error {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], m.hash)
	m.hash = fnv64a(fnv64a(fnvOffset, b[:]), data)
	m.count++
	return nil
}

func (m *chainMachine) snapshot() []byte {
	b := binary.BigEndian.AppendUint64(nil, m.count)
	return binary.BigEndian.AppendUint64(b, m.hash)
}

func (m *chainMachine) restore(data []byte) error {
	if len(data) != 16 {
		return fmt.Errorf("node: a chain snapshot is 16 bytes, not %d", len(data))
	}
	m.count = binary.BigEndian.Uint64(data)
	m.hash = binary.BigEndian.Uint64(data[8:])
	return nil
}

func (m *chainMachine) digest() string { return fmt.Sprintf("%016x", m.hash) }

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
