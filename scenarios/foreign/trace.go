package foreign

import (
	"slices"
	"sync"
	"time"

	"github.com/shoaldb/shoal/core/env"
)

// Recorder is the trace of a run: every event, in the simulator's format
// (simnet/README.md), stamped with the virtual time since the run began.
// Events come from many goroutines at once; each is stamped when it is
// recorded, under the recorder's lock, so times never go back from one
// line to the next. It lives in the run's synctest bubble, whose clock
// is the virtual one.
type Recorder struct {
	start time.Time

	mu     sync.Mutex
	buf    []byte
	events int64
	// down holds the nodes that are down: their events are dropped, so
	// that nothing of a killed node's last moments comes after its
	// node.kill.
	down map[env.NodeID]bool
}

// NewRecorder starts an empty trace whose time 0 is now.
func NewRecorder() *Recorder {
	return &Recorder{start: time.Now(), down: map[env.NodeID]bool{}}
}

// Now is the virtual time since the run began.
func (r *Recorder) Now() time.Duration { return time.Since(r.start) }

// Note records one event of node, unless node is down.
func (r *Recorder) Note(node env.NodeID, kind string, fields ...env.Field) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.down[node] {
		return
	}
	r.note(node, kind, fields)
}

// noteAlways records one event even if node is down: the world's
// observation of a message that reached a dead node.
func (r *Recorder) noteAlways(node env.NodeID, kind string, fields ...env.Field) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.note(node, kind, fields)
}

func (r *Recorder) note(node env.NodeID, kind string, fields []env.Field) {
	r.buf = env.AppendLine(r.buf, int64(time.Since(r.start)), node, kind, fields)
	r.events++
}

// setDown records kind (node.kill, node.start) for node and, in the same
// step, marks it down or up, so that no event of the node falls on the
// wrong side of it.
func (r *Recorder) setDown(node env.NodeID, down bool, kind string, fields ...env.Field) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if down {
		r.note(node, kind, fields)
		r.down[node] = true
		return
	}
	delete(r.down, node)
	r.note(node, kind, fields)
}

// Trace returns a copy of the trace so far and its number of events.
func (r *Recorder) Trace() ([]byte, int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.buf), r.events
}
