package reports

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
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
	// Queues are the replicasets' inbound queues; empty when the trace
	// has no queue events.
	Queues []Queue `json:"queues"`
	// Outbound are the outbound destinations' deliveries; empty when the
	// trace has no outbound queue or endpoint events.
	Outbound []Outbound `json:"outbound"`
	// Kafka are the simulated Kafka brokers of the inbound connectors;
	// empty when the trace has no kafka events.
	Kafka []Kafka `json:"kafka"`
	// Replication are the replication destinations between clusters;
	// empty when the trace has no repl records (replication.go).
	Replication []Replication `json:"replication"`

	Traffic  Traffic  `json:"traffic"`
	Messages Messages `json:"messages"`
	Events   Events   `json:"events"`

	// Notes say what the report left out to stay within its size bound.
	Notes []string `json:"notes"`
	// LinViz names porcupine's visualization beside the report, if any.
	LinViz string `json:"linviz,omitempty"`
	// Foreign is set when the run was of a system shoal did not write
	// (scenarios/foreign), which a seed does not replay.
	Foreign *Foreign `json:"foreign,omitempty"`
}

// Foreign is what a foreign run's trace says of its target: what ran,
// why the seed does not replay it (foreign.target) and what the run did
// not do as its scenario says (foreign.unapplied).
type Foreign struct {
	Target    string   `json:"target"`
	Why       string   `json:"why"`
	Unapplied []string `json:"unapplied,omitempty"`
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

// Queue is one replicaset's inbound queue as its leaders traced it
// (queue.state, queue.settle, queue.resend), with the enqueues its
// clients were refused as busy and the time each acknowledged message
// waited to be settled. Group is "" for refusals that name no
// replicaset, when there is more than one queue.
type Queue struct {
	Group int `json:"group"`
	// The queue's state from each moment on (queue.state). Past the cap,
	// one point per stretch of time: its deepest depth and bytes, and its
	// latest repair, outbound and settled counts.
	States   int          `json:"states"` // queue.state records; the columns may hold fewer
	Time     []int64      `json:"t"`
	Depth    []int64      `json:"depth"`
	Bytes    []int64      `json:"bytes"`
	Repairs  []int64      `json:"repairs"`
	Outbound []int64      `json:"outbound"`
	Settled  []int64      `json:"settled"` // messages settled so far
	Deepest  int64        `json:"deepest"`
	Settles  int          `json:"settles"` // settling commands applied (queue.settle)
	Resends  []int64      `json:"resends"` // when a leader sent messages to settle again (queue.resend)
	Busy     Busy         `json:"busy"`
	Latency  QueueLatency `json:"latency"`
}

// Busy counts the enqueues refused because the queue was full (a failed
// enqueue whose note starts with "busy"), per stretch of Bin µs: the
// stretches At (the first from 0) held N refusals each; empty ones are
// left out.
type Busy struct {
	Total int     `json:"total"`
	Bin   int64   `json:"bin"`
	At    []int64 `json:"at"`
	N     []int   `json:"n"`
}

// QueueLatency is the time from each acknowledged enqueue (its first ok,
// which names the replicaset and position) to the leader's settling of
// its position: the first queue.settle, in trace order, whose complete
// range covers it (checker.Delivery's rule). The quantiles are of every
// message; the points are an even sample, with the slowest kept.
type QueueLatency struct {
	Acked   int   `json:"acked"`
	Settled int   `json:"settled"` // of the acknowledged, those settled
	P50     int64 `json:"p50"`
	P99     int64 `json:"p99"`
	Max     int64 `json:"max"`
	// Per Window µs of acknowledgement time, from 0: the quantiles of
	// the messages acknowledged in it, -1 where none was.
	Window int64   `json:"window"`
	WP50   []int64 `json:"wp50"`
	WP99   []int64 `json:"wp99"`
	Ack    []int64 `json:"ack"` // acknowledged at, each the difference from the previous point's
	Wait   []int64 `json:"wait"`
}

// Outbound is one destination's delivery: its outbound queue as the
// leaders of the replicasets recorded it (outbound.state), summed over
// replicasets (the oldest message's age is the oldest of theirs), and
// what its endpoint recorded of the pushes (endpoint.receive,
// endpoint.refuse), counted per stretch of Bin µs.
type Outbound struct {
	Destination int `json:"destination"`
	// The queue from each moment on. Past the cap, one point per
	// stretch of time: its deepest depth, its oldest age and its most
	// messages waiting their backoff.
	States   int     `json:"states"` // outbound.state records; the columns may hold fewer
	Time     []int64 `json:"t"`
	Depth    []int64 `json:"depth"`
	Oldest   []int64 `json:"oldest"`   // µs the oldest message had waited
	Retrying []int64 `json:"retrying"` // messages refused or unanswered, waiting their backoff
	Deepest  int64   `json:"deepest"`
	Eldest   int64   `json:"eldest"` // the longest any message had waited, µs
	Pushes   int     `json:"pushes"` // outbound.push records: pushes the leaders sent
	// What the endpoint recorded: items taken as new (Taken), taken again
	// (Duplicates: the endpoint had taken the idempotency key before) and
	// refused, in all and per stretch of Bin µs from 0.
	Taken      int   `json:"taken"`
	Duplicates int   `json:"duplicates"`
	Refusals   int   `json:"refusals"`
	Bin        int64 `json:"bin"`
	PerTaken   []int `json:"per_taken"`
	PerDup     []int `json:"per_dup"`
	PerRefused []int `json:"per_refused"`
}

// Kafka is one inbound connector's simulated broker as it traced itself
// (simnet/endpoint's Kafka): the consumer group's lag over time, the
// records produced and committed and the commits refused per stretch of
// Bin µs from 0, the group's rebalances and the broker's modes.
//
// A partition's lag is its records produced (kafka.produce) less the
// group's committed offset (the next of its latest kafka.commit). A
// group that starts at the partitions' ends (start: latest) commits
// first from where it started: that offset counts as committed from the
// group's first rebalance on.
type Kafka struct {
	Connector  int `json:"connector"`
	Partitions int `json:"partitions"` // the partitions the broker named, 0 to the highest
	// The lag from each moment on, summed and per partition. Past the
	// cap, one point per stretch of time with each column's highest,
	// and the last moment's as it was.
	Changes int       `json:"changes"` // moments the lag changed; the columns may hold fewer
	Time    []int64   `json:"t"`
	Lag     []int64   `json:"lag"`
	PartLag [][]int64 `json:"part_lag"` // by partition, then as Time
	MaxLag  int64     `json:"max_lag"`
	MaxAt   int64     `json:"max_at"` // when the lag first reached MaxLag
	// At the end, in all and per partition: the records produced, and
	// the committed offsets (records the group is done with).
	Produced      int64   `json:"produced"`
	Committed     int64   `json:"committed"`
	PartProduced  []int64 `json:"part_produced"`
	PartCommitted []int64 `json:"part_committed"`
	// Commits: the partitions' offsets committed (a kafka.commit each),
	// those that moved one back (its records to be read again), and the
	// commits and fetches the broker refused (kafka.refuse).
	Commits        int `json:"commits"`
	Rewinds        int `json:"rewinds"`
	CommitsRefused int `json:"commits_refused"`
	FetchesRefused int `json:"fetches_refused"`
	// Per stretch of Bin µs: records produced, records committed (how
	// far the commits moved the offsets forward) and commits refused.
	Bin          int64   `json:"bin"`
	PerProduced  []int64 `json:"per_produced"`
	PerCommitted []int64 `json:"per_committed"`
	PerRefused   []int64 `json:"per_refused"`
	// Generations counts the group's rebalances (kafka.rebalance), each
	// a new generation, and Forced, Joins and Leaves them by why;
	// Rebalances lists them, the first up to the cap.
	Generations int              `json:"generations"`
	Forced      int              `json:"forced"`
	Joins       int              `json:"joins"`
	Leaves      int              `json:"leaves"`
	Rebalances  []KafkaRebalance `json:"rebalances"`
	Modes       []KafkaMode      `json:"modes"` // the broker's mode from each moment on (kafka.mode), the first up to the cap
}

// KafkaRebalance is a new generation of a consumer group: its members
// and the partitions assigned them ("0:n1,1:n2"), and why (join, leave,
// forced).
type KafkaRebalance struct {
	Time       int64 `json:"t"`
	Generation int64 `json:"generation"`
	Why        int   `json:"why"`
	Members    int   `json:"members"`
	Assignment int   `json:"assignment"`
}

// KafkaMode is a broker's mode from a moment on: up, down, or slow with
// its answers Delay µs late.
type KafkaMode struct {
	Time  int64 `json:"t"`
	Mode  int   `json:"mode"`
	Delay int64 `json:"delay"`
}

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
// client, per-entry and queue settling records, which other panels
// summarize.
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
	queuePoints, waitPoints           int // per queue: states and busy stretches; settling waits over all queues
}

var defaultCaps = caps{ops: 150_000, messages: 30_000, events: 20_000, raftPoints: 1500, queuePoints: 1500, waitPoints: 5000}

// MaxDataBytes bounds the JSON embedded in a report: with the page around
// it, a report stays under 10 MB.
const MaxDataBytes = 9_500_000

// BuildData gathers what the report draws from a run, within the size
// bound.
func BuildData(r Run) (*Data, []byte, error) {
	r.Trace = qualifyGroups(r.Trace)
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
		c = caps{ops: c.ops * 2 / 3, messages: c.messages / 2, events: c.events / 2, raftPoints: c.raftPoints / 2,
			queuePoints: c.queuePoints / 2, waitPoints: c.waitPoints / 2}
	}
}

func us(ns int64) int64 { return ns / 1000 }

// qualifyGroups names the Raft groups of a run of several clusters by
// their cluster, "dc1/config", "dc1/rs1": every cluster has a group 0 and
// an rs1, and the Raft, queue and outbound panels group records by the
// group's name. A trace of one cluster comes back as it is; records
// changed are copies.
func qualifyGroups(trace []env.Record) []env.Record {
	topo := checker.ReplicationTopology(trace, nil)
	if len(topo.Clusters) < 2 {
		return trace
	}
	out := slices.Clone(trace)
	for i := range out {
		r := &out[i]
		c := topo.ClusterOf(r.Node)
		if c == "" {
			continue
		}
		for j, f := range r.Fields {
			if f.Key == "group" {
				if g, _ := r.Str("group"); g != "" {
					r.Fields = slices.Clone(r.Fields)
					r.Fields[j] = env.Str("group", c+"/"+g)
				}
				break
			}
		}
	}
	return out
}

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
// them (messages, client operations, Raft progress, the inbound queues'
// state and settling) or they say little (timers, posted events).
var highVolume = map[string]bool{
	"net.recv": true, "net.hold": true, "net.drop": true, "timer.fire": true,
	"post.handle": true, "post.drop": true, "raft.apply": true, "raft.ack": true,
	"kv.request": true, "kv.response": true, "raft.state": true,
	"client.invoke": true, "client.ok": true, "client.fail": true, "client.info": true,
	"queue.state": true, "queue.dispatch": true, "queue.settle": true,
	"outbound.state": true, "outbound.push": true, "outbound.pushed": true, "outbound.settle": true,
	"endpoint.receive": true, "endpoint.refuse": true,
	"kafka.produce": true, "kafka.fetch": true, "kafka.commit": true,
	"repl.apply": true, "repl.objects": true,
}

func buildData(r Run, c caps) *Data {
	d := &Data{Strings: []string{""}}
	b := &builder{d: d, strings: map[string]int{"": 0}}
	if n := len(r.Trace); n > 0 {
		d.End = us(r.Trace[n-1].Time)
	}
	d.LinViz = r.LinViz
	d.Foreign = foreign(r.Trace)
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
	// Instances bootstrap, or join a formed cluster (and record Raft
	// membership); in a trace without either, whatever starts and never
	// records a client operation is one.
	booted := map[env.NodeID]bool{}
	for i := range r.Trace {
		switch rec := &r.Trace[i]; rec.Kind {
		case "node.bootstrap", "raft.conf":
			booted[rec.Node] = true
		case "join.admitted":
			name, _ := rec.Str("instance")
			booted[env.NodeID(name)] = true
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
	b.queues(r.Trace, c.queuePoints, c.waitPoints)
	b.outbound(r.Trace, c.queuePoints)
	b.kafka(r.Trace, c.queuePoints)
	b.replication(r.Trace, c.queuePoints)
	d.Traffic = countTraffic(r.Trace)
	b.messages(r.Trace, c.messages)
	b.events(r.Trace, c.events)
	d.emptyNotNull()
	return d
}

// foreign reads the foreign.target and foreign.unapplied records of a
// foreign run, or returns nil for any other.
func foreign(trace []env.Record) *Foreign {
	var f *Foreign
	for i := range trace {
		r := &trace[i]
		switch r.Kind {
		case "foreign.target":
			f = &Foreign{}
			f.Target, _ = r.Str("target")
			f.Why, _ = r.Str("why")
		case "foreign.unapplied":
			if f != nil {
				what, _ := r.Str("what")
				f.Unapplied = append(f.Unapplied, what)
			}
		}
	}
	return f
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
	orEmpty(&d.Queues)
	for i := range d.Queues {
		q := &d.Queues[i]
		for _, p := range []*[]int64{&q.Time, &q.Depth, &q.Bytes, &q.Repairs, &q.Outbound, &q.Settled, &q.Resends, &q.Busy.At,
			&q.Latency.WP50, &q.Latency.WP99, &q.Latency.Ack, &q.Latency.Wait} {
			orEmpty(p)
		}
		orEmpty(&q.Busy.N)
	}
	orEmpty(&d.Outbound)
	for i := range d.Outbound {
		o := &d.Outbound[i]
		for _, p := range []*[]int64{&o.Time, &o.Depth, &o.Oldest, &o.Retrying} {
			orEmpty(p)
		}
		for _, p := range []*[]int{&o.PerTaken, &o.PerDup, &o.PerRefused} {
			orEmpty(p)
		}
	}
	orEmpty(&d.Kafka)
	for i := range d.Kafka {
		k := &d.Kafka[i]
		for _, p := range []*[]int64{&k.Time, &k.Lag, &k.PartProduced, &k.PartCommitted, &k.PerProduced, &k.PerCommitted, &k.PerRefused} {
			orEmpty(p)
		}
		orEmpty(&k.PartLag)
		for j := range k.PartLag {
			orEmpty(&k.PartLag[j])
		}
		orEmpty(&k.Rebalances)
		orEmpty(&k.Modes)
	}
	orEmpty(&d.Replication)
	for i := range d.Replication {
		o := &d.Replication[i]
		for _, p := range []*[]int64{&o.Time, &o.Depth, &o.Oldest} {
			orEmpty(p)
		}
		for _, p := range []*[]int{&o.PerApplied, &o.PerStale} {
			orEmpty(p)
		}
		orEmpty(&o.CatchUp)
	}
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
// never stopped lasts until the final heal or the end of the run, except
// an instantaneous one (a restart, a broker's forced rebalance), which
// stops as it starts.
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
			stop := int64(-1)
			if s("fault") == "restart" || (s("fault") == "broker" && s("mode") == "rebalance") {
				stop = us(r.Time)
			} else {
				open[k] = len(b.d.Faults)
			}
			effect, _ := r.Get("effect")
			b.d.Faults = append(b.d.Faults, Fault{Step: k.step, N: k.n, Fault: s("fault"), What: s("what"),
				Targets: s("targets"), Group: s("group"), Effect: effect.Value() == true, Why: s("why"),
				Start: us(r.Time), Stop: stop})
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

// queues gathers each replicaset's inbound queue when the trace has
// queue events: its state over time, every record if they fit in limit
// and else one point per end/limit of time; the busy refusals per
// stretch of as much time; and the wait from acknowledgement to settling
// of every acknowledged message, of which the points keep waits in all.
func (b *builder) queues(trace []env.Record, limit, waits int) {
	type state struct{ t, depth, bytes, repairs, outbound, settled int64 }
	type ack struct{ at, pos int64 }
	type queue struct {
		states  []state
		settles []settling
		count   int // queue.settle records, complete or not
		resends []int64
		busy    []int64
		acks    []ack
	}
	qs := map[string]*queue{}
	var order []string
	get := func(g string) *queue {
		q := qs[g]
		if q == nil {
			q = &queue{}
			qs[g] = q
			order = append(order, g)
		}
		return q
	}
	seen := false
	acked := map[string]bool{} // messages whose first ok has been seen
	var busyAnywhere []int64   // refusals that name no replicaset
	for i := range trace {
		r := &trace[i]
		n := func(k string) int64 { v, _ := r.Int(k); return v }
		switch r.Kind {
		case "queue.state", "queue.dispatch", "queue.settle", "queue.resend":
			seen = true
			g, _ := r.Str("group")
			q := get(g)
			switch r.Kind {
			case "queue.state":
				q.states = append(q.states, state{us(r.Time), n("depth"), n("bytes"), n("repairs"), n("outbound"), n("settled")})
			case "queue.settle":
				q.count++
				if s, ok := settleSpan(r); ok {
					q.settles = append(q.settles, settling{r.Time, s[0], s[1]})
				}
			case "queue.resend":
				q.resends = append(q.resends, us(r.Time))
			}
		case "client.ok", "client.fail":
			if f, _ := r.Str("f"); f != "enqueue" {
				continue
			}
			rs, _ := r.Str("replicaset")
			if r.Kind == "client.fail" {
				if note, _ := r.Str("note"); strings.HasPrefix(note, "busy") {
					if rs == "" {
						busyAnywhere = append(busyAnywhere, r.Time)
					} else {
						get(rs).busy = append(get(rs).busy, r.Time)
					}
				}
				continue
			}
			key, _ := r.Str("key")
			if acked[key] {
				continue
			}
			acked[key] = true
			if pos, ok := r.Int("position"); ok && rs != "" {
				get(rs).acks = append(get(rs).acks, ack{r.Time, pos})
			}
		}
	}
	if !seen {
		return
	}
	if len(busyAnywhere) > 0 {
		g := ""
		if len(order) == 1 {
			g = order[0]
		}
		get(g).busy = append(get(g).busy, busyAnywhere...)
	}
	limit = max(limit, 1)
	step := max(b.d.End/int64(limit), 1000)
	window := max(int64(niceStep(float64(b.d.End), 150)), 1_000_000)
	waitCap := max(waits/len(order), 1)
	var sampledStates, keptWaits, allWaits int
	for _, g := range order {
		q := qs[g]
		out := Queue{Group: b.str(g), States: len(q.states), Settles: q.count, Busy: Busy{Total: len(q.busy), Bin: step}}
		last := int64(-1) << 62
		for _, s := range q.states {
			out.Deepest = max(out.Deepest, s.depth)
			k := len(out.Time) - 1
			if len(q.states) > limit && k >= 0 && s.t/step == last {
				out.Depth[k], out.Bytes[k] = max(out.Depth[k], s.depth), max(out.Bytes[k], s.bytes)
				out.Repairs[k], out.Outbound[k], out.Settled[k] = s.repairs, s.outbound, s.settled
				continue
			}
			last = s.t / step
			out.Time = append(out.Time, s.t)
			out.Depth = append(out.Depth, s.depth)
			out.Bytes = append(out.Bytes, s.bytes)
			out.Repairs = append(out.Repairs, s.repairs)
			out.Outbound = append(out.Outbound, s.outbound)
			out.Settled = append(out.Settled, s.settled)
		}
		if len(out.Time) < len(q.states) {
			sampledStates++
		}
		out.Resends = q.resends
		slices.Sort(q.busy)
		for _, t := range q.busy {
			at := us(t) / step
			if k := len(out.Busy.At) - 1; k >= 0 && out.Busy.At[k] == at {
				out.Busy.N[k]++
				continue
			}
			out.Busy.At = append(out.Busy.At, at)
			out.Busy.N = append(out.Busy.N, 1)
		}
		// The wait of each acknowledged message, in acknowledgement order.
		pos := make([]int64, len(q.acks))
		for i, a := range q.acks {
			pos[i] = a.pos
		}
		settled := settledAt(q.settles, pos)
		type wait struct{ ack, wait int64 }
		var ws []wait
		for i, a := range q.acks {
			if at := settled[i]; at >= 0 {
				// Rounded to the µs, as checker.Delivery reports it.
				ws = append(ws, wait{us(a.at), (max(at-a.at, 0) + 500) / 1000})
			}
		}
		l := &out.Latency
		l.Acked, l.Settled, l.Window = len(q.acks), len(ws), window
		if len(ws) > 0 {
			sorted := make([]int64, len(ws))
			for i, w := range ws {
				sorted[i] = w.wait
			}
			slices.Sort(sorted)
			l.P50, l.P99, l.Max = quantile(sorted, 0.5), quantile(sorted, 0.99), sorted[len(sorted)-1]
			nw := max(b.d.End/window, 0) + 1
			per := make([][]int64, nw)
			for _, w := range ws {
				k := min(max(w.ack/window, 0), nw-1)
				per[k] = append(per[k], w.wait)
			}
			for _, p := range per {
				if len(p) == 0 {
					l.WP50, l.WP99 = append(l.WP50, -1), append(l.WP99, -1)
					continue
				}
				slices.Sort(p)
				l.WP50, l.WP99 = append(l.WP50, quantile(p, 0.5)), append(l.WP99, quantile(p, 0.99))
			}
		}
		keep := make([]bool, len(ws))
		if len(ws) <= waitCap {
			for i := range keep {
				keep[i] = true
			}
		} else {
			// The slowest quarter of the room, then an even sample.
			bySlow := make([]int, len(ws))
			for i := range bySlow {
				bySlow[i] = i
			}
			slices.SortStableFunc(bySlow, func(i, j int) int { return cmp.Compare(ws[j].wait, ws[i].wait) })
			for _, i := range bySlow[:waitCap/4] {
				keep[i] = true
			}
			stride := float64(len(ws)) / float64(waitCap-waitCap/4)
			for k := 0.0; int(k) < len(ws); k += stride {
				keep[int(k)] = true
			}
		}
		var prev int64
		for i, w := range ws {
			if keep[i] {
				l.Ack = append(l.Ack, w.ack-prev)
				l.Wait = append(l.Wait, w.wait)
				prev = w.ack
			}
		}
		keptWaits += len(l.Wait)
		allWaits += len(ws)
		b.d.Queues = append(b.d.Queues, out)
	}
	if sampledStates > 0 {
		b.d.Notes = append(b.d.Notes, fmt.Sprintf("The inbound queue's state is kept once every %s of virtual time: the deepest depth and bytes of each stretch, and its latest repair, outbound and settled counts.", fmtDuration(step*1000)))
	}
	if keptWaits < allWaits {
		b.d.Notes = append(b.d.Notes, fmt.Sprintf("The inbound queue's wait plot keeps %d of %d acknowledged messages: the slowest and an even sample of the rest. Its quantiles are of all of them.", keptWaits, allWaits))
	}
}

// outbound gathers each destination's delivery when the trace has
// outbound queue or endpoint events: its queue over time, summed over
// the replicasets' leaders, every change if they fit in limit and else
// one point per end/limit of time; and its endpoint's receipts and
// refusals per stretch of the plots' bucket width.
func (b *builder) outbound(trace []env.Record, limit int) {
	type state struct{ t, depth, oldest, retrying int64 }
	type group struct{ depth, oldest, retrying int64 }
	type dest struct {
		states  []state
		groups  map[string]group
		order   []string // of groups, as first seen
		pushes  int
		taken   []int64 // times, ns
		dups    []int64
		refused []int64
	}
	ds := map[string]*dest{}
	var names []string
	get := func(name string) *dest {
		d := ds[name]
		if d == nil {
			d = &dest{groups: map[string]group{}}
			ds[name] = d
			names = append(names, name)
		}
		return d
	}
	for i := range trace {
		r := &trace[i]
		switch r.Kind {
		case "outbound.state", "outbound.push", "endpoint.receive", "endpoint.refuse":
		default:
			continue
		}
		name, _ := r.Str("destination")
		d := get(name)
		n := func(k string) int64 { v, _ := r.Int(k); return v }
		switch r.Kind {
		case "outbound.push":
			d.pushes++
		case "endpoint.receive":
			if n("dup") != 0 {
				d.dups = append(d.dups, r.Time)
			} else {
				d.taken = append(d.taken, r.Time)
			}
		case "endpoint.refuse":
			d.refused = append(d.refused, r.Time)
		case "outbound.state":
			g, _ := r.Str("group")
			if _, ok := d.groups[g]; !ok {
				d.order = append(d.order, g)
			}
			d.groups[g] = group{n("depth"), n("oldest_ms") * 1000, n("retrying")}
			var sum state
			sum.t = us(r.Time)
			for _, name := range d.order {
				g := d.groups[name]
				sum.depth += g.depth
				sum.oldest = max(sum.oldest, g.oldest)
				sum.retrying += g.retrying
			}
			d.states = append(d.states, sum)
		}
	}
	if len(names) == 0 {
		return
	}
	limit = max(limit, 1)
	step := max(b.d.End/int64(limit), 1000)
	bin, nb := b.bins()
	perBin := func(times []int64) []int {
		out := make([]int, nb)
		for _, t := range times {
			out[min(max(us(t)/bin, 0), int64(nb-1))]++
		}
		return out
	}
	sampled := false
	for _, name := range names {
		d := ds[name]
		out := Outbound{Destination: b.str(name), States: len(d.states), Pushes: d.pushes,
			Taken: len(d.taken), Duplicates: len(d.dups), Refusals: len(d.refused), Bin: bin,
			PerTaken: perBin(d.taken), PerDup: perBin(d.dups), PerRefused: perBin(d.refused)}
		last := int64(-1) << 62
		for _, s := range d.states {
			out.Deepest, out.Eldest = max(out.Deepest, s.depth), max(out.Eldest, s.oldest)
			k := len(out.Time) - 1
			if len(d.states) > limit && k >= 0 && s.t/step == last {
				out.Depth[k], out.Oldest[k], out.Retrying[k] = max(out.Depth[k], s.depth), max(out.Oldest[k], s.oldest), max(out.Retrying[k], s.retrying)
				continue
			}
			last = s.t / step
			out.Time = append(out.Time, s.t)
			out.Depth = append(out.Depth, s.depth)
			out.Oldest = append(out.Oldest, s.oldest)
			out.Retrying = append(out.Retrying, s.retrying)
		}
		sampled = sampled || len(out.Time) < len(d.states)
		b.d.Outbound = append(b.d.Outbound, out)
	}
	if sampled {
		b.d.Notes = append(b.d.Notes, fmt.Sprintf("The outbound queues' state is kept once every %s of virtual time: the deepest depth, the oldest age and the most messages waiting their backoff of each stretch.", fmtDuration(step*1000)))
	}
}

// kafkaKinds are the records a simulated Kafka broker traces.
var kafkaKinds = map[string]bool{"kafka.mode": true, "kafka.produce": true, "kafka.rebalance": true,
	"kafka.fetch": true, "kafka.commit": true, "kafka.refuse": true}

// maxKafkaPartitions bounds the partitions of a broker the report
// follows: records naming a partition past it are left out.
const maxKafkaPartitions = 256

// kafka gathers each inbound connector's simulated broker when the trace
// has kafka events, in the connectors' name order: the group's lag at
// every moment it changed, every one if they fit in limit and else one
// point per end/limit of time; the records produced and committed and
// the commits refused per stretch of the plots' bucket width; and the
// first limit rebalances and modes.
func (b *builder) kafka(trace []env.Record, limit int) {
	limit = max(limit, 1)
	bin, nb := b.bins()
	at := func(ns int64) int { return int(min(max(us(ns)/bin, 0), int64(nb-1))) }
	// A group that starts at the partitions' ends traces no commit for
	// it: its first commit of a partition says where it started.
	started := map[string]map[int]int64{}
	brokers := map[string]*broker{}
	for i := range trace {
		r := &trace[i]
		if !kafkaKinds[r.Kind] {
			continue
		}
		c := kafkaConnector(r)
		if brokers[c] == nil {
			started[c] = map[int]int64{}
			brokers[c] = &broker{out: Kafka{Connector: b.str(c), Bin: bin,
				PerProduced: make([]int64, nb), PerCommitted: make([]int64, nb), PerRefused: make([]int64, nb)}}
		}
		if p, ok := kafkaPartition(r); ok && r.Kind == "kafka.commit" {
			if _, seen := started[c][p]; !seen {
				started[c][p], _ = r.Int("from")
			}
		}
	}
	for i := range trace {
		r := &trace[i]
		if !kafkaKinds[r.Kind] {
			continue
		}
		c := kafkaConnector(r)
		k, out := brokers[c], &brokers[c].out
		s := func(key string) string { v, _ := r.Str(key); return v }
		n := func(key string) int64 { v, _ := r.Int(key); return v }
		p, ok := kafkaPartition(r)
		switch r.Kind {
		case "kafka.produce":
			if ok {
				k.produce(r.Time, p)
				out.PerProduced[at(r.Time)]++
			}
		case "kafka.commit":
			if ok {
				out.Commits++
				from, next := n("from"), n("next")
				if next < from {
					out.Rewinds++
				}
				out.PerCommitted[at(r.Time)] += max(next-from, 0)
				k.commit(r.Time, p, next)
			}
		case "kafka.refuse":
			switch s("what") {
			case "commit":
				out.CommitsRefused++
				out.PerRefused[at(r.Time)]++
			case "fetch":
				out.FetchesRefused++
			}
		case "kafka.rebalance":
			if out.Generations == 0 {
				for _, q := range slices.Sorted(maps.Keys(started[c])) {
					k.commit(r.Time, q, started[c][q])
				}
			}
			out.Generations++
			switch s("why") {
			case "forced":
				out.Forced++
			case "join":
				out.Joins++
			case "leave":
				out.Leaves++
			}
			k.partitionsIn(s("assignment"))
			if len(out.Rebalances) < limit {
				out.Rebalances = append(out.Rebalances, KafkaRebalance{Time: us(r.Time), Generation: n("generation"),
					Why: b.str(s("why")), Members: b.str(s("members")), Assignment: b.str(s("assignment"))})
			}
		case "kafka.mode":
			if len(out.Modes) < limit {
				out.Modes = append(out.Modes, KafkaMode{Time: us(r.Time), Mode: b.str(s("mode")), Delay: us(n("delay"))})
			}
		case "kafka.fetch":
			k.partitionsIn(s("ranges"))
		}
	}
	step := max(b.d.End/int64(limit), 1000)
	sampled := false
	for _, c := range slices.Sorted(maps.Keys(brokers)) {
		out := brokers[c].finish(limit, step)
		sampled = sampled || len(out.Time) < out.Changes
		b.d.Kafka = append(b.d.Kafka, out)
	}
	if sampled {
		b.d.Notes = append(b.d.Notes, fmt.Sprintf("The Kafka consumer lag is kept once every %s of virtual time: the highest of each stretch, summed and per partition.", fmtDuration(step*1000)))
	}
}

// kafkaConnector is the connector a broker's record names (its node is
// ext/in/CONNECTOR).
func kafkaConnector(r *env.Record) string {
	if c, ok := r.Str("connector"); ok {
		return c
	}
	return strings.TrimPrefix(string(r.Node), "ext/in/")
}

// kafkaPartition is the partition a broker's record names, if it names
// one the report follows.
func kafkaPartition(r *env.Record) (int, bool) {
	p, ok := r.Int("partition")
	return int(p), ok && p >= 0 && p < maxKafkaPartitions
}

// broker gathers one connector's Kafka series.
type broker struct {
	out                 Kafka
	produced, committed []int64 // by partition
	sum                 int64   // lag over the partitions
	changes             []lagChange
}

// lagChange is a partition's lag from a moment (µs) on, and the sum's.
type lagChange struct {
	t        int64
	p        int
	lag, sum int64
}

func (k *broker) grow(p int) {
	for len(k.produced) <= p {
		k.produced, k.committed = append(k.produced, 0), append(k.committed, 0)
	}
}

// partitionsIn notes the partitions a list ("0:n1,1:n2", "0:5-9,2:3-3")
// names.
func (k *broker) partitionsIn(list string) {
	for _, item := range strings.Split(list, ",") {
		head, _, _ := strings.Cut(item, ":")
		if p, err := strconv.Atoi(head); err == nil && p >= 0 && p < maxKafkaPartitions {
			k.grow(p)
		}
	}
}

// set adds produced records to partition p at t (ns), and moves its
// committed offset by committed.
func (k *broker) set(t int64, p int, produced, committed int64) {
	k.grow(p)
	old := max(k.produced[p]-k.committed[p], 0)
	k.produced[p] += produced
	k.committed[p] += committed
	lag := max(k.produced[p]-k.committed[p], 0)
	k.sum += lag - old
	k.changes = append(k.changes, lagChange{us(t), p, lag, k.sum})
}

// produce adds a record to partition p at t (ns).
func (k *broker) produce(t int64, p int) { k.set(t, p, 1, 0) }

// commit sets partition p's committed offset to next at t (ns).
func (k *broker) commit(t int64, p int, next int64) {
	k.grow(p)
	k.set(t, p, 0, next-k.committed[p])
}

// finish fills the totals and the lag's columns: the state after each
// moment's last change, and past limit moments one point per stretch of
// step µs with each column's highest, the last moment kept as it was.
func (k *broker) finish(limit int, step int64) Kafka {
	out := k.out
	out.Partitions = len(k.produced)
	out.PartProduced, out.PartCommitted = k.produced, k.committed
	for p := range k.produced {
		out.Produced += k.produced[p]
		out.Committed += k.committed[p]
	}
	cs := k.changes
	last := func(i int) bool { return i+1 == len(cs) || cs[i+1].t != cs[i].t }
	for i := range cs {
		if last(i) {
			out.Changes++
		}
	}
	lags := make([]int64, out.Partitions)
	out.PartLag = make([][]int64, out.Partitions)
	stretch := int64(-1) << 62
	for i, ch := range cs {
		lags[ch.p] = ch.lag
		if !last(i) {
			continue
		}
		if ch.sum > out.MaxLag {
			out.MaxLag, out.MaxAt = ch.sum, ch.t
		}
		if j := len(out.Time) - 1; out.Changes > limit && j >= 0 && ch.t/step == stretch {
			out.Lag[j] = max(out.Lag[j], ch.sum)
			for p := range lags {
				out.PartLag[p][j] = max(out.PartLag[p][j], lags[p])
			}
			if i < len(cs)-1 {
				continue
			}
			// The line ends where the lag ended.
		}
		stretch = ch.t / step
		out.Time, out.Lag = append(out.Time, ch.t), append(out.Lag, ch.sum)
		for p := range lags {
			out.PartLag[p] = append(out.PartLag[p], lags[p])
		}
	}
	return out
}

// bins are the width in µs of the stretches the report counts events in
// (the plots' bucket width) and how many cover the run: at least one,
// even for a trace that ends before 0.
func (b *builder) bins() (int64, int) {
	bin := max(int64(niceStep(float64(b.d.End), 150)), 1_000_000)
	return bin, int(max(b.d.End, 0)/bin) + 1
}

// settleSpan is the positions a queue.settle settled, from its id
// (q/GROUP/FROM/TO), when it settled all of them.
func settleSpan(r *env.Record) ([2]int64, bool) {
	id, _ := r.Str("id")
	n, _ := r.Int("settled")
	parts := strings.Split(id, "/")
	if len(parts) != 4 || n <= 0 {
		return [2]int64{}, false
	}
	first, err1 := strconv.ParseInt(parts[2], 10, 64)
	last, err2 := strconv.ParseInt(parts[3], 10, 64)
	if err1 != nil || err2 != nil || last-first+1 != n {
		return [2]int64{}, false
	}
	return [2]int64{first, last}, true
}

// settling is a leader's settling of positions from..to of a queue,
// at a time in nanoseconds.
type settling struct{ at, from, to int64 }

// settledAt is when the message at each position was settled: the time
// of the first settling, in order, that covers it; -1 if none does. It
// takes time in the number of messages and settlings, however many
// positions a settling spans.
func settledAt(ss []settling, pos []int64) []int64 {
	at := make([]int64, len(pos))
	byPos := make([]int, len(pos))
	for i := range pos {
		at[i] = -1
		byPos[i] = i
	}
	slices.SortStableFunc(byPos, func(i, j int) int { return cmp.Compare(pos[i], pos[j]) })
	// next leads from k to the first message at or after k in byPos
	// not yet settled (len(byPos) when there is none).
	next := make([]int, len(byPos)+1)
	for k := range next {
		next[k] = k
	}
	find := func(k int) int {
		root := k
		for next[root] != root {
			root = next[root]
		}
		for next[k] != root {
			next[k], k = root, next[k]
		}
		return root
	}
	for _, s := range ss {
		k, _ := slices.BinarySearchFunc(byPos, s.from, func(i int, p int64) int { return cmp.Compare(pos[i], p) })
		for k = find(k); k < len(byPos) && pos[byPos[k]] <= s.to; k = find(k) {
			at[byPos[k]] = s.at
			next[k] = k + 1
		}
	}
	return at
}

// quantile is the q-quantile of sorted values, as checker.Delivery
// computes it.
func quantile(sorted []int64, q float64) int64 {
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

// niceStep is report.js's: a round step (1, 2 or 5 times a power of ten)
// that cuts span into about n.
func niceStep(span float64, n int) float64 {
	if span <= 0 {
		return 1
	}
	raw := span / float64(n)
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
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
// faults, lifecycles and changes of the cluster's shape before Raft's
// own events.
func logPriority(kind string) int {
	switch {
	case strings.HasPrefix(kind, "nemesis."), strings.HasPrefix(kind, "node."), strings.HasPrefix(kind, "net."),
		strings.HasPrefix(kind, "clock."), strings.HasPrefix(kind, "disk."),
		strings.HasPrefix(kind, "topology."), kind == "governor.step", kind == "join.admitted", kind == "replicaset.found",
		kind == "move.frozen", kind == "move.commit":
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
