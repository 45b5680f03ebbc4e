// Package reports renders self-contained HTML reports of runs: inline CSS
// and SVG, no scripts from elsewhere, readable straight from disk.
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
}

//go:embed plain.html.tmpl
var plainTemplate string

var plain = template.Must(template.New("plain").Funcs(template.FuncMap{
	"at": func(t int64) string { return time.Duration(t).String() },
	// class names a verdict's CSS class ("n/a" is not a class name).
	"class": func(v checker.Verdict) string {
		if v == checker.NA {
			return "na"
		}
		return string(v)
	},
}).Parse(plainTemplate))

// Plain writes the plain report: verdicts, the run's identity, a timeline
// of node states and cuts, the faults in order, and traffic per link.
func Plain(w io.Writer, r Run) error {
	v := view{Run: r, Faults: faults(r.Trace), Traffic: traffic(r.Trace)}
	v.Timeline = timeline(r.Trace)
	return plain.Execute(w, v)
}

type view struct {
	Run
	Faults   []fault
	Traffic  []linkTraffic
	Timeline template.HTML
}

type fault struct {
	Time int64
	What string
}

// faults lists the world's interventions, in trace order.
func faults(trace []env.Record) []fault {
	var out []fault
	for i := range trace {
		if d := describe(&trace[i]); d != "" {
			out = append(out, fault{trace[i].Time, d})
		}
	}
	return out
}

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
	seen := map[key]map[int64]bool{}
	row := func(k key) *linkTraffic {
		if rows[k] == nil {
			rows[k] = &linkTraffic{From: k.from, To: k.to, Msg: k.msg}
			seen[k] = map[int64]bool{}
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
			id, _ := r.Int("id")
			if seen[k][id] {
				t.Duplicated++
			}
			seen[k][id] = true
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
