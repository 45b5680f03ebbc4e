package checker

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shoaldb/shoal/core/env"
)

// Delivery judges an ingest run: clients handed messages, each with an id
// of its own, to the inbound queue (history f "enqueue", expect naming the
// object the message should become, or empty for one built to fail), and
// at the end a reader at process final (and only it) read every expected
// object with its history (f "read-object" with a history count) and every
// replicaset's queues with the repair queue listed (f "read-queue").
//
// Every acknowledged message must have taken effect exactly once: its
// object stored and written once (no earlier version in its history), or
// the message in the repair queue with a reason; never both. A message
// every attempt of which was refused (busy, invalid) must have taken no
// effect; one of unknown outcome may have, once. A message built to fail
// must not be stored. After the recovery no message may still wait.
//
// Records produced to a simulated Kafka broker (kafka.produce, with the
// object each should become in expect) are messages too, acknowledged when
// the broker appended them: each must take effect exactly once, as an
// acknowledged message must. Besides, no offset the broker committed
// (kafka.commit) may cover a record whose enqueue the queue had not
// acknowledged (kv.response ok to the consumer's kv.request), and after
// the recovery every partition must be committed to its end.
//
// The explanation also gives what the run measured: how many messages
// were acknowledged, refused as busy, stored and repaired, the latency from
// acknowledgement (for a record, its production) to the leader's settling
// of the message (queue.settle), and the deepest queue seen (queue.state).
func Delivery(trace []env.Record, final int64) Result {
	res := Result{Checker: "delivery"}
	type message struct {
		id, expect     string
		ok, fail, info int
		busy           int
		acked          *env.Record // the first ok; a record's kafka.produce
		rs             string
		pos            int64
		record         bool // produced to a broker
	}
	msgs := map[string]*message{}
	var order []string
	running := map[[2]int64]string{} // (process, seq) → message id
	stored := map[string]int{}       // object label → earlier versions kept (-1: absent)
	storedAt := map[string]*env.Record{}
	repaired := map[string]string{} // message id → reason
	queueReads := 0
	depth := map[string]int{}
	truncated := ""
	var peak int64
	peakRS := ""
	settles := map[string][]settling{}
	k := newKafkaLog()
	for i := range trace {
		r := &trace[i]
		switch r.Kind {
		case "kafka.produce":
			id, _ := r.Str("id")
			expect, _ := r.Str("expect")
			if msgs[id] == nil {
				order = append(order, id)
			}
			msgs[id] = &message{id: id, expect: expect, ok: 1, acked: r, record: true}
			k.produced(r, id)
			continue
		case "kv.request", "kv.response":
			k.enqueue(r, func(id, rs string, pos int64) {
				if m := msgs[id]; m != nil && m.record && m.rs == "" {
					m.rs, m.pos = rs, pos
				}
			})
			continue
		case "kafka.refuse":
			k.refusal(r)
			continue
		case "kafka.commit":
			if bad := k.commit(r); bad != nil {
				res.Verdict, res.Explanation = Invalid, bad.What
				res.First = bad
				return res
			}
			continue
		case "queue.state":
			if d, _ := r.Int("depth"); d > peak {
				peak = d
				peakRS, _ = r.Str("group")
			}
			continue
		case "queue.settle":
			id, _ := r.Str("id")
			n, _ := r.Int("settled")
			parts := strings.Split(id, "/")
			if len(parts) != 4 || n <= 0 {
				continue
			}
			first, err1 := strconv.ParseInt(parts[2], 10, 64)
			last, err2 := strconv.ParseInt(parts[3], 10, 64)
			if err1 == nil && err2 == nil && last-first+1 == n {
				settles[parts[1]] = append(settles[parts[1]], settling{r.Time, first, last})
			}
			continue
		case "client.invoke", "client.ok", "client.fail", "client.info":
		default:
			continue
		}
		f, _ := r.Str("f")
		p, _ := r.Int("process")
		seq, _ := r.Int("seq")
		key, _ := r.Str("key")
		switch {
		case f == "enqueue" && p < final:
			if r.Kind == "client.invoke" {
				running[[2]int64{p, seq}] = key
				if msgs[key] == nil {
					expect, _ := r.Str("expect")
					msgs[key] = &message{id: key, expect: expect}
					order = append(order, key)
				}
				continue
			}
			m := msgs[running[[2]int64{p, seq}]]
			delete(running, [2]int64{p, seq})
			if m == nil {
				res.Verdict, res.Explanation = Unknown, fmt.Sprintf("%s of process %d, seq %d, which was never invoked", r.Kind, p, seq)
				return res
			}
			switch r.Kind {
			case "client.ok":
				m.ok++
				if m.acked == nil {
					m.acked = r
					m.rs, _ = r.Str("replicaset")
					m.pos, _ = r.Int("position")
				}
			case "client.fail":
				m.fail++
				if note, _ := r.Str("note"); strings.HasPrefix(note, "busy") {
					m.busy++
				}
			default:
				m.info++
			}
		case f == "read-object" && p == final && r.Kind != "client.invoke":
			if r.Kind != "client.ok" {
				continue
			}
			if absent, _ := r.Bool("absent"); absent {
				stored[key] = -1
				continue
			}
			h, _ := r.Int("history")
			stored[key] = int(h)
			storedAt[key] = r
		case f == "read-queue" && p == final && r.Kind == "client.ok":
			queueReads++
			v, _ := r.Str("value")
			var q struct {
				Replicaset string `json:"replicaset"`
				Depth      int    `json:"depth"`
				Repairs    int    `json:"repairs"`
				Entries    []struct {
					ID     string `json:"id"`
					Reason string `json:"reason"`
				} `json:"entries"`
			}
			if err := json.Unmarshal([]byte(v), &q); err != nil {
				res.Verdict, res.Explanation = Unknown, fmt.Sprintf("the final read of %s's queues does not decode: %v", key, err)
				return res
			}
			depth[q.Replicaset] = q.Depth
			if len(q.Entries) < q.Repairs {
				truncated = fmt.Sprintf("%s holds %d repair entries and the final read listed %d", q.Replicaset, q.Repairs, len(q.Entries))
			}
			for _, e := range q.Entries {
				repaired[e.ID] = e.Reason
			}
		}
	}
	if len(msgs) == 0 {
		res.Verdict, res.Explanation = NA, "no messages were sent"
		return res
	}
	invalid := func(r *env.Record, format string, args ...any) Result {
		res.Verdict, res.Explanation = Invalid, fmt.Sprintf(format, args...)
		if r != nil {
			res.First = &Culprit{Time: r.Time, Node: string(r.Node), What: res.Explanation}
		}
		return res
	}
	for _, rs := range slices.Sorted(maps.Keys(depth)) {
		if depth[rs] > 0 {
			return invalid(nil, "%d messages still wait in %s's inbound queue after the recovery", depth[rs], rs)
		}
	}
	var acked, busy, stores, repairs, unknownDone, refused int
	var lat []time.Duration
	for _, id := range order {
		m := msgs[id]
		n, isStored := stored[m.expect]
		inStore := m.expect != "" && isStored && n >= 0
		reason, inRepair := repaired[id]
		effect := inStore || inRepair
		switch {
		case inStore && n > 0:
			return invalid(storedAt[m.expect], "message %s took effect %d times: %s was written %d times", id, n+1, m.expect, n+1)
		case inStore && inRepair:
			return invalid(storedAt[m.expect], "message %s was both stored (%s) and sent to the repair queue (%s)", id, m.expect, reason)
		case inRepair && reason == "":
			return invalid(m.acked, "message %s is in the repair queue without a reason", id)
		case m.ok > 0 && !effect && m.expect != "" && !isStored:
			res.Verdict = Unknown
			res.Explanation = fmt.Sprintf("the final read of %s (message %s) has no outcome", m.expect, id)
			return res
		case m.record && !effect:
			p, _ := m.acked.Int("partition")
			off, _ := m.acked.Int("offset")
			return invalid(m.acked, "record %s (partition %d, offset %d) was produced and is neither stored nor in the repair queue: lost", id, p, off)
		case m.ok > 0 && !effect:
			by, _ := m.acked.Str("note")
			return invalid(m.acked, "message %s was acknowledged (by %s, as position %d of %s's queue) and is neither stored nor in the repair queue: lost",
				id, by, m.pos, m.rs)
		case m.ok == 0 && m.info == 0 && effect:
			return invalid(storedAt[m.expect], "message %s was refused every time it was sent and took effect", id)
		case m.expect == "" && inStore:
			return invalid(storedAt[m.expect], "message %s, built to fail, was stored", id)
		}
		switch {
		case m.ok > 0:
			acked++
			if inStore {
				stores++
			} else {
				repairs++
			}
			if at, ok := settledAt(settles[m.rs], m.pos); ok {
				lat = append(lat, time.Duration(max(at-m.acked.Time, 0)))
			}
		case m.info > 0:
			if effect {
				unknownDone++
			}
		default:
			refused++
		}
		if m.busy > 0 {
			busy++
		}
	}
	if behind := k.behind(); behind != "" {
		return invalid(nil, "%s", behind)
	}
	if truncated != "" {
		res.Verdict, res.Explanation = Unknown, truncated
		return res
	}
	if queueReads == 0 {
		res.Verdict, res.Explanation = Unknown, "the final read of the queues has no outcome"
		return res
	}
	res.Verdict = Valid
	res.Explanation = fmt.Sprintf("%d messages sent, %d acknowledged: %d stored once, %d in the repair queue with a reason; "+
		"%d refused (%d of them busy at least once), %d of unknown outcome that took effect once, the rest none; "+
		"%s%s; deepest queue %d (%s)",
		len(order), acked, stores, repairs, refused, busy, unknownDone, k.summary(), latencySummary(lat), peak, peakRS)
	return res
}

// settling is a leader's settling of positions first..last of a queue.
type settling struct {
	at          int64
	first, last int64
}

// settledAt is when the leader settled the message at position pos: the
// first complete settling that covered it.
func settledAt(ss []settling, pos int64) (int64, bool) {
	for _, s := range ss {
		if s.first <= pos && pos <= s.last {
			return s.at, true
		}
	}
	return 0, false
}

// latencySummary gives percentiles of acknowledgement-to-settled latency.
func latencySummary(lat []time.Duration) string {
	if len(lat) == 0 {
		return "no latency measured"
	}
	slices.Sort(lat)
	q := func(p float64) time.Duration {
		d := lat[min(len(lat)-1, int(p*float64(len(lat))))]
		if d >= time.Millisecond {
			d = d.Round(time.Microsecond)
		}
		return d
	}
	return fmt.Sprintf("acknowledged to settled p50 %s, p99 %s, max %s over %d messages", q(0.5), q(0.99), q(1), len(lat))
}
