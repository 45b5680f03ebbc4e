package reports

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/anishathalye/porcupine"

	"github.com/shoaldb/shoal/checker"
	"github.com/shoaldb/shoal/core/env"
)

// Data is what the report's script draws, embedded in the page as JSON.
// Times are virtual microseconds. Strings that repeat (node names, keys,
// values, kinds) are interned in Strings and named by index; per-item
// series are columns, not objects, to keep a 100k-operation report small.
type Data struct {
	End     int64    `json:"end"`
	Strings []string `json:"strings"`
	Nodes   []int    `json:"nodes"`   // the instances, in order of first start
	Clients []int    `json:"clients"` // the clients: one timeline lane each
	Groups  []int    `json:"groups"`

	Ops     Ops           `json:"ops"`
	First   *FirstBad     `json:"first,omitempty"`
	Faults  []Fault       `json:"faults"`
	Leaders []Leader      `json:"leaders"`
	Life    []Life        `json:"life"`  // node states over time
	Clock   []ClockChange `json:"clock"` // clock faults per node
	Raft    []RaftSeries  `json:"raft"`
	Links   []LinkChange  `json:"links"` // reachability changes between nodes

	Traffic  Traffic  `json:"traffic"`
	Messages Messages `json:"messages"`
	Events   Events   `json:"events"`

	// Notes say what the report left out to stay within its size bound.
	Notes []string `json:"notes"`
	// LinViz names porcupine's visualization beside the report, if any.
	LinViz string `json:"linviz,omitempty"`
}

// Ops are the clients' operations, in invocation order, as columns.
type Ops struct {
	Total   int     `json:"total"` // operations in the run; the columns may hold fewer
	Lane    []int   `json:"lane"`  // index into Data.Clients
	Process []int   `json:"process"`
	Call    []int64 `json:"call"` // each the difference from the previous operation's call
	Dur     []int64 `json:"dur"`  // until its completion; -1 when it never completed
	Outcome string  `json:"outcome"`
	F       []int   `json:"f"`
	Key     []int   `json:"key"`
	Value   []int   `json:"value"` // written, or read; a cas's "expected → new"
	Node    []int   `json:"node"`  // the instance that served it, or why it failed
}

// FirstBad is the first thing a checker found wrong.
type FirstBad struct {
	Checker string `json:"checker"`
	What    string `json:"what"`
	Time    int64  `json:"time"`
	Node    string `json:"node,omitempty"`
	Op      int    `json:"op"` // index into Ops, or -1
}

// Fault is one occurrence of a nemesis step: from its start to its stop
// (or the final heal, or the end of the run).
type Fault struct {
	Step    int64  `json:"step"`
	N       int64  `json:"n"`
	Fault   string `json:"fault"`
	What    string `json:"what"`
	Targets string `json:"targets,omitempty"`
	Group   string `json:"group,omitempty"`
	Effect  bool   `json:"effect"`
	Why     string `json:"why,omitempty"`
	Start   int64  `json:"start"`
	Stop    int64  `json:"stop"`
	Stats   string `json:"stats,omitempty"`
}

// Leader is a node becoming a group's leader for a term.
type Leader struct {
	Time  int64 `json:"t"`
	Group int   `json:"group"`
	Node  int   `json:"node"`
	Term  int64 `json:"term"`
}

// Life is a node's state from a moment on: up, paused, down or failed.
type Life struct {
	Time  int64  `json:"t"`
	Node  int    `json:"node"`
	State string `json:"state"`
}

// ClockChange is a clock fault set on a node (or taken back).
type ClockChange struct {
	Time int64  `json:"t"`
	Node int    `json:"node"`
	What string `json:"what"`
}

// RaftSeries is one node's Raft state in one group over time. Role and
// term changes are all kept; commit and applied indexes are sampled.
type RaftSeries struct {
	Group   int     `json:"group"`
	Node    int     `json:"node"`
	Time    []int64 `json:"t"`
	Term    []int64 `json:"term"`
	Role    []int   `json:"role"` // index into Roles
	Leader  []int   `json:"leader"`
	Commit  []int64 `json:"commit"`
	Applied []int64 `json:"applied"`
}

func (s *RaftSeries) add(t, term int64, role, leader int, commit, applied int64) {
	s.Time = append(s.Time, t)
	s.Term = append(s.Term, term)
	s.Role = append(s.Role, role)
	s.Leader = append(s.Leader, leader)
	s.Commit = append(s.Commit, commit)
	s.Applied = append(s.Applied, applied)
}

// Roles are the Raft roles, as RaftSeries.Role numbers them.
var Roles = []string{"follower", "precandidate", "candidate", "leader"}

// LinkChange changes which nodes hear which: a cut or restored link, a
// partition (components), or a heal.
type LinkChange struct {
	Time  int64  `json:"t"`
	Kind  string `json:"kind"` // cut, uncut, partition, heal
	From  int    `json:"from,omitempty"`
	To    int    `json:"to,omitempty"`
	Parts string `json:"parts,omitempty"`
}

// Traffic counts messages by kind and by link.
type Traffic struct {
	ByKind []Count `json:"by_kind"`
	ByLink []Count `json:"by_link"`
}

// Count is what happened to the messages of one kind or on one link.
type Count struct {
	Msg        string `json:"msg,omitempty"`
	From       string `json:"from,omitempty"`
	To         string `json:"to,omitempty"`
	Delivered  int    `json:"delivered"`
	Duplicated int    `json:"duplicated"`
	Lost       int    `json:"lost"`
	Cut        int    `json:"cut"`
	Down       int    `json:"down"`
	Other      int    `json:"other"`
}

// Messages are the messages the space-time diagram can draw, by send
// time, as columns. Windows are the spans of time whose messages are all
// here.
type Messages struct {
	Total   int        `json:"total"`
	Windows [][2]int64 `json:"windows"`
	Sent    []int64    `json:"sent"` // each the difference from the previous message's
	Took    []int64    `json:"took"` // until delivery; -1 when dropped
	From    []int      `json:"from"`
	To      []int      `json:"to"`
	Msg     []int      `json:"msg"`
	Fate    string     `json:"fate"` // d delivered, u duplicate, l lost, c cut, x to a dead node, o other drop
}

// Events is the node event log: everything but the message, timer,
// client and per-entry records, which other panels summarize.
type Events struct {
	Total int     `json:"total"`
	Time  []int64 `json:"t"`
	Node  []int   `json:"node"`
	Group []int   `json:"group"` // -1 for none
	Kind  []int   `json:"kind"`
	Text  []int   `json:"text"`
}

// Caps keep a report within its size bound: what a report embeds at
// most. The builder lowers them until the data fits.
type caps struct {
	ops, messages, events, raftPoints int
}

var defaultCaps = caps{ops: 150_000, messages: 30_000, events: 20_000, raftPoints: 1500}

// MaxDataBytes bounds the JSON embedded in a report: with the page around
// it, a report stays under 10 MB.
const MaxDataBytes = 9_500_000

// BuildData gathers what the report draws from a run, within the size
// bound.
func BuildData(r Run) (*Data, []byte, error) {
	c := defaultCaps
	for {
		d := buildData(r, c)
		b, err := json.Marshal(d)
		if err != nil {
			return nil, nil, err
		}
		if len(b) <= MaxDataBytes || c.ops < 1000 {
			return d, b, nil
		}
		c = caps{ops: c.ops * 2 / 3, messages: c.messages / 2, events: c.events / 2, raftPoints: c.raftPoints / 2}
	}
}

func us(ns int64) int64 { return ns / 1000 }

type builder struct {
	d       *Data
	strings map[string]int
}

func (b *builder) str(s string) int {
	if i, ok := b.strings[s]; ok {
		return i
	}
	i := len(b.d.Strings)
	b.d.Strings = append(b.d.Strings, s)
	b.strings[s] = i
	return i
}

// highVolume are the kinds the event log leaves out: other panels show
// them (messages, client operations, Raft progress) or they say little
// (timers, posted events).
var highVolume = map[string]bool{
	"net.recv": true, "net.hold": true, "net.drop": true, "timer.fire": true,
	"post.handle": true, "post.drop": true, "raft.apply": true, "raft.ack": true,
	"kv.request": true, "kv.response": true, "raft.state": true,
	"client.invoke": true, "client.ok": true, "client.fail": true, "client.info": true,
}

func buildData(r Run, c caps) *Data {
	d := &Data{Strings: []string{""}}
	b := &builder{d: d, strings: map[string]int{"": 0}}
	if n := len(r.Trace); n > 0 {
		d.End = us(r.Trace[n-1].Time)
	}
	d.LinViz = r.LinViz
	instances := map[env.NodeID]bool{}
	clients := map[env.NodeID]bool{}
	groups := map[string]bool{}
	for i := range r.Trace {
		rec := &r.Trace[i]
		if strings.HasPrefix(rec.Kind, "client.") && !clients[rec.Node] {
			clients[rec.Node] = true
			d.Clients = append(d.Clients, b.str(string(rec.Node)))
		}
		if g, ok := rec.Str("group"); ok && g != "" && !groups[g] && strings.HasPrefix(rec.Kind, "raft.") {
			groups[g] = true
			d.Groups = append(d.Groups, b.str(g))
		}
	}
	// Instances bootstrap; in a trace without bootstraps, whatever
	// starts and never records a client operation is one.
	booted := map[env.NodeID]bool{}
	for i := range r.Trace {
		if rec := &r.Trace[i]; rec.Kind == "node.bootstrap" {
			booted[rec.Node] = true
		}
	}
	for i := range r.Trace {
		rec := &r.Trace[i]
		isInstance := booted[rec.Node] || len(booted) == 0 && !clients[rec.Node]
		if rec.Kind == "node.start" && isInstance && !instances[rec.Node] {
			instances[rec.Node] = true
			d.Nodes = append(d.Nodes, b.str(string(rec.Node)))
		}
	}
	b.ops(r, c.ops, clients)
	b.first(r)
	b.faults(r.Trace)
	b.nodes(r.Trace, instances)
	b.raft(r.Trace, c.raftPoints)
	d.Traffic = countTraffic(r.Trace)
	b.messages(r.Trace, c.messages)
	b.events(r.Trace, c.events)
	d.emptyNotNull()
	return d
}

// emptyNotNull makes every list at least empty, so that the script
// never meets a null where it iterates.
func (d *Data) emptyNotNull() {
	for _, p := range []*[]int{&d.Nodes, &d.Clients, &d.Groups, &d.Ops.Lane, &d.Ops.Process, &d.Ops.F, &d.Ops.Key, &d.Ops.Value,
		&d.Ops.Node, &d.Messages.From, &d.Messages.To, &d.Messages.Msg, &d.Events.Node, &d.Events.Group, &d.Events.Kind, &d.Events.Text} {
		orEmpty(p)
	}
	for _, p := range []*[]int64{&d.Ops.Call, &d.Ops.Dur, &d.Messages.Sent, &d.Messages.Took, &d.Events.Time} {
		orEmpty(p)
	}
	orEmpty(&d.Faults)
	orEmpty(&d.Leaders)
	orEmpty(&d.Life)
	orEmpty(&d.Clock)
	orEmpty(&d.Raft)
	orEmpty(&d.Links)
	orEmpty(&d.Traffic.ByKind)
	orEmpty(&d.Traffic.ByLink)
	orEmpty(&d.Messages.Windows)
	orEmpty(&d.Notes)
}

func orEmpty[T any](p *[]T) {
	if *p == nil {
		*p = []T{}
	}
}

// ops fills the operation columns from the trace's client records. Past
// the cap it keeps every failed and unknown operation, the first bad one,
// and an even sample of the rest.
func (b *builder) ops(r Run, limit int, clients map[env.NodeID]bool) {
	type op struct {
		lane, process int
		call, ret     int64
		outcome       byte
		f, key, value int
		node          int
	}
	var all []op
	open := map[int64]int{}
	lanes := map[env.NodeID]int{}
	for i, c := range b.d.Clients {
		lanes[env.NodeID(b.d.Strings[c])] = i
	}
	for i := range r.Trace {
		rec := &r.Trace[i]
		if !strings.HasPrefix(rec.Kind, "client.") || !clients[rec.Node] {
			continue
		}
		p, _ := rec.Int("process")
		f, _ := rec.Str("f")
		key, _ := rec.Str("key")
		switch rec.Kind {
		case "client.invoke":
			open[p] = len(all)
			value := ""
			if f != "read" && f != "read-object" {
				value = opValue(rec)
			}
			all = append(all, op{lane: lanes[rec.Node], process: int(p), call: rec.Time, ret: -1, outcome: 'i',
				f: b.str(f), key: b.str(key), value: b.str(value)})
		case "client.ok", "client.fail", "client.info":
			j, ok := open[p]
			if !ok {
				continue
			}
			delete(open, p)
			o := &all[j]
			o.ret = rec.Time
			o.outcome = rec.Kind[len("client.")]
			if (f == "read" || f == "read-object") && rec.Kind == "client.ok" {
				o.value = b.str(opValue(rec))
			}
			note, _ := rec.Str("note")
			o.node = b.str(note)
		}
	}
	ops := &b.d.Ops
	ops.Total = len(all)
	keep := make([]bool, len(all))
	firstOp := -1
	if fb := firstCulprit(r.Results); fb != nil && fb.Op != nil {
		for i := range all {
			if all[i].process == fb.Op.Process && all[i].call == fb.Op.Call {
				firstOp = i
				break
			}
		}
	}
	if len(all) <= limit {
		for i := range keep {
			keep[i] = true
		}
	} else {
		kept := 0
		for i := range all {
			if all[i].outcome != 'o' || i == firstOp {
				keep[i] = true
				kept++
			}
		}
		ok := len(all) - kept
		if room := limit - kept; room > 0 && ok > 0 {
			stride := float64(ok) / float64(room)
			next, seen := 0.0, 0
			for i := range all {
				if keep[i] {
					continue
				}
				if float64(seen) >= next {
					keep[i] = true
					kept++
					next += stride
				}
				seen++
			}
		}
		b.d.Notes = append(b.d.Notes, fmt.Sprintf("The run has %d operations; the report keeps %d: every failed or unknown one and an even sample of the successful ones. Plots of latency, throughput and availability are drawn from the kept operations.", len(all), kept))
	}
	var prev int64
	var outcome strings.Builder
	b.d.First = nil
	for i := range all {
		if !keep[i] {
			continue
		}
		o := &all[i]
		if i == firstOp {
			b.d.First = &FirstBad{Op: len(ops.Lane)}
		}
		ops.Lane = append(ops.Lane, o.lane)
		ops.Process = append(ops.Process, o.process)
		ops.Call = append(ops.Call, us(o.call)-prev)
		prev = us(o.call)
		if o.ret < 0 {
			ops.Dur = append(ops.Dur, -1)
		} else {
			ops.Dur = append(ops.Dur, us(o.ret)-us(o.call))
		}
		outcome.WriteByte(o.outcome)
		ops.F = append(ops.F, o.f)
		ops.Key = append(ops.Key, o.key)
		ops.Value = append(ops.Value, o.value)
		ops.Node = append(ops.Node, o.node)
	}
	ops.Outcome = outcome.String()
}

// opValue renders what an operation wrote or read.
func opValue(r *env.Record) string {
	value := func(k, absent string) string {
		if f, ok := r.Get(absent); ok && f.Value() == true {
			return "∅"
		}
		s, _ := r.Str(k)
		return s
	}
	if f, _ := r.Str("f"); f == "cas" {
		return value("expected", "expected_absent") + " → " + value("value", "absent")
	}
	return value("value", "absent")
}

// firstCulprit is the first invalid checker's culprit, in checker order.
func firstCulprit(rs []checker.Result) *checker.Culprit {
	for _, r := range rs {
		if r.Verdict == checker.Invalid && r.First != nil {
			return r.First
		}
	}
	return nil
}

// first names the first bad thing; ops has already placed its operation.
func (b *builder) first(r Run) {
	for _, res := range r.Results {
		if res.Verdict != checker.Invalid || res.First == nil {
			continue
		}
		fb := b.d.First
		if fb == nil || res.First.Op == nil {
			fb = &FirstBad{Op: -1}
		}
		fb.Checker, fb.What, fb.Time, fb.Node = res.Checker, res.First.What, us(res.First.Time), res.First.Node
		b.d.First = fb
		return
	}
	b.d.First = nil
}

// faults pairs each nemesis step's start with its stop; an occurrence
// never stopped lasts until the final heal or the end of the run.
func (b *builder) faults(trace []env.Record) {
	type occ struct{ step, n int64 }
	open := map[occ]int{}
	for i := range trace {
		r := &trace[i]
		s := func(k string) string { v, _ := r.Str(k); return v }
		n := func(k string) int64 { v, _ := r.Int(k); return v }
		switch r.Kind {
		case "nemesis.start":
			k := occ{n("step"), n("n")}
			open[k] = len(b.d.Faults)
			effect, _ := r.Get("effect")
			b.d.Faults = append(b.d.Faults, Fault{Step: k.step, N: k.n, Fault: s("fault"), What: s("what"),
				Targets: s("targets"), Group: s("group"), Effect: effect.Value() == true, Why: s("why"),
				Start: us(r.Time), Stop: -1})
		case "nemesis.stop":
			k := occ{n("step"), n("n")}
			if j, ok := open[k]; ok {
				delete(open, k)
				f := &b.d.Faults[j]
				f.Stop = us(r.Time)
				f.Stats = fmt.Sprintf("%d messages sent on its links, %d dropped, %d duplicated; %d disk errors", n("sent"), n("dropped"), n("duplicated"), n("disk_errors"))
				if note := s("note"); note != "" {
					f.Stats += "; " + note
				}
			}
		case "nemesis.heal":
			for k, j := range open {
				b.d.Faults[j].Stop = us(r.Time)
				delete(open, k)
			}
		}
	}
	for _, j := range open {
		b.d.Faults[j].Stop = b.d.End
	}
}

// nodes gathers node lifecycles, clock faults and link changes.
func (b *builder) nodes(trace []env.Record, instances map[env.NodeID]bool) {
	for i := range trace {
		r := &trace[i]
		node := b.str(string(r.Node))
		life := func(state string) {
			if instances[r.Node] {
				b.d.Life = append(b.d.Life, Life{Time: us(r.Time), Node: node, State: state})
			}
		}
		switch r.Kind {
		case "node.start", "node.resume":
			life("up")
		case "node.kill", "node.crash":
			life("down")
		case "node.fail":
			life("failed")
		case "node.pause":
			life("paused")
		case "clock.offset", "clock.drift", "clock.strobe":
			if what := describe(r); what != "" {
				b.d.Clock = append(b.d.Clock, ClockChange{Time: us(r.Time), Node: node, What: what})
			}
		case "net.cut", "net.uncut":
			from, _ := r.Str("from")
			to, _ := r.Str("to")
			b.d.Links = append(b.d.Links, LinkChange{Time: us(r.Time), Kind: strings.TrimPrefix(r.Kind, "net."), From: b.str(from), To: b.str(to)})
		case "net.partition":
			parts, _ := r.Str("components")
			b.d.Links = append(b.d.Links, LinkChange{Time: us(r.Time), Kind: "partition", Parts: parts})
		case "net.heal":
			b.d.Links = append(b.d.Links, LinkChange{Time: us(r.Time), Kind: "heal"})
		}
	}
}

// raft gathers each node's Raft state per group. Every change of role,
// term or leader is kept; between them, a point at most every
// end/limit of time, so each series holds about limit points.
func (b *builder) raft(trace []env.Record, limit int) {
	type key struct {
		group string
		node  env.NodeID
	}
	series := map[key]*RaftSeries{}
	var order []key
	last := map[key]int64{}
	step := max(b.d.End/int64(max(limit, 1)), 1)
	roles := map[string]int{}
	for i, r := range Roles {
		roles[r] = i
	}
	sampled := 0
	for i := range trace {
		r := &trace[i]
		if r.Kind != "raft.state" {
			continue
		}
		g, _ := r.Str("group")
		k := key{g, r.Node}
		s := series[k]
		if s == nil {
			s = &RaftSeries{Group: b.str(g), Node: b.str(string(r.Node))}
			series[k] = s
			order = append(order, k)
		}
		term, _ := r.Int("term")
		roleName, _ := r.Str("role")
		role, ok := roles[roleName]
		if !ok {
			role = len(Roles) // not a role the report knows: drawn as other
		}
		leaderName, _ := r.Str("leader")
		leader := b.str(leaderName)
		commit, _ := r.Int("commit")
		applied, _ := r.Int("applied")
		t := us(r.Time)
		n := len(s.Time)
		changed := n == 0 || s.Term[n-1] != term || s.Role[n-1] != role || s.Leader[n-1] != leader
		if !changed && t-last[k] < step {
			// Keep the latest indexes in the last point, so that a
			// sampled series still ends where the node ended, unless
			// the point marks a change.
			if n > 1 && s.Time[n-1] > last[k] {
				s.Time[n-1], s.Commit[n-1], s.Applied[n-1] = t, commit, applied
			} else {
				s.add(t, term, role, leader, commit, applied)
			}
			sampled++
			continue
		}
		last[k] = t
		s.add(t, term, role, leader, commit, applied)
		if roleName == "leader" && changed {
			b.d.Leaders = append(b.d.Leaders, Leader{Time: t, Group: s.Group, Node: s.Node, Term: term})
		}
	}
	for _, k := range order {
		b.d.Raft = append(b.d.Raft, *series[k])
	}
	if sampled > 0 {
		b.d.Notes = append(b.d.Notes, fmt.Sprintf("Raft commit and applied indexes are sampled about every %s of virtual time; every change of role, term or leader is kept.", fmtDuration(step*1000)))
	}
}

// countTraffic counts delivered and dropped messages by kind and by link.
func countTraffic(trace []env.Record) Traffic {
	rows := traffic(trace)
	kinds := map[string]*Count{}
	links := map[[2]string]*Count{}
	for _, t := range rows {
		if kinds[t.Msg] == nil {
			kinds[t.Msg] = &Count{Msg: t.Msg}
		}
		lk := [2]string{t.From, t.To}
		if links[lk] == nil {
			links[lk] = &Count{From: t.From, To: t.To}
		}
		for _, c := range []*Count{kinds[t.Msg], links[lk]} {
			c.Delivered += t.Delivered
			c.Duplicated += t.Duplicated
			c.Lost += t.Lost
			c.Cut += t.Cut
			c.Down += t.Down
			c.Other += t.Other
		}
	}
	var out Traffic
	for _, c := range kinds {
		out.ByKind = append(out.ByKind, *c)
	}
	for _, c := range links {
		out.ByLink = append(out.ByLink, *c)
	}
	slices.SortFunc(out.ByKind, func(a, b Count) int { return strings.Compare(a.Msg, b.Msg) })
	slices.SortFunc(out.ByLink, func(a, b Count) int {
		return cmp.Or(strings.Compare(a.From, b.From), strings.Compare(a.To, b.To))
	})
	return out
}

type message struct {
	sent, took int64
	from, to   env.NodeID
	msg        string
	fate       byte
}

// idSet holds message IDs: a bitmap for the dense small IDs the simulator
// hands out, a map for any others.
type idSet struct {
	bits []uint64
	big  map[int64]bool
}

const idSetDense = 1 << 24

// add adds id and reports whether it was there already.
func (s *idSet) add(id int64) bool {
	if id < 0 || id >= idSetDense {
		if s.big == nil {
			s.big = map[int64]bool{}
		}
		had := s.big[id]
		s.big[id] = true
		return had
	}
	w := int(id >> 6)
	if w >= len(s.bits) {
		s.bits = append(s.bits, make([]uint64, w+1-len(s.bits)+len(s.bits)/2)...)
	}
	had := s.bits[w]&(1<<(id&63)) != 0
	s.bits[w] |= 1 << (id & 63)
	return had
}

// sentAt is when a message record's message was sent: a delivery
// carries it; a drop happens at the send or at the arrival, which is as
// near as the trace says.
func sentAt(r *env.Record) int64 {
	if r.Kind == "net.recv" {
		sent, _ := r.Int("sent")
		return us(sent)
	}
	return us(r.Time)
}

// messages keeps what the space-time diagram draws: every message if
// they fit, else those sent in windows around the moments that matter
// most (the first bad operation, each fault's start and stop, each new
// leader), each moment an equal share of the cap.
func (b *builder) messages(trace []env.Record, limit int) {
	isMessage := func(r *env.Record) bool { return r.Kind == "net.recv" || r.Kind == "net.drop" }
	n := 0
	for i := range trace {
		if isMessage(&trace[i]) {
			n++
		}
	}
	m := &b.d.Messages
	m.Total = n
	if n == 0 {
		return
	}
	var what []string
	if n <= limit {
		m.Windows = [][2]int64{{0, b.d.End + 1}}
	} else {
		times := make([]int64, 0, n)
		for i := range trace {
			if r := &trace[i]; isMessage(r) {
				times = append(times, sentAt(r))
			}
		}
		slices.Sort(times)
		var moments []int64
		moments, what = b.moments()
		// A quarter of each share before its moment, the rest after; a
		// window runs from its first message's send to the next
		// message's, so it holds every message sent inside it.
		share := max(limit/len(moments), 1)
		for _, t := range moments {
			at, _ := slices.BinarySearch(times, t)
			lo := max(at-share/4, 0)
			hi := min(lo+share, len(times))
			w := [2]int64{times[lo], b.d.End + 1}
			if hi < len(times) {
				w[1] = times[hi]
			}
			if w[1] > w[0] {
				m.Windows = append(m.Windows, w)
			}
		}
		slices.SortFunc(m.Windows, func(a, b [2]int64) int { return cmp.Compare(a[0], b[0]) })
		merged := m.Windows[:0]
		for _, w := range m.Windows {
			if k := len(merged); k > 0 && w[0] <= merged[k-1][1] {
				merged[k-1][1] = max(merged[k-1][1], w[1])
				continue
			}
			merged = append(merged, w)
		}
		m.Windows = merged
	}
	inWindow := func(t int64) bool {
		k, _ := slices.BinarySearchFunc(m.Windows, t, func(w [2]int64, t int64) int { return cmp.Compare(w[0], t+1) })
		return k > 0 && t < m.Windows[k-1][1]
	}
	var keep []message
	var seen idSet
	for i := range trace {
		r := &trace[i]
		if !isMessage(r) {
			continue
		}
		sent := sentAt(r)
		if !inWindow(sent) {
			continue
		}
		from, _ := r.Str("from")
		msg, _ := r.Str("msg")
		if r.Kind == "net.recv" {
			id, _ := r.Int("id")
			fate := byte('d')
			if seen.add(id) {
				fate = 'u'
			}
			keep = append(keep, message{sent: sent, took: us(r.Time) - sent, from: env.NodeID(from), to: r.Node, msg: msg, fate: fate})
			continue
		}
		to, _ := r.Str("to")
		fate := byte('o')
		switch why, _ := r.Str("why"); why {
		case "loss":
			fate = 'l'
		case "cut":
			fate = 'c'
		case "down":
			fate = 'x'
		}
		keep = append(keep, message{sent: sent, took: -1, from: env.NodeID(from), to: env.NodeID(to), msg: msg, fate: fate})
	}
	slices.SortStableFunc(keep, func(a, b message) int { return cmp.Compare(a.sent, b.sent) })
	b.putMessages(keep)
	if len(keep) < n {
		b.d.Notes = append(b.d.Notes, fmt.Sprintf("The run sent %d messages; the space-time diagram keeps the %d sent in %d windows around %s.",
			n, len(keep), len(m.Windows), strings.Join(what, ", ")))
	}
}

// moments are the times the space-time diagram keeps messages around,
// most important first, and what they are.
func (b *builder) moments() ([]int64, []string) {
	var moments []int64
	var what []string
	if fb := b.d.First; fb != nil {
		moments = append(moments, fb.Time)
		what = append(what, "the first bad "+map[bool]string{true: "operation", false: "event"}[fb.Op >= 0])
	}
	if len(b.d.Faults) > 0 {
		what = append(what, "each fault's start and end")
	}
	for _, f := range b.d.Faults {
		moments = append(moments, f.Start)
		if f.Stop >= 0 {
			moments = append(moments, f.Stop)
		}
	}
	if len(b.d.Leaders) > 0 {
		what = append(what, "each new leader")
	}
	for _, l := range b.d.Leaders {
		moments = append(moments, l.Time)
	}
	if len(moments) == 0 {
		moments, what = append(moments, 0), append(what, "the start")
	}
	return moments, what
}

func (b *builder) putMessages(ms []message) {
	m := &b.d.Messages
	var fate strings.Builder
	var prev int64
	for _, x := range ms {
		m.Sent = append(m.Sent, x.sent-prev)
		prev = x.sent
		m.Took = append(m.Took, x.took)
		m.From = append(m.From, b.str(string(x.from)))
		m.To = append(m.To, b.str(string(x.to)))
		m.Msg = append(m.Msg, b.str(x.msg))
		fate.WriteByte(x.fate)
	}
	m.Fate = fate.String()
}

// logPriority orders what the event log keeps when it must drop some:
// faults and lifecycles before Raft's own events.
func logPriority(kind string) int {
	switch {
	case strings.HasPrefix(kind, "nemesis."), strings.HasPrefix(kind, "node."), strings.HasPrefix(kind, "net."),
		strings.HasPrefix(kind, "clock."), strings.HasPrefix(kind, "disk."):
		return 0
	case kind == "raft.role":
		return 1
	}
	return 2
}

// events builds the node event log: every record but the high-volume
// kinds, and raft.state only where the role, term or leader changed
// (logged as raft.role).
func (b *builder) events(trace []env.Record, limit int) {
	type event struct {
		t          int64
		node, kind string
		group      string
		text       string
	}
	var all []event
	type ng struct {
		node  env.NodeID
		group string
	}
	prev := map[ng]string{}
	for i := range trace {
		r := &trace[i]
		kind := r.Kind
		group, _ := r.Str("group")
		if kind == "raft.state" {
			term, _ := r.Int("term")
			role, _ := r.Str("role")
			leader, _ := r.Str("leader")
			now := fmt.Sprintf("%s in term %d, leader %q", role, term, leader)
			k := ng{r.Node, group}
			if prev[k] == now {
				continue
			}
			prev[k] = now
			kind = "raft.role"
			if leader == "" {
				leader = "none"
			}
			all = append(all, event{us(r.Time), string(r.Node), kind, group, fmt.Sprintf("%s, term %d, leader %s", role, term, leader)})
			continue
		}
		if highVolume[kind] {
			continue
		}
		text := describe(r)
		if text == "" {
			text = fields(r)
		}
		all = append(all, event{us(r.Time), string(r.Node), kind, group, text})
	}
	e := &b.d.Events
	e.Total = len(all)
	keep := make([]bool, len(all))
	if len(all) <= limit {
		for i := range keep {
			keep[i] = true
		}
	} else {
		n := 0
		dropped := map[string]int{}
		for p := 0; p <= 2; p++ {
			for i := range all {
				if logPriority(all[i].kind) != p {
					continue
				}
				if n < limit {
					keep[i] = true
					n++
				} else {
					dropped[all[i].kind]++
				}
			}
		}
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(dropped)) {
			parts = append(parts, fmt.Sprintf("%d %s", dropped[k], k))
		}
		b.d.Notes = append(b.d.Notes, fmt.Sprintf("The event log keeps %d of %d events; left out, the latest first: %s.", n, len(all), strings.Join(parts, ", ")))
	}
	for i := range all {
		if !keep[i] {
			continue
		}
		x := &all[i]
		e.Time = append(e.Time, x.t)
		e.Node = append(e.Node, b.str(x.node))
		g := -1
		if x.group != "" {
			g = b.str(x.group)
		}
		e.Group = append(e.Group, g)
		e.Kind = append(e.Kind, b.str(x.kind))
		e.Text = append(e.Text, b.str(x.text))
	}
}

// fields renders a record's fields as "k=v k=v".
func fields(r *env.Record) string {
	var parts []string
	for _, f := range r.Fields {
		if f.Key == "group" {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s=%v", f.Key, f.Value()))
	}
	return strings.Join(parts, " ")
}

// fmtDuration renders virtual nanoseconds briefly.
func fmtDuration(ns int64) string {
	switch {
	case ns >= 1e9:
		return fmt.Sprintf("%.3gs", float64(ns)/1e9)
	case ns >= 1e6:
		return fmt.Sprintf("%.3gms", float64(ns)/1e6)
	}
	return fmt.Sprintf("%dµs", ns/1000)
}

// Annotations are a run's faults and new leaders as porcupine draws them
// beside the operations of its visualization, in the trace's nanoseconds.
func Annotations(trace []env.Record) []porcupine.Annotation {
	d := &Data{Strings: []string{""}}
	b := &builder{d: d, strings: map[string]int{"": 0}}
	if n := len(trace); n > 0 {
		d.End = us(trace[n-1].Time)
	}
	b.faults(trace)
	b.raft(trace, 1)
	var out []porcupine.Annotation
	for _, f := range d.Faults {
		details := f.Stats
		if !f.Effect {
			details = "no effect: " + f.Why
		}
		out = append(out, porcupine.Annotation{Tag: "faults", Start: f.Start * 1000, End: f.Stop * 1000,
			Description: f.Fault + ": " + f.What, Details: details, BackgroundColor: "#f6c9c8"})
	}
	for _, l := range d.Leaders {
		out = append(out, porcupine.Annotation{Tag: "leader " + d.Strings[l.Group], Start: l.Time * 1000, End: l.Time * 1000,
			Description: d.Strings[l.Node], Details: fmt.Sprintf("%s became leader of %s in term %d", d.Strings[l.Node], d.Strings[l.Group], l.Term),
			BackgroundColor: "#c5d8f5"})
	}
	return out
}
