package checker

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/shoaldb/shoal/core/env"
)

// OutboundFinal is a replicaset's outbound queue as read after the
// recovery: how many positions it ever gave (its tail), and the positions
// of the messages still waiting or in the outbound repair queue.
type OutboundFinal struct {
	Replicaset string
	Tail       uint64
	Waiting    []uint64
	Repaired   []uint64
}

// Outbound judges the delivery of the outbound queues to simulated
// endpoints, from what the endpoints recorded (endpoint.receive: the
// destination, the idempotency key "<replicaset>-<origin>", the order key,
// the position, whether the key was taken before, and a hash of the body)
// and from the queues' final state:
//
//   - at least once: every position a replicaset gave reached an endpoint,
//     or is in its repair queue; none still waits after the recovery;
//   - effect exactly once: an endpoint took each idempotency key once as
//     new, and every copy of it carried the same body;
//   - order: the messages of one order key reached their destination in
//     the order of their positions.
//
// It holds for runs in which no operator retried an outbound repair entry
// (a retry gives a message a new position under its old key).
func Outbound(trace []env.Record, finals []OutboundFinal) Result {
	res := Result{Checker: "outbound"}
	type receipt struct {
		rec    *env.Record
		origin uint64
		body   string
	}
	first := map[string]*receipt{} // idempotency key → first receipt
	taken := map[string]int{}      // idempotency key → receipts as new
	origins := map[string]map[uint64]bool{}
	lastSeq := map[string]int64{} // destination, replicaset, order key → last position taken as new
	var pushes, receipts, dups, refusals int
	for i := range trace {
		r := &trace[i]
		switch r.Kind {
		case "outbound.push":
			pushes++
			continue
		case "endpoint.refuse":
			refusals++
			continue
		case "endpoint.receive":
		default:
			continue
		}
		receipts++
		dest, _ := r.Str("destination")
		key, _ := r.Str("key")
		order, _ := r.Str("order")
		rs, _ := r.Str("replicaset")
		seq, _ := r.Int("seq")
		dup, _ := r.Int("dup")
		body, _ := r.Str("body")
		i := strings.LastIndexByte(key, '-')
		origin, err := strconv.ParseUint(key[i+1:], 10, 64)
		if i < 0 || err != nil || key[:i] != rs {
			return invalidAt(res, r, fmt.Sprintf("%s took a message with idempotency key %q, not one of replicaset %s", dest, key, rs))
		}
		if origins[rs] == nil {
			origins[rs] = map[uint64]bool{}
		}
		origins[rs][origin] = true
		if f := first[key]; f == nil {
			first[key] = &receipt{rec: r, origin: origin, body: body}
		} else if f.body != body {
			return invalidAt(res, r, fmt.Sprintf("%s took message %s with another body (%s) than the first time (%s)", dest, key, body, f.body))
		}
		if dup != 0 {
			dups++
			continue
		}
		if taken[key]++; taken[key] > 1 {
			return invalidAt(res, r, fmt.Sprintf("%s took message %s as new twice: its effect happened twice", dest, key))
		}
		ok := dest + "\x00" + rs + "\x00" + order
		if last, seen := lastSeq[ok]; seen && seq <= last {
			return invalidAt(res, r, fmt.Sprintf("%s took position %d of key %q after position %d: out of order", dest, seq, order, last))
		}
		lastSeq[ok] = seq
	}
	for _, f := range finals {
		if len(f.Waiting) > 0 {
			res.Verdict = Invalid
			res.Explanation = fmt.Sprintf("replicaset %s: %d outbound messages still wait after the recovery (first: position %d)", f.Replicaset, len(f.Waiting), f.Waiting[0])
			return res
		}
		repaired := map[uint64]bool{}
		for _, s := range f.Repaired {
			repaired[s] = true
		}
		var missing []uint64
		for pos := uint64(1); pos <= f.Tail; pos++ {
			if !origins[f.Replicaset][pos] && !repaired[pos] {
				missing = append(missing, pos)
			}
		}
		if len(missing) > 0 {
			res.Verdict = Invalid
			res.Explanation = fmt.Sprintf("replicaset %s: %d outbound messages never reached their destination nor the repair queue (positions %s)",
				f.Replicaset, len(missing), firstFew(missing))
			return res
		}
	}
	total := uint64(0)
	for _, f := range finals {
		total += f.Tail
	}
	if receipts == 0 && total == 0 {
		res.Verdict = NA
		res.Explanation = "no outbound messages"
		return res
	}
	res.Verdict = Valid
	res.Explanation = fmt.Sprintf("%d outbound messages each reached its destination or the repair queue; %d receipts, %d of them duplicates (taken once), %d refusals, %d pushes; per-key order kept",
		total, receipts, dups, refusals, pushes)
	return res
}

func invalidAt(res Result, r *env.Record, what string) Result {
	res.Verdict = Invalid
	res.Explanation = what
	res.First = &Culprit{Time: r.Time, Node: string(r.Node), What: what}
	return res
}

func firstFew(xs []uint64) string {
	var b strings.Builder
	for i, x := range xs[:min(len(xs), 8)] {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.FormatUint(x, 10))
	}
	if len(xs) > 8 {
		fmt.Fprintf(&b, " and %d more", len(xs)-8)
	}
	return b.String()
}
