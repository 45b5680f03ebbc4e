package checker

import (
	"fmt"
	"strings"
	"time"

	"github.com/shoaldb/shoal/core/env"
)

// Partitions checks the network itself against the faults recorded in the
// trace: while a link is cut nothing crosses it, and a message sent while
// its link was cut is lost, never delivered after the heal. A message that
// reached a paused node before a cut (net.hold) may be handled after it.
// It is NA when the trace has no cut.
func Partitions(trace []env.Record) Result {
	res := Result{Checker: "partitions"}
	p := newReachability()
	held := map[uint64]bool{}
	dropped, cuts := 0, 0
	for i := range trace {
		r := &trace[i]
		if p.observe(r) {
			cuts++
			continue
		}
		switch r.Kind {
		case "net.drop":
			if why, _ := r.Str("why"); why == "cut" {
				dropped++
			}
		case "net.hold", "net.recv":
			from, _ := r.Str("from")
			k := link{env.NodeID(from), r.Node}
			id, _ := r.Int("id")
			sent, _ := r.Int("sent")
			msg, _ := r.Str("msg")
			if since, cut := p.cutDuring(k, sent); cut {
				res.Verdict = Invalid
				res.Explanation = fmt.Sprintf("message %d (%s) from %s to %s was sent at %s while %s→%s was cut (since %s), and reached %s at %s",
					id, msg, k.from, k.to, at(sent), k.from, k.to, at(since), k.to, at(r.Time))
				res.First = eventCulprit(r, res.Explanation)
				return res
			}
			if r.Kind == "net.recv" && held[uint64(id)] {
				continue
			}
			if since, cut := p.cutNow(k); cut {
				res.Verdict = Invalid
				res.Explanation = fmt.Sprintf("message %d (%s) from %s to %s crossed the cut %s→%s at %s (cut since %s)",
					id, msg, k.from, k.to, k.from, k.to, at(r.Time), at(since))
				res.First = eventCulprit(r, res.Explanation)
				return res
			}
			if r.Kind == "net.hold" {
				held[uint64(id)] = true
			}
		}
	}
	if cuts == 0 {
		res.Verdict = NA
		res.Explanation = "the run cut no link"
		return res
	}
	res.Verdict = Valid
	res.Explanation = fmt.Sprintf("%d network changes (cuts, partitions, heals); %d messages were dropped at a cut and none crossed one", cuts, dropped)
	return res
}

// at renders a virtual time as a duration since the start of the run.
func at(t int64) string { return time.Duration(t).String() }

type link struct{ from, to env.NodeID }

// span is one interval during which a link was cut: [from, to), with to = -1
// while the cut holds.
type span struct{ from, to int64 }

// reachability replays the world's network events (net.cut, net.uncut,
// net.partition, net.heal) into the history of every link's cuts.
type reachability struct {
	nodes []env.NodeID
	known map[env.NodeID]bool
	spans map[link][]span
}

func newReachability() *reachability {
	return &reachability{known: map[env.NodeID]bool{}, spans: map[link][]span{}}
}

func (p *reachability) node(id env.NodeID) {
	if id != env.WorldNode && !p.known[id] {
		p.known[id] = true
		p.nodes = append(p.nodes, id)
	}
}

func (p *reachability) set(k link, cut bool, t int64) {
	ss := p.spans[k]
	open := len(ss) > 0 && ss[len(ss)-1].to < 0
	switch {
	case cut && !open:
		p.spans[k] = append(ss, span{from: t, to: -1})
	case !cut && open:
		ss[len(ss)-1].to = t
	}
}

// observe applies r if it changes the network, and reports whether it did.
func (p *reachability) observe(r *env.Record) bool {
	p.node(r.Node)
	from, _ := r.Str("from")
	to, _ := r.Str("to")
	switch r.Kind {
	case "net.cut", "net.uncut":
		p.node(env.NodeID(from))
		p.node(env.NodeID(to))
		p.set(link{env.NodeID(from), env.NodeID(to)}, r.Kind == "net.cut", r.Time)
	case "net.heal":
		for _, a := range p.nodes {
			for _, b := range p.nodes {
				p.set(link{a, b}, false, r.Time)
			}
		}
	case "net.partition":
		desc, _ := r.Str("components")
		all, comp := components(desc)
		for _, id := range all {
			p.node(id)
		}
		for _, a := range p.nodes {
			for _, b := range p.nodes {
				p.set(link{a, b}, comp[a] != comp[b], r.Time)
			}
		}
	default:
		return false
	}
	return true
}

// components reads a net.partition's components ("n1,n2|n3"): every node
// named, and the index of its component.
func components(desc string) ([]env.NodeID, map[env.NodeID]int) {
	var all []env.NodeID
	comp := map[env.NodeID]int{}
	for i, part := range strings.Split(desc, "|") {
		for _, id := range strings.Split(part, ",") {
			comp[env.NodeID(id)] = i
			all = append(all, env.NodeID(id))
		}
	}
	return all, comp
}

// cutNow reports whether link k is cut at this point of the trace, and
// since when.
func (p *reachability) cutNow(k link) (since int64, cut bool) {
	ss := p.spans[k]
	if n := len(ss); n > 0 && ss[n-1].to < 0 {
		return ss[n-1].from, true
	}
	return 0, false
}

// cutDuring reports whether link k was cut throughout an instant strictly
// inside one of its cuts, and since when. The trace does not record when a
// message was sent relative to other events of the same instant, so a
// message sent at the very instant a cut began or ended is given the benefit
// of the doubt: had it been sent while the link was cut, the world would
// have dropped it then.
func (p *reachability) cutDuring(k link, t int64) (since int64, cut bool) {
	for _, s := range p.spans[k] {
		if t > s.from && (s.to < 0 || t < s.to) {
			return s.from, true
		}
	}
	return 0, false
}
