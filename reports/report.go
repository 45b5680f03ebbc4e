// Package reports renders self-contained HTML reports of runs: inline CSS,
// script and SVG, nothing from elsewhere, readable straight from disk.
package reports

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/shoaldb/shoal/checker"
	"github.com/shoaldb/shoal/core/env"
)

// Run is what a report shows: who ran what, the verdicts, and the trace.
type Run struct {
	Scenario    string
	Description string
	Seed        uint64
	Version     string
	Commit      string
	Command     string // reproduces the run
	TraceSHA256 string
	Verdict     checker.Verdict
	Results     []checker.Result
	Trace       []env.Record
	// LinViz names porcupine's visualization of a non-linearizable
	// history, written beside the report; empty when there is none.
	LinViz string
	// Live, when set, says the run was of real processes (shoal live
	// run) and lists what it could not do as the scenario says.
	Live *Live
}

// Live is what the report says of a run against real processes.
type Live struct {
	Instances int
	// Unapplied lists what the run could not do as its scenario says:
	// faults real processes cannot take, workloads it cannot drive,
	// checks that do not apply.
	Unapplied []string
}

//go:embed report.html.tmpl
var reportTemplate string

//go:embed report.js
var reportJS string

//go:embed report.css
var reportCSS string

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	// class names a verdict's CSS class ("n/a" is not a class name).
	"class": func(v checker.Verdict) string {
		if v == checker.NA {
			return "na"
		}
		return string(v)
	},
}).Parse(reportTemplate))

// Write writes a run's report: one self-contained HTML page whose script
// draws the data BuildData gathers. The verdicts, the first bad operation
// and the run's identity are plain HTML, readable without the script.
func Write(w io.Writer, r Run) error {
	d, data, err := BuildData(r)
	if err != nil {
		return err
	}
	v := pageView{Run: r, First: d.First, Notes: d.Notes, Foreign: d.Foreign, Queue: len(d.Queues) > 0, Outbound: len(d.Outbound) > 0,
		Kafka: len(d.Kafka) > 0, Replication: len(d.Replication) > 0, Data: template.JS(data), JS: template.JS(reportJS), CSS: template.CSS(reportCSS)}
	for i, res := range r.Results {
		if res.Checker == "outbound" || strings.HasPrefix(res.Checker, "outbound[") {
			v.OutboundResults = append(v.OutboundResults, res) // one per cluster in a run of several
		}
		switch res.Checker {
		case "linearizable":
			v.LinResult = res.Explanation
		case "replication":
			v.ReplicationResult = &r.Results[i]
		}
	}
	return page.Execute(w, v)
}

type pageView struct {
	Run
	First    *FirstBad
	Notes    []string
	Queue    bool // the trace has queue events: the page has an Inbound queue section
	Outbound bool // the trace has outbound or endpoint events: the page has an Outbound section
	Kafka    bool // the trace has kafka events: the page has a Kafka section
	// Replication: the trace has repl events and replication
	// destinations; the page has a Replication section.
	Replication bool
	// OutboundResults and ReplicationResult are those checks', if they
	// ran: the outbound check's, one per cluster in a run of several.
	OutboundResults   []checker.Result
	ReplicationResult *checker.Result
	Foreign           *Foreign // a foreign target's run, which replay does not reproduce
	LinResult         string
	Data              template.JS
	JS                template.JS
	CSS               template.CSS
}

// describe renders a world intervention in words, or "" for other records.
func describe(r *env.Record) string {
	s := func(k string) string { v, _ := r.Str(k); return v }
	d := func(k string) string { v, _ := r.Int(k); return time.Duration(v).String() }
	switch r.Kind {
	case "net.partition":
		return "partition " + strings.ReplaceAll(s("components"), "|", " | ")
	case "net.heal":
		return "heal the network"
	case "net.cut":
		return fmt.Sprintf("cut %s → %s", s("from"), s("to"))
	case "net.uncut":
		return fmt.Sprintf("restore %s → %s", s("from"), s("to"))
	case "node.kill":
		return "kill " + string(r.Node)
	case "node.crash":
		return fmt.Sprintf("%s crashed: %s", r.Node, s("error"))
	case "nemesis.start":
		return fmt.Sprintf("fault %s: %s %s", s("fault"), s("what"), s("why"))
	case "node.start":
		if inc, _ := r.Int("inc"); inc > 1 {
			return fmt.Sprintf("restart %s (incarnation %d)", r.Node, inc)
		}
	case "node.pause":
		return "pause " + string(r.Node)
	case "node.resume":
		return "resume " + string(r.Node)
	case "clock.offset":
		return fmt.Sprintf("set %s's clock offset to %s", r.Node, d("offset"))
	case "clock.drift":
		f, _ := r.Get("drift")
		return fmt.Sprintf("make %s's clock drift by %v", r.Node, f.Value())
	case "clock.strobe":
		return fmt.Sprintf("strobe %s's clock by %s every %s", r.Node, d("amp"), d("period"))
	}
	return describeTopology(r)
}

// describeTopology puts the records of the cluster's changes of shape in
// words: the operators' joins and expels, admissions, the governor's
// steps, new replicasets, leadership handed over, the final
// configuration.
func describeTopology(r *env.Record) string {
	s := func(k string) string { v, _ := r.Str(k); return v }
	i := func(k string) int64 { v, _ := r.Int(k); return v }
	switch r.Kind {
	case "topology.action":
		what := fmt.Sprintf("operator: %s %s via %s", s("action"), s("instance"), s("via"))
		if d := s("domain"); d != "" {
			what += " (" + d + ")"
		}
		if f, _ := r.Bool("force"); f {
			what += ", forced"
		}
		if up, _ := r.Bool("up"); !up {
			what += "; " + s("via") + " is down"
		}
		return what
	case "join.admitted":
		raftID, _ := r.Int("raft_id")
		return fmt.Sprintf("%s admitted (Raft ID %d, from %s's configuration): its engine starts", s("instance"), raftID, s("from"))
	case "governor.step":
		switch s("op") {
		case "offline":
			return fmt.Sprintf("governor: %s headed offline (%s)", s("instance"), s("reason"))
		case "online":
			return fmt.Sprintf("governor: %s headed online (%s)", s("instance"), s("reason"))
		case "state":
			return fmt.Sprintf("governor: %s is now %s", s("instance"), s("state"))
		case "voters":
			return "governor: group 0's voters become " + s("voters")
		case "move.start":
			return fmt.Sprintf("governor: bucket %d moves from %s to %s", i("bucket"), s("from"), s("to"))
		}
	case "move.frozen":
		return fmt.Sprintf("%s freezes bucket %d for move %d at index %d", s("group"), i("bucket"), i("move"), i("index"))
	case "move.commit":
		return fmt.Sprintf("%s has copied bucket %d (move %d, %d pages) and commits it", s("group"), i("bucket"), i("move"), i("pages"))
	case "replicaset.found":
		return fmt.Sprintf("%s founds %s", r.Node, s("replicaset"))
	case "raft.transfer":
		return fmt.Sprintf("%s hands %s's leadership to %s: %s", r.Node, s("group"), s("to"), s("why"))
	case "topology.final":
		return fmt.Sprintf("final configuration: voters %s; replicasets %s", s("voters"), strings.ReplaceAll(s("replicasets"), "+", ","))
	}
	return ""
}

type linkTraffic struct {
	From, To, Msg          string
	Delivered, Duplicated  int
	Lost, Cut, Down, Other int
}

// traffic counts, per link and message kind, what was delivered and what
// was dropped and why.
func traffic(trace []env.Record) []linkTraffic {
	type key struct{ from, to, msg string }
	rows := map[key]*linkTraffic{}
	var seen idSet // message IDs are unique per send; a duplicate repeats one
	row := func(k key) *linkTraffic {
		if rows[k] == nil {
			rows[k] = &linkTraffic{From: k.from, To: k.to, Msg: k.msg}
		}
		return rows[k]
	}
	for i := range trace {
		r := &trace[i]
		from, _ := r.Str("from")
		msg, _ := r.Str("msg")
		switch r.Kind {
		case "net.recv":
			k := key{from, string(r.Node), msg}
			t := row(k)
			if id, _ := r.Int("id"); seen.add(id) {
				t.Duplicated++
			}
			t.Delivered++
		case "net.drop":
			to, _ := r.Str("to")
			t := row(key{from, to, msg})
			switch why, _ := r.Str("why"); why {
			case "loss":
				t.Lost++
			case "cut":
				t.Cut++
			case "down":
				t.Down++
			default:
				t.Other++
			}
		}
	}
	out := make([]linkTraffic, 0, len(rows))
	for _, t := range rows {
		out = append(out, *t)
	}
	slices.SortFunc(out, func(a, b linkTraffic) int {
		return strings.Compare(a.From+"\x00"+a.To+"\x00"+a.Msg, b.From+"\x00"+b.To+"\x00"+b.Msg)
	})
	return out
}
