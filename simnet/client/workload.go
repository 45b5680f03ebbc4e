package client

import (
	"fmt"
	"math/rand/v2"

	"github.com/shoaldb/shoal/core/kv"
)

// Mix is a random workload over the keys k0..k(Keys-1): each operation is a
// read, write, cas or delete with the given weights. Written values are
// unique ("ID-n"), so that any value read names the write that produced
// it; a cas expects the value this client last wrote to the key (or the
// key's absence) and writes a new unique value.
type Mix struct {
	ID                       string
	Keys                     int
	Read, Write, CAS, Delete float64
	// StaleRead weighs stale gets (Op.Stale). It comes last in the draw,
	// so that a mix without it draws exactly as before it existed.
	StaleRead float64
	// Ops bounds the operations; 0 means no bound.
	Ops int

	n    int
	last map[string]kv.Value
}

// Next implements Workload.
func (m *Mix) Next(r *rand.Rand) (Op, bool) {
	if m.Ops > 0 && m.n >= m.Ops {
		return Op{}, false
	}
	if m.last == nil {
		m.last = map[string]kv.Value{}
	}
	m.n++
	key := fmt.Sprintf("k%d", r.IntN(max(m.Keys, 1)))
	value := fmt.Sprintf("%s-%d", m.ID, m.n)
	x := r.Float64() * (m.Read + m.Write + m.CAS + m.Delete + m.StaleRead)
	switch {
	case x < m.Read:
		return Op{F: kv.OpGet, Key: key}, true
	case x < m.Read+m.Write:
		m.last[key] = kv.Some(value)
		return Op{F: kv.OpPut, Key: key, Value: value}, true
	case x < m.Read+m.Write+m.CAS:
		op := Op{F: kv.OpCAS, Key: key, Value: value, Expected: m.last[key]}
		m.last[key] = kv.Some(value)
		return op, true
	case m.StaleRead > 0 && x >= m.Read+m.Write+m.CAS+m.Delete:
		return Op{F: kv.OpGet, Key: key, Stale: true}, true
	}
	m.last[key] = kv.None
	return Op{F: kv.OpDelete, Key: key}, true
}

// Reads reads each of Keys once, in order: the final-read phase.
type Reads struct {
	Keys []string
	i    int
}

// Next implements Workload.
func (w *Reads) Next(*rand.Rand) (Op, bool) {
	if w.i >= len(w.Keys) {
		return Op{}, false
	}
	w.i++
	return Op{F: kv.OpGet, Key: w.Keys[w.i-1]}, true
}

// List runs Ops once each, in order.
type List struct {
	Ops []Op
	i   int
}

// Next implements Workload.
func (w *List) Next(*rand.Rand) (Op, bool) {
	if w.i >= len(w.Ops) {
		return Op{}, false
	}
	w.i++
	return w.Ops[w.i-1], true
}
