package simnet

import (
	"crypto/sha256"
	"hash"
	"io"

	"github.com/shoaldb/shoal/core/env"
)

// chunkSize is how many bytes of rendered trace are hashed and handed on at
// once. Large enough that SHA-256 and the sink's Write are amortised, small
// enough to stay in cache.
const chunkSize = 64 << 10

// recorder renders trace events to JSON lines as they happen, hashes them,
// and keeps them (in memory, or in a sink the caller provides). Rendering
// and hashing one event costs about 90 ns, which keeps tracing a modest
// share of a simulated event's cost.
type recorder struct {
	buf    []byte
	hash   hash.Hash
	keep   bool
	chunks [][]byte
	sink   io.Writer
	err    error
	events int64
	bytes  int64
}

func newRecorder(keep bool, sink io.Writer) *recorder {
	return &recorder{buf: make([]byte, 0, chunkSize+4096), hash: sha256.New(), keep: keep, sink: sink}
}

func (r *recorder) line(t int64, node env.NodeID, kind string, fields []env.Field) {
	r.buf = env.AppendLine(r.buf, t, node, kind, fields)
	r.events++
	if len(r.buf) >= chunkSize {
		r.flush()
	}
}

func (r *recorder) flush() {
	if len(r.buf) == 0 {
		return
	}
	r.hash.Write(r.buf)
	r.bytes += int64(len(r.buf))
	if r.sink != nil && r.err == nil {
		_, r.err = r.sink.Write(r.buf)
	}
	if r.keep {
		r.chunks = append(r.chunks, r.buf)
		r.buf = make([]byte, 0, chunkSize+4096)
	} else {
		r.buf = r.buf[:0]
	}
}

func (r *recorder) sum() [32]byte {
	r.flush()
	var out [32]byte
	r.hash.Sum(out[:0])
	return out
}

// writeTo writes the kept trace.
func (r *recorder) writeTo(w io.Writer) (int64, error) {
	r.flush()
	var n int64
	for _, c := range r.chunks {
		m, err := w.Write(c)
		n += int64(m)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
