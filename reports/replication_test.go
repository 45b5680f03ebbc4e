package reports_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoaldb/shoal/checker"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/reports"
)

// replicationTrace: dc1 replicates to dc2 through to-dc2 (and to a
// webhook, audit, which is no replication), dc2 to dc1 through to-dc1.
// The dc link is cut from 1s to 3s: to-dc2's queue grows to 5, the
// oldest waiting 1.5s, and empties 600ms after the heal. dc2 applies
// dc1's first change (both replicas) and skips its second as stale.
func replicationTrace() []env.Record {
	var trace []env.Record
	add := func(ms int64, node, kind string, fields ...env.Field) {
		trace = append(trace, env.Record{Time: ms * 1_000_000, Node: env.NodeID(node), Kind: kind, Fields: fields})
	}
	state := func(ms int64, node, dest string, depth, oldestMS int64) {
		add(ms, node, "outbound.state", env.Str("group", "rs1"), env.Str("destination", dest), env.Int("depth", depth),
			env.Int("oldest_ms", oldestMS), env.Int("retrying", 0), env.Int("pushes", 0))
		if to, ok := strings.CutPrefix(dest, "to-"); ok { // as the engine traces a destination of type shoal
			add(ms, node, "repl.lag", env.Str("group", "rs1"), env.Str("destination", dest), env.Str("cluster", to),
				env.Int("entries", depth), env.Int("oldest_ms", oldestMS))
		}
	}
	apply := func(ms int64, node, pk, origin string, stamp int64, applied bool) {
		cluster, _, _ := strings.Cut(node, "-")
		add(ms, node, "repl.apply", env.Str("group", "rs1"), env.Str("cluster", cluster), env.Str("type", "order"), env.Str("pk", pk),
			env.Str("origin", origin), env.Int("time", stamp), env.Str("id", fmt.Sprintf("%s/%s", origin, pk)), env.Bool("applied", applied))
	}
	receive := func(ms int64, dest, cluster, from string, dup int64) {
		add(ms, "ext/"+dest, "endpoint.receive", env.Str("destination", dest), env.Str("key", "rs1-1"), env.Str("order", "o"),
			env.Uint("seq", 1), env.Str("replicaset", "rs1"), env.Int("dup", dup), env.Str("body", "b"), env.Str("from", from), env.Str("cluster", cluster))
	}
	for _, n := range []string{"dc1-n1", "dc1-n2", "dc2-n1", "dc2-n2"} {
		add(0, n, "node.bootstrap")
		add(0, n, "node.start", env.Int("inc", 1))
	}
	state(500, "dc1-n1", "to-dc2", 1, 0)
	add(500, "dc1-n1", "outbound.push", env.Str("group", "rs1"), env.Str("destination", "to-dc2"), env.Int("id", 1), env.Int("messages", 1), env.Int("first", 1))
	receive(550, "to-dc2", "dc2", "dc1-n1", 0)
	apply(550, "dc2-n1", "1", "dc1", 100, true)
	apply(551, "dc2-n2", "1", "dc1", 100, true)
	state(600, "dc1-n1", "to-dc2", 0, 0)
	state(700, "dc1-n1", "audit", 2, 100)
	add(750, "ext/audit", "endpoint.receive", env.Str("destination", "audit"), env.Str("key", "rs1-9"), env.Int("dup", 0))
	state(800, "dc1-n1", "audit", 0, 0)
	add(1000, "nemesis", "nemesis.start", env.Int("step", 1), env.Int("n", 1), env.Str("fault", "dclink"), env.Str("targets", ""),
		env.Str("what", "dc1|dc2 cut: 4 links"), env.Bool("effect", true), env.Str("between", "dc1,dc2"), env.Str("mode", "cut"))
	state(1500, "dc1-n1", "to-dc2", 3, 500)
	state(2500, "dc1-n1", "to-dc2", 5, 1500)
	state(2700, "dc2-n1", "to-dc1", 1, 0)
	add(3000, "nemesis", "nemesis.stop", env.Int("step", 1), env.Int("n", 1), env.Int("sent", 10), env.Int("dropped", 10))
	add(3100, "dc1-n1", "outbound.push", env.Str("group", "rs1"), env.Str("destination", "to-dc2"), env.Int("id", 2), env.Int("messages", 5), env.Int("first", 2))
	for i := range int64(5) {
		receive(3150+i, "to-dc2", "dc2", "dc1-n1", min(i/4, 1)) // the last one a duplicate
	}
	apply(3200, "dc2-n1", "2", "dc1", 200, false)
	apply(3201, "dc2-n2", "2", "dc1", 200, false)
	apply(3250, "dc1-n1", "3", "dc2", 300, true)
	state(3200, "dc1-n1", "to-dc2", 2, 100)
	state(3300, "dc2-n1", "to-dc1", 0, 0)
	state(3600, "dc1-n1", "to-dc2", 0, 0)
	add(4000, "dc1-n1", "repl.objects", env.Str("group", "rs1"), env.Str("cluster", "dc1"), env.Int("count", 0), env.Str("objects", ""))
	return trace
}

func TestDataReplication(t *testing.T) {
	d, _, err := reports.BuildData(reports.Run{Trace: replicationTrace()})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Replication) != 2 {
		t.Fatalf("%d replication destinations, want 2 (to-dc1, to-dc2): %+v", len(d.Replication), d.Replication)
	}
	got := func(what string, v any, want string) {
		t.Helper()
		if s := fmt.Sprint(v); s != want {
			t.Errorf("%s: %s, want %s", what, s, want)
		}
	}
	s := func(i int) string { return d.Strings[i] }
	r, back := d.Replication[0], d.Replication[1]
	got("destinations", []string{s(r.Cluster), s(r.Destination), s(r.To), s(back.Cluster), s(back.Destination), s(back.To)},
		"[dc1 to-dc2 dc2 dc2 to-dc1 dc1]")
	got("queue", []any{r.States, r.Time, r.Depth, r.Oldest}, "[6 [500000 600000 1500000 2500000 3200000 3600000] [1 0 3 5 2 0] [0 0 500000 1500000 100000 0]]")
	got("deepest", []any{r.Deepest, r.DeepestAt, r.Eldest, r.EldestAt}, "[5 2500000 1500000 2500000]")
	got("sent", []any{r.Pushes, r.Sent, r.Acked, r.Refusals}, "[2 6 5 0]")
	got("changes", []any{r.Applied, r.Stale, r.Bin, r.PerApplied, r.PerStale}, "[1 1 1000000 [1 0 0 0 0] [0 0 0 1 0]]")
	got("catch-up", []any{len(r.CatchUp), r.CatchUp[0].Heal, s(r.CatchUp[0].What), r.CatchUp[0].Took}, "[1 3000000 dc1|dc2 cut: 4 links 600000]")
	got("the way back", []any{back.Applied, back.Stale, back.Deepest, len(back.CatchUp), back.CatchUp[0].Took}, "[1 0 1 1 300000]")
	for _, k := range d.Events.Kind {
		if s(k) == "repl.apply" || s(k) == "repl.objects" {
			t.Errorf("the event log holds %s records", s(k))
		}
	}

	res := checker.Result{Checker: "replication", Verdict: checker.Valid, Explanation: "dc1, dc2 hold the same objects"}
	var out bytes.Buffer
	if err := reports.Write(&out, reports.Run{Scenario: "replication", Trace: replicationTrace(), Results: []checker.Result{res}}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`<section id="replication">`, `<a href="#replication">`, `<div id="replication-panels">`,
		`<p id="replication-verdict">The replication check: <span class="verdict valid">valid</span> dc1, dc2 hold the same objects</p>`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report of a replication run lacks %s", want)
		}
	}
	// Outbound traffic without repl records is no replication.
	var plain []env.Record
	for _, r := range replicationTrace() {
		if !strings.HasPrefix(r.Kind, "repl.") {
			plain = append(plain, r)
		}
	}
	out.Reset()
	if err := reports.Write(&out, reports.Run{Scenario: "outbound", Trace: plain}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), `<section id="replication">`) {
		t.Error("the report of a run without repl records has a Replication section")
	}
}

// TestBrowserReplication opens the report of the synthetic replication
// trace: a panel per destination with the lag in changes and in time,
// the changes applied and skipped, the dc link's cut and the catch-up
// after its heal, a table of totals, and time travel on a click.
func TestBrowserReplication(t *testing.T) {
	ctx := browser(t)
	trace := replicationTrace()
	res := checker.Replication(trace, nil)
	path := filepath.Join(t.TempDir(), "report.html")
	var out bytes.Buffer
	if err := reports.Write(&out, reports.Run{Scenario: "replication", Trace: trace, Results: []checker.Result{res}}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	p := load(t, ctx, path)
	p.screenshot("replication")
	panel := `svg.repl-destination[data-cluster="dc1"][data-destination="to-dc2"]`
	if p.count("#replication") != 1 || p.count("svg.repl-destination") != 2 || p.count(panel) != 1 {
		t.Fatalf("%d Replication sections, %d panels, %d for dc1's to-dc2; want 1, 2, 1", p.count("#replication"), p.count("svg.repl-destination"), p.count(panel))
	}
	if v := p.text("#replication-verdict"); !strings.Contains(v, string(res.Verdict)) {
		t.Errorf("the replication verdict reads %q, want %s", v, res.Verdict)
	}
	for sel, want := range map[string]int{
		" polyline.r-depth": 1, " polyline.r-oldest": 1, " rect.r-applied": 1, " rect.r-stale": 1,
		" rect.r-dclink-cut": 1, " path.r-heal": 1, " line.r-catchup": 1,
	} {
		if n := p.count(panel + sel); n != want {
			t.Errorf("%s: %d drawn, want %d", sel, n, want)
		}
	}
	if p.count(panel+" rect.shade") == 0 {
		t.Error("the panel has no fault band")
	}
	table := `table.repl-table[data-cluster="dc1"][data-destination="to-dc2"] `
	for k, want := range map[string]string{"sent": "6 in 2 pushes", "acked": "5", "applied": "1", "stale": "1",
		"max-lag": "5 waiting at 2.5s", "max-wait": "1.5s at 2.5s", "catch-up": "3s: 600ms"} {
		if got := p.text(table + `td[data-k="` + k + `"]`); got != want {
			t.Errorf("table %s reads %q, want %q", k, got, want)
		}
	}
	p.clickAt(panel, fractionAt(2_000_000, 4_000_000), 0.5)
	if to := p.text("#travel-replication"); !strings.Contains(to, "dc1 → dc2 (to-dc2) 3 waiting, the oldest for 500ms") {
		t.Errorf("time travel shows replication as %q", to)
	}
	if p.count(panel+" line.cursor:not([visibility])") != 1 {
		t.Error("the panel draws no cursor at the moment travelled to")
	}
	p.screenshot("replication-travel")
	noErrors(t, p)
}
