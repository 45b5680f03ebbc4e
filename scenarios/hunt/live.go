package hunt

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/shoaldb/shoal/checker"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/scenarios/scenario"
)

// LiveBound is how soon after the final heal every group with work must
// complete an operation: five election timeouts, time for killed
// instances to restart from their disks, elect a leader and serve.
const LiveBound = 5 * time.Second

// Live is the live property: after the final heal, when every instance
// is up and hears every other, each replicaset that served key-value
// requests during the run serves one again within LiveBound, and group 0,
// if it had operator actions, commits one within LiveBound. It is n/a for
// a run without a heal, without work, or whose workloads stop sooner.
// The progress check asks less: some progress before the workloads stop.
func Live(s *scenario.Scenario, trace []env.Record) checker.Result {
	res := checker.Result{Checker: "live", Verdict: checker.NA}
	if !s.Final.Heal || s.Final.Recover < LiveBound {
		res.Explanation = "the run has no heal, or its workloads stop within " + LiveBound.String() + " of it"
		return res
	}
	heal := int64(-1)
	replicaset := map[env.NodeID]string{}
	worked := map[string]bool{}
	first := map[string]int64{}
	done := func(group string, t int64) {
		worked[group] = true
		if heal >= 0 && t >= heal {
			if _, ok := first[group]; !ok {
				first[group] = t
			}
		}
	}
	for i := range trace {
		r := &trace[i]
		switch r.Kind {
		case "nemesis.heal":
			heal = r.Time
		case "node.bootstrap":
			replicaset[r.Node], _ = r.Str("replicaset")
		case "kv.response":
			if st, _ := r.Str("status"); st == "ok" || st == "mismatch" {
				done(replicaset[r.Node], r.Time)
			}
		case "prop.result":
			// Operator actions, not the governor's own steps: a governor
			// with nothing left to do does no work after the heal.
			if o, _ := r.Str("outcome"); o == "ok" && !governorStep(r) {
				g, _ := r.Str("group")
				done(g, r.Time)
			}
		}
	}
	if heal < 0 || len(worked) == 0 {
		res.Explanation = "no heal in the trace, or no group had work"
		return res
	}
	groups := make([]string, 0, len(worked))
	for g := range worked {
		groups = append(groups, g)
	}
	slices.Sort(groups)
	var parts, late []string
	for _, g := range groups {
		t, ok := first[g]
		switch {
		case !ok:
			late = append(late, g)
			parts = append(parts, g+": nothing after the heal")
		case t-heal > int64(LiveBound):
			late = append(late, g)
			parts = append(parts, fmt.Sprintf("%s: first after %s", g, time.Duration(t-heal)))
		default:
			parts = append(parts, fmt.Sprintf("%s: %s after the heal", g, time.Duration(t-heal)))
		}
	}
	res.Verdict = checker.Valid
	if len(late) > 0 {
		res.Verdict = checker.Invalid
		res.First = &checker.Culprit{Time: heal, Node: "nemesis", What: "the final heal"}
		parts = append([]string{fmt.Sprintf("%s completed no operation within %s of the heal at %s",
			strings.Join(late, ", "), LiveBound, time.Duration(heal))}, parts...)
	}
	res.Explanation = strings.Join(parts, "; ")
	return res
}

// governorStep reports whether a prop.result answers a step of group 0's
// governor (core/node: its IDs start gov-).
func governorStep(r *env.Record) bool {
	id, _ := r.Str("id")
	return strings.HasPrefix(id, "gov-")
}
