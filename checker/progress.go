package checker

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/shoaldb/shoal/core/env"
)

// Progress checks liveness after the faults: every group that had work
// made progress again after the given time (the heal plus a grace period
// for elections). Group 0 must commit an operator action (prop.result ok)
// after that time if any was proposed after it (raft.propose on config):
// an action proposed and answered before it left the group nothing to
// do; every replicaset must answer a client request (kv.response ok or
// mismatch) if any reached it (an instance that joined counts for the
// replicaset it records Raft state for). It also counts the
// clients' outcomes. It is NA when no group had work.
func Progress(trace []env.Record, after time.Duration) Result {
	res := Result{Checker: "progress"}
	replicaset := replicasetOf(trace)
	actions := map[string]int{}
	proposed, proposedAfter := false, false
	served, servedAfter := map[string]int{}, map[string]int{}
	clients := map[string]int{}
	for i := range trace {
		r := &trace[i]
		switch r.Kind {
		case "raft.propose":
			if g, _ := r.Str("group"); g == "config" && r.Time > int64(after) {
				proposedAfter = true
			}
		case "prop.result":
			proposed = true
			o, _ := r.Str("outcome")
			actions[o]++
			if o == "ok" && r.Time > int64(after) {
				actions["after"]++
			}
		case "kv.response":
			if st, _ := r.Str("status"); st == "ok" || st == "mismatch" {
				rs := replicaset[r.Node]
				served[rs]++
				if r.Time > int64(after) {
					servedAfter[rs]++
				}
			}
		case "client.ok", "client.fail", "client.info":
			clients[r.Kind[len("client."):]]++
		}
	}
	if !proposed && len(served) == 0 {
		res.Verdict = NA
		res.Explanation = "no group had work to do"
		return res
	}
	var parts, stuck []string
	if proposed {
		parts = append(parts, fmt.Sprintf("config: %d actions ok, %d failed, %d timed out, %d ok after %s",
			actions["ok"], actions["fail"], actions["timeout"], actions["after"], after))
		if actions["after"] == 0 && proposedAfter {
			stuck = append(stuck, "config")
		}
	}
	for _, rs := range slices.Sorted(maps.Keys(served)) {
		parts = append(parts, fmt.Sprintf("%s: %d requests served, %d after %s", rs, served[rs], servedAfter[rs], after))
		if servedAfter[rs] == 0 {
			stuck = append(stuck, rs)
		}
	}
	parts = append(parts, fmt.Sprintf("clients: %d ok, %d failed, %d unknown", clients["ok"], clients["fail"], clients["info"]))
	res.Verdict = Valid
	if len(stuck) > 0 {
		res.Verdict = Invalid
		parts = append([]string{fmt.Sprintf("%s made no progress after %s", strings.Join(stuck, ", "), after)}, parts...)
	}
	res.Explanation = strings.Join(parts, "; ")
	return res
}
