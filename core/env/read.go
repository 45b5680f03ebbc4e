package env

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
)

// MaxTraceLine bounds one trace line; the simulator's lines are far
// shorter, so a longer one means the input is not a trace.
const MaxTraceLine = 1 << 20

// Limits of ReadTrace's shared allocations. A run's trace has hundreds of
// thousands of lines of a few dozen distinct shapes, so allocating per
// record, field or string made reading it mostly allocation and GC.
const (
	// recordChunk records are read before they are gathered into the
	// result; growing one slice instead would copy each record about four
	// times.
	recordChunk = 4096
	// fieldSlab fields share one allocation. A new slab is started when
	// fewer than fieldsPerLine are left, more than the simulator's lines
	// have; a longer line's fields get their own.
	fieldSlab     = 4096
	fieldsPerLine = 32
	// stringChunk bytes of strings share one allocation; a longer string
	// gets its own.
	stringChunk = 64 << 10
	// maxInterned is the longest string value that is interned: node
	// names, message kinds, groups and roles repeat, long notes rarely do.
	maxInterned = 64
)

// ReadTrace parses a trace in the JSON Lines format of simnet/README.md,
// whose times must not decrease. An error names the line.
//
// The records share memory: equal strings are often the same string, and
// the records' strings and fields are carved from shared blocks, which
// stay alive while any record using them does. Each record's Fields has
// no spare capacity, so appending to it copies.
func ReadTrace(r io.Reader) ([]Record, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxTraceLine)
	p := parser{strs: new(stringTable)}
	var (
		full    [][]Record // chunks of recordChunk records
		recs    []Record   // the chunk being filled
		fields  []Field    // the slab being filled
		n, line int
		last    int64
	)
	for sc.Scan() {
		line++
		if len(sc.Bytes()) == 0 {
			continue
		}
		// The fields are parsed straight into the slab, unless there are
		// more than it has room for and append moved them out.
		if cap(fields)-len(fields) < fieldsPerLine {
			fields = make([]Field, 0, fieldSlab)
		}
		p.fields = fields[len(fields):]
		// The record too is parsed in place, in the chunk.
		if len(recs) == cap(recs) {
			if recs != nil {
				full = append(full, recs)
			}
			recs = make([]Record, 0, recordChunk)
		}
		recs = recs[:len(recs)+1]
		rec := &recs[len(recs)-1]
		if err := p.record(sc.Bytes(), rec); err != nil {
			return nil, fmt.Errorf("trace line %d: %w", line, err)
		}
		if n > 0 && rec.Time < last {
			return nil, fmt.Errorf("trace line %d: time %d is before the previous line's %d", line, rec.Time, last)
		}
		switch k := len(p.fields); {
		case k == 0:
		case k <= cap(fields)-len(fields):
			fields = fields[:len(fields)+k]
			rec.Fields = fields[len(fields)-k : len(fields) : len(fields)]
		default:
			rec.Fields = p.fields[:k:k]
		}
		n++
		last = rec.Time
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("trace line %d: %w", line+1, err)
	}
	if n == 0 {
		return nil, nil
	}
	out := make([]Record, 0, n)
	for _, c := range full {
		out = append(out, c...)
	}
	return append(out, recs...), nil
}

// stringTable makes the strings of the records ReadTrace returns, so that
// they do not alias the scanner's buffer: interned when they repeat,
// carved from shared chunks otherwise.
type stringTable struct {
	// recent is a cache of the strings made lately, indexed by a hash of
	// their bytes. A string that misses takes its slot: the values that
	// repeat now (node names, kinds, keys, message kinds) stay, however
	// many unique ones (hashes, written values) come between, and the
	// table never grows.
	recent [1 << recentBits]string
	// chunk holds the bytes of the strings made so far. A strings.Builder
	// only ever appends, so the strings it returned stay as they were
	// while more are written after them.
	chunk strings.Builder
}

const recentBits = 12

// intern returns the string b, the same string as last time if b was
// seen lately.
func (t *stringTable) intern(b []byte) string {
	slot := &t.recent[hash(b)>>(64-recentBits)]
	if *slot == string(b) {
		return *slot
	}
	s := t.copy(b)
	*slot = s
	return s
}

// copy returns the string b.
func (t *stringTable) copy(b []byte) string {
	switch {
	case len(b) == 0:
		return ""
	case len(b) > stringChunk/8:
		return string(b)
	case t.chunk.Cap()-t.chunk.Len() < len(b):
		t.chunk = strings.Builder{}
		t.chunk.Grow(stringChunk)
	}
	start := t.chunk.Len()
	t.chunk.Write(b)
	return t.chunk.String()[start:]
}

// hash is a fast hash of b, eight bytes at a time, whose high bits are
// well mixed (Fibonacci hashing).
func hash(b []byte) uint64 {
	const mul = 0x9e3779b97f4a7c15
	h := uint64(len(b))
	for ; len(b) >= 8; b = b[8:] {
		h = (h ^ binary.LittleEndian.Uint64(b)) * mul
		h ^= h >> 32
	}
	var tail uint64
	for i, c := range b {
		tail |= uint64(c) << (8 * i)
	}
	return (h ^ tail) * mul
}
