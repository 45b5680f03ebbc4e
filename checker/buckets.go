package checker

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/shoaldb/shoal/core/env"
)

// maxBucketViolations is how many violations Buckets names; it counts
// the rest.
const maxBucketViolations = 5

// bucketWrites are the client operations that write a bucket's keys
// through its replicaset's log (kv.Op names).
var bucketWrites = []string{"put", "delete", "cas", "put-object", "delete-object"}

// Buckets checks that every bucket is owned by exactly one replicaset at
// every moment, from the trace: group 0's bucket moves (bucket.owner,
// which every replica of group 0 records as it applies a move's commit:
// the first record of a move is when the configuration gave its bucket
// to the destination), the sources' freezes (move.frozen: from that
// index of its log on, the source applies no client write to the
// bucket), which data group each node serves (raft.state), and the
// clients' writes answered ok (kv.request, kv.response; a retry
// answered from the dedup table, kv.replay, is left out: the write it
// answers applied before, maybe at another replicaset). For each write
// to a bucket that moved, answered ok by a node of replicaset G at
// index i of G's log at time t:
//
//   - G owned the bucket at t: the destination of its latest move
//     committed at or before t, or the source of its first move if none
//     was. An answer from a source after the commit is accepted when it
//     is late only: the source froze the bucket for the move at an index
//     above i, and i is in the source's tenure (at or past the index the
//     move that brought the bucket there gave);
//   - G did not apply it after freezing the bucket: if G froze the
//     bucket for a committed move at index f < i, a later move brought
//     the bucket back to G, committed at or before t, and G holds it
//     from an index at or below i.
//
// The freeze of a move that never committed (aborted, or under way at
// the end) is not held against its source, which resumes the bucket's
// writes after an abort, and the trace does not say from which index.
// Writes
// to buckets that never moved are left out. A write answered by a node
// whose replicaset the trace does not say makes the verdict unknown. NA
// when no bucket moved.
func Buckets(trace []env.Record) Result {
	res := Result{Checker: "buckets"}
	o := readOwnership(trace)
	if len(o.moves) == 0 {
		res.Verdict, res.Explanation = NA, "no bucket moved"
		return res
	}
	var bad []*finding
	judged, replayed, unmoved, unattributed := 0, 0, 0, 0
	group := map[env.NodeID]string{} // node → its data group, as last recorded
	type request struct{ op, key string }
	requests := map[string]request{} // client + seq → its latest request
	for i := range trace {
		r := &trace[i]
		switch r.Kind {
		case "raft.state":
			if g, _ := r.Str("group"); g != "config" && g != "" {
				group[r.Node] = g
			}
		case "kv.request":
			c, _ := r.Str("client")
			seq, _ := r.Int("seq")
			op, _ := r.Str("op")
			key, _ := r.Str("key")
			requests[fmt.Sprintf("%s\x00%d", c, seq)] = request{op, key}
		case "kv.response":
			if st, _ := r.Str("status"); st != "ok" {
				continue
			}
			w := clientWrite{rec: r}
			w.client, _ = r.Str("client")
			w.seq, _ = r.Int("seq")
			w.index, _ = r.Int("index")
			req, ok := requests[fmt.Sprintf("%s\x00%d", w.client, w.seq)]
			if !ok || !slices.Contains(bucketWrites, req.op) {
				continue
			}
			w.op, w.key = req.op, req.key
			w.bucket = bucketOf(w.key, o.buckets)
			switch {
			case len(o.moves[w.bucket]) == 0:
				unmoved++
				continue
			case o.replays[replayOf(r.Node, w.client, w.seq, w.index)]:
				replayed++
				continue
			}
			w.group = group[r.Node]
			if w.group == "" {
				w.group = o.firstGroup[r.Node]
			}
			if w.group == "" {
				unattributed++
				continue
			}
			judged++
			if f := o.judge(&w); f != nil {
				bad = append(bad, f)
			}
		}
	}
	if len(bad) > 0 {
		whys := make([]string, 0, maxBucketViolations)
		for _, f := range bad[:min(len(bad), maxBucketViolations)] {
			whys = append(whys, f.why)
		}
		s := fmt.Sprintf("%d of %s to moved buckets broke their ownership: %s", len(bad), count(judged, "write"), strings.Join(whys, "; "))
		if len(bad) > maxBucketViolations {
			s += fmt.Sprintf("; and %d more", len(bad)-maxBucketViolations)
		}
		res.Verdict, res.Explanation = Invalid, s
		res.First = eventCulprit(bad[0].r, bad[0].why)
		return res
	}
	moved := 0
	for _, ms := range o.moves {
		if len(ms) > 0 {
			moved++
		}
	}
	frozen := 0
	for _, ms := range o.moves {
		for _, m := range ms {
			if m.frozen > 0 {
				frozen++
			}
		}
	}
	report := []string{fmt.Sprintf("%s of %s (of %d); %s to moved buckets, each accepted by the bucket's owner, none by a source after its freeze (the freezes of %d of the moves recorded)",
		count(o.count, "move"), count(moved, "bucket"), o.buckets, count(judged, "write"), frozen)}
	if replayed+unmoved > 0 {
		report = append(report, fmt.Sprintf("left out %s answered from the dedup table and %s to buckets that never moved",
			count(replayed, "retried write"), count(unmoved, "write")))
	}
	if o.uncommitted > 0 {
		report = append(report, fmt.Sprintf("%s of moves that never committed not judged", count(o.uncommitted, "freeze")))
	}
	res.Verdict = Valid
	if unattributed > 0 {
		res.Verdict = Unknown
		report = append([]string{fmt.Sprintf("%s to moved buckets answered by nodes whose replicaset the trace does not say (no raft.state of a data group)",
			count(unattributed, "write"))}, report...)
	}
	res.Explanation = strings.Join(report, "; ")
	return res
}

// bucketMove is a committed move of a bucket.
type bucketMove struct {
	rec      *env.Record // its first bucket.owner record: the configuration gave the bucket to `to` then
	id       int64
	bucket   int
	from, to string
	index    int64 // of to's log: to holds the bucket from there
	frozen   int64 // of from's log: from froze the bucket there; 0 if not recorded
}

// ownership is what the trace says of the buckets' owners.
type ownership struct {
	buckets     int                   // how many buckets keys spread over
	moves       map[int][]*bucketMove // by bucket, in the order of their IDs
	count       int                   // moves
	replays     map[string]bool       // replayOf the retries answered from the dedup table
	firstGroup  map[env.NodeID]string // node → the first data group it recorded a raft.state of
	uncommitted int                   // freezes of moves that never committed
}

func replayOf(node env.NodeID, client string, seq, index int64) string {
	return fmt.Sprintf("%s\x00%s\x00%d\x00%d", node, client, seq, index)
}

func readOwnership(trace []env.Record) *ownership {
	o := &ownership{moves: map[int][]*bucketMove{}, replays: map[string]bool{}, firstGroup: map[env.NodeID]string{}}
	byID := map[int64]*bucketMove{}
	type freeze struct {
		group  string
		move   int64
		bucket int64
		index  int64
	}
	var freezes []freeze
	for i := range trace {
		r := &trace[i]
		switch r.Kind {
		case "bucket.owner":
			id, _ := r.Int("move")
			if byID[id] != nil {
				continue
			}
			m := &bucketMove{rec: r, id: id}
			b, _ := r.Int("bucket")
			m.bucket = int(b)
			m.from, _ = r.Str("from")
			m.to, _ = r.Str("to")
			m.index, _ = r.Int("index")
			if n, _ := r.Int("buckets"); o.buckets == 0 && n > 0 {
				o.buckets = int(n)
			}
			byID[id] = m
			o.moves[m.bucket] = append(o.moves[m.bucket], m)
			o.count++
		case "move.frozen":
			var f freeze
			f.group, _ = r.Str("group")
			f.move, _ = r.Int("move")
			f.bucket, _ = r.Int("bucket")
			f.index, _ = r.Int("index")
			freezes = append(freezes, f)
		case "kv.replay":
			c, _ := r.Str("client")
			seq, _ := r.Int("seq")
			index, _ := r.Int("index")
			o.replays[replayOf(r.Node, c, seq, index)] = true
		case "raft.state":
			if g, _ := r.Str("group"); g != "config" && g != "" && o.firstGroup[r.Node] == "" {
				o.firstGroup[r.Node] = g
			}
		}
	}
	if o.buckets == 0 {
		o.moves, o.count = nil, 0 // a move of a bucket among none: nothing to judge by
		return o
	}
	for _, ms := range o.moves {
		slices.SortFunc(ms, func(a, b *bucketMove) int { return cmp.Compare(a.id, b.id) })
	}
	uncommitted := map[int64]bool{}
	for _, f := range freezes {
		m := byID[f.move]
		if m == nil {
			uncommitted[f.move] = true
			continue
		}
		if m.from == f.group && int64(m.bucket) == f.bucket && f.index > 0 && (m.frozen == 0 || f.index < m.frozen) {
			m.frozen = f.index
		}
	}
	o.uncommitted = len(uncommitted)
	return o
}

// clientWrite is a client's write answered ok.
type clientWrite struct {
	rec     *env.Record // the kv.response
	client  string
	seq     int64
	op, key string
	bucket  int
	group   string // the answering node's replicaset
	index   int64  // of its log
}

func (w *clientWrite) String() string {
	return fmt.Sprintf("%s (%s) answered %s's %s %d (key %q, bucket %d) ok at %s, at index %d of its log",
		w.rec.Node, w.group, w.client, w.op, w.seq, w.key, w.bucket, at(w.rec.Time), w.index)
}

// judge holds a write to a moved bucket to the rules of Buckets.
func (o *ownership) judge(w *clientWrite) *finding {
	ms := o.moves[w.bucket]
	t := w.rec.Time
	owner, next := ms[0].from, ms[0]
	var last *bucketMove
	for _, m := range ms {
		if m.rec.Time > t {
			next = m
			break
		}
		owner, last = m.to, m
	}
	if owner != w.group && !o.late(w) {
		if last == nil {
			return found(w.rec, "%s, but bucket %d was still %s's: move %d gave it to %s only at %s",
				w, w.bucket, owner, next.id, next.to, at(next.rec.Time))
		}
		return found(w.rec, "%s, but move %d had given bucket %d to %s at %s", w, last.id, w.bucket, owner, at(last.rec.Time))
	}
	for k, m := range ms {
		if m.from != w.group || m.frozen == 0 || w.index <= m.frozen {
			continue
		}
		back := slices.ContainsFunc(ms[k+1:], func(b *bucketMove) bool {
			return b.to == w.group && b.rec.Time <= t && b.index <= w.index
		})
		if !back {
			return found(w.rec, "%s, after %s froze bucket %d at index %d for move %d (which gave it to %s at %s)",
				w, w.group, w.bucket, m.frozen, m.id, m.to, at(m.rec.Time))
		}
	}
	return nil
}

// late reports whether a write a replicaset answered when it no longer
// owned the bucket had applied while it did: within one of its tenures
// of the bucket, from the index a move brought it there (or the start)
// to the index where it froze it for the move that took it away,
// committed at or before the answer.
func (o *ownership) late(w *clientWrite) bool {
	ms := o.moves[w.bucket]
	held, start := ms[0].from == w.group, int64(0)
	for _, m := range ms {
		if m.rec.Time > w.rec.Time {
			break
		}
		if m.from == w.group && held {
			if m.frozen > 0 && w.index >= start && w.index < m.frozen {
				return true
			}
			held = false
		}
		if m.to == w.group {
			held, start = true, m.index
		}
	}
	return false
}

// bucketOf is the bucket of key among n as core/kv's Bucket places it
// (the FNV-1a 64-bit hash of the key's bytes, modulo n), which the trace
// does not record. A checker imports core/env alone (README.md), so the
// hash is repeated here; TestBucketOfIsKVs holds the two equal.
func bucketOf(key string, n int) int {
	h := uint64(14695981039346656037)
	for i := 0; i < len(key); i++ {
		h ^= uint64(key[i])
		h *= 1099511628211
	}
	return int(h % uint64(n))
}
