package runner

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/shoaldb/shoal/checker"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/node"
	"github.com/shoaldb/shoal/scenarios/scenario"
	"github.com/shoaldb/shoal/simnet"
	"github.com/shoaldb/shoal/simnet/harness"
)

// Source is the node field of the trace events the runner records itself
// (outbound.final).
const Source env.NodeID = "runner"

// OutboundDrainLimit bounds how long after the final reads a run waits
// for every replicaset's outbound queue to empty: past it the queue's
// state is recorded as it is, and the outbound check says what still
// waits.
const OutboundDrainLimit = time.Minute

// Endpoints names the outbound destinations a scenario's pipeline
// declares: the run simulates an endpoint for each.
func Endpoints(s *scenario.Scenario) []string {
	return scenario.PipelineDestinations(s.Cluster.Pipeline)
}

// drainOutbound runs the world until no replicaset's outbound queue holds
// a message, as its most up-to-date replica applied it, or until
// OutboundDrainLimit has passed; then, if it waited, for Settle more, so
// that every replica applies the last settling.
func drainOutbound(w *simnet.World, c *harness.Cluster, progress func()) error {
	return drainWhile(w, func() bool { return outboundWaiting(c) }, OutboundDrainLimit, progress)
}

// outboundWaiting reports whether some replicaset's outbound queue still
// holds a message (or cannot be read: no replica is up).
func outboundWaiting(c *harness.Cluster) bool {
	for _, rs := range c.Replicasets() {
		_, n := upToDate(c, rs)
		if n == nil {
			return true
		}
		_, waiting, _, err := n.OutboundQueue(rs)
		if err != nil || len(waiting) > 0 {
			return true
		}
	}
	return false
}

// upToDate is the member of replicaset rs that is up and has applied the
// most of its log (the first in member order among equals), or nil when
// none is up.
func upToDate(c *harness.Cluster, rs string) (env.NodeID, *node.Node) {
	var best env.NodeID
	var applied uint64
	for _, id := range c.Members(rs) {
		st, ok := c.Status(id, rs)
		if ok && (best == "" || st.Applied > applied) {
			best, applied = id, st.Applied
		}
	}
	if best == "" {
		return "", nil
	}
	return best, c.Node(best)
}

// recordOutboundFinals reads every replicaset's outbound queue from its
// most up-to-date replica and records it in the trace, one outbound.final
// each (node Source): replicaset, replica (the instance read; empty when
// none was up), applied (its applied index), tail (the last position the
// queue gave), waiting (the positions still waiting, comma-separated) and
// repaired (the origins of the outbound repair entries). The outbound
// check reads them back (OutboundFinals), so that `shoal check` judges a
// run directory again from its trace alone.
func recordOutboundFinals(w *simnet.World, c *harness.Cluster) error {
	// A cluster of several names itself, so that each cluster's check
	// reads its own (Part).
	var named []env.Field
	if c.Name != "" {
		named = []env.Field{env.Str("cluster", c.Name)}
	}
	for _, rs := range c.Replicasets() {
		id, n := upToDate(c, rs)
		if n == nil {
			w.Note(Source, "outbound.final", append([]env.Field{env.Str("replicaset", rs), env.Str("replica", ""), env.Uint("applied", 0),
				env.Uint("tail", 0), env.Str("waiting", ""), env.Str("repaired", "")}, named...)...)
			continue
		}
		st, _ := c.Status(id, rs)
		tail, waiting, repairs, err := n.OutboundQueue(rs)
		if err != nil {
			return fmt.Errorf("runner: reading %s's outbound queue on %s: %w", rs, id, err)
		}
		seqs := make([]uint64, len(waiting))
		for i, e := range waiting {
			seqs[i] = e.Seq
		}
		origins := make([]uint64, len(repairs))
		for i, e := range repairs {
			origins[i] = e.Origin
		}
		w.Note(Source, "outbound.final", append([]env.Field{env.Str("replicaset", rs), env.Str("replica", string(id)), env.Uint("applied", st.Applied),
			env.Uint("tail", tail), env.Str("waiting", joinUints(seqs)), env.Str("repaired", joinUints(origins))}, named...)...)
	}
	return nil
}

// OutboundFinals reads the outbound.final records of a trace. why says,
// when they cannot be judged, why not: there are none (a live run, whose
// harness cannot read an instance's queue, or a trace from before the
// check), or no replica of a replicaset was up to read.
func OutboundFinals(trace []env.Record) (finals []checker.OutboundFinal, why string) {
	for i := range trace {
		r := &trace[i]
		if r.Kind != "outbound.final" || r.Node != Source {
			continue
		}
		rs, _ := r.Str("replicaset")
		if replica, _ := r.Str("replica"); replica == "" {
			return nil, fmt.Sprintf("no replica of %s was up to read its outbound queue after the recovery", rs)
		}
		tail, _ := r.Int("tail")
		f := checker.OutboundFinal{Replicaset: rs, Tail: uint64(tail)}
		var err error
		waiting, _ := r.Str("waiting")
		repaired, _ := r.Str("repaired")
		if f.Waiting, err = splitUints(waiting); err == nil {
			f.Repaired, err = splitUints(repaired)
		}
		if err != nil {
			return nil, fmt.Sprintf("outbound.final of %s at %s: %v", rs, time.Duration(r.Time), err)
		}
		finals = append(finals, f)
	}
	if len(finals) == 0 {
		return nil, "the trace has no final read of the outbound queues (outbound.final): the run could not read them"
	}
	return finals, ""
}

// CheckOutbound judges the outbound queues' delivery (checker.Outbound)
// from the endpoints' records and the final reads of the queues the run
// recorded; it says unknown when the trace lacks those reads.
func CheckOutbound(trace []env.Record) checker.Result {
	finals, why := OutboundFinals(trace)
	if why != "" {
		return checker.Result{Checker: scenario.CheckOutbound, Verdict: checker.Unknown, Explanation: why}
	}
	return checker.Outbound(trace, finals)
}

func joinUints(xs []uint64) string {
	var b strings.Builder
	for i, x := range xs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(x, 10))
	}
	return b.String()
}

func splitUints(s string) ([]uint64, error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	out := make([]uint64, len(parts))
	for i, p := range parts {
		x, err := strconv.ParseUint(p, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is no list of positions", s)
		}
		out[i] = x
	}
	return out, nil
}
