package reports_test

import (
	"bytes"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoaldb/shoal/checker"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/reports"
	"github.com/shoaldb/shoal/scenarios/runner"
	"github.com/shoaldb/shoal/scenarios/scenario"
)

var large = flag.Bool("large", false, "also build and open the report of a 100k-operation run (make test-long)")

// simRun runs a scenario into a fresh run directory and returns it with
// the outcome.
func simRun(t *testing.T, s *scenario.Scenario, seed uint64, bugs ...string) (string, *runner.Outcome) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "run")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	o, err := runner.Run(s, runner.Options{Seed: seed, Bugs: bugs, Dir: dir, Command: fmt.Sprintf("shoal sim run %s --seed %d", s.Name, seed)})
	if err != nil {
		t.Fatal(err)
	}
	return dir, o
}

func parseScenario(t *testing.T, src string) *scenario.Scenario {
	t.Helper()
	s, err := scenario.Parse("test.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func invokes(records []env.Record) int {
	n := 0
	for i := range records {
		if records[i].Kind == "client.invoke" {
			n++
		}
	}
	return n
}

// Timeline geometry, as report.js draws it: the SVG is W wide, and time
// runs from x = L over PW.
const svgW, svgL, svgPW = 1200.0, 86.0, 1200.0 - 86 - 12

// fractionAt is where, across the timeline's SVG, the moment t (µs) lies
// when the whole run of end µs is in view.
func fractionAt(t, end int64) float64 { return (svgL + float64(t)/float64(end)*svgPW) / svgW }

func noErrors(t *testing.T, p interface{ errors() []string }) {
	t.Helper()
	for _, e := range p.errors() {
		t.Errorf("browser console: %s", e)
	}
}

// TestBrowserPassingRun opens the report of a valid run with a partition,
// and checks what a person would: the verdict, every operation drawn, the
// fault's details on a click, and time travel into and out of the
// partition.
func TestBrowserPassingRun(t *testing.T) {
	ctx := browser(t)
	s := parseScenario(t, `name: browser-pass
description: Three instances, four clients, the data leader cut off from 2s to 4s.
cluster: {instances: 3, replication_factor: 3}
workload: {kind: kv, clients: 4, keys: 4, rate: 80}
duration: 6s
nemesis:
  - {at: 2s, for: 2s, fault: partition, shape: isolate-leader, group: data}
final: {heal: true, recover: 2s}
expect: valid
`)
	dir, o := simRun(t, s, 1)
	if o.Results.Verdict != checker.Valid {
		t.Fatalf("the run is %s, want valid: %+v", o.Results.Verdict, o.Results.Checkers)
	}
	p := load(t, ctx, filepath.Join(dir, "report.html"))
	p.screenshot("loaded")

	if got := p.text("#verdict"); got != "valid" {
		t.Errorf("verdict %q, want valid", got)
	}
	if n := p.count("#first-bad"); n != 0 {
		t.Error("a valid run's report names a first bad operation")
	}
	if n := p.count("#queue") + p.count("svg.queue-group") + p.count(`nav a[href="#queue"]`); n != 0 {
		t.Error("the report of a run without an inbound queue has an Inbound queue panel")
	}
	if n := p.count("#kafka") + p.count("svg.kafka-connector") + p.count(`nav a[href="#kafka"]`); n != 0 {
		t.Error("the report of a run without a Kafka broker has a Kafka panel")
	}
	ops := invokes(o.Records)
	if got := p.count("#timeline rect.op"); got != ops {
		t.Errorf("%d operations drawn, want all %d of the history", got, ops)
	}
	if got := p.attr("#timeline", "data-drawn"); got != strconv.Itoa(ops) {
		t.Errorf("data-drawn %s, want %d", got, ops)
	}
	for _, name := range []string{"linearizable", "raft-safety", "durability", "partitions"} {
		if p.count(`tr[data-checker="`+name+`"]`) != 1 {
			t.Errorf("no verdict row for %s", name)
		}
	}

	// The fault band: its details name what the nemesis did.
	var what string
	var start, stop int64
	for _, r := range o.Records {
		switch r.Kind {
		case "nemesis.start":
			what, _ = r.Str("what")
			start = r.Time / 1000
		case "nemesis.stop":
			stop = r.Time / 1000
		}
	}
	if p.count("#timeline rect.band") != 1 {
		t.Fatalf("%d fault bands drawn, want 1", p.count("#timeline rect.band"))
	}
	p.click("#timeline rect.band")
	if detail := p.text("#fault-detail"); !strings.Contains(detail, what) || !strings.Contains(detail, "took effect") {
		t.Errorf("the fault's details read %q, want %q and whether it took effect", detail, what)
	}
	p.screenshot("fault")

	// Time travel: a moment inside the partition shows the leader cut
	// off; one after the heal shows every link open.
	end := o.Records[len(o.Records)-1].Time / 1000
	travel := func(at int64) (time int64, cut int) {
		p.clickAt("#timeline svg", fractionAt(at, end), 0.97)
		got, err := strconv.ParseInt(p.attr("#travel", "data-time"), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return got, p.count("#reachability td.cut")
	}
	mid := (start + stop) / 2
	got, cut := travel(mid)
	if math.Abs(float64(got-mid)) > float64(end)/500 {
		t.Errorf("clicked at %dµs, travelled to %dµs", mid, got)
	}
	// Three instances, the leader cut off from two, both ways.
	if cut != 4 {
		t.Errorf("inside the partition %d links are cut, want 4", cut)
	}
	if rows := p.count("#travel tr[data-node]"); rows != 3 {
		t.Errorf("time travel shows %d instances, want 3", rows)
	}
	if !strings.Contains(p.text("#travel"), "Faults in force: partition") {
		t.Errorf("time travel inside the partition does not show it in force: %q", p.text("#travel"))
	}
	p.screenshot("travel")
	if _, cut := travel(stop + 500_000); cut != 0 {
		t.Errorf("after the heal %d links are cut, want none", cut)
	}
	noErrors(t, p)
}

// TestBrowserIngestRun opens the report of an ingest run whose queue
// fills while its leader is paused, and checks the inbound queue's
// panel: the depth, a tick per stretch of busy refusals, the waits from
// acknowledgement to settling, a caption with their counts and
// quantiles, and time travel from a click on it.
func TestBrowserIngestRun(t *testing.T) {
	ctx := browser(t)
	s := parseScenario(t, `name: browser-ingest
description: Three instances take messages faster than their leader settles them, and the leader pauses for a second.
cluster:
  instances: 3
  replication_factor: 3
  model: example
  pipeline: example
  queue: {max_messages: 10, batch: 1, retry_after: 200ms}
network:
  latency: {dist: uniform, min: 1ms, max: 5ms}
workload: {kind: ingest, clients: 4, rate: 300, target: leader, timeout: 1s, retries: 3}
duration: 5s
nemesis:
  - {at: 2s, fault: pause, target: leader, group: data, for: 1s}
final: {heal: true, recover: 4s}
expect: valid
`)
	dir, o := simRun(t, s, 1)
	if o.Results.Verdict != checker.Valid {
		t.Fatalf("the run is %s, want valid: %+v", o.Results.Verdict, o.Results.Checkers)
	}
	busy, acked, rs := 0, map[string]bool{}, ""
	for i := range o.Records {
		r := &o.Records[i]
		if f, _ := r.Str("f"); f != "enqueue" {
			continue
		}
		note, _ := r.Str("note")
		key, _ := r.Str("key")
		switch {
		case r.Kind == "client.fail" && strings.HasPrefix(note, "busy"):
			busy++
		case r.Kind == "client.ok":
			acked[key] = true
			rs, _ = r.Str("replicaset")
		}
	}
	if busy == 0 || len(acked) == 0 || rs == "" {
		t.Fatalf("the run had %d busy refusals and %d acknowledged messages (on %q); want some of each", busy, len(acked), rs)
	}
	p := load(t, ctx, filepath.Join(dir, "report.html"))
	p.screenshot("loaded")

	panel := `svg.queue-group[data-group="` + rs + `"]`
	if p.count("#queue") != 1 || p.count(panel) != 1 || p.count(`nav a[href="#queue"]`) != 1 {
		t.Fatalf("the report has %d Inbound queue sections and %d panels for %s, want one of each", p.count("#queue"), p.count(panel), rs)
	}
	if n := p.count(panel + " polyline.q-depth"); n != 1 {
		t.Errorf("%d depth lines drawn, want 1", n)
	}
	if n := p.count(panel + " rect.busy"); n == 0 || n > busy {
		t.Errorf("%d busy ticks drawn for %d refusals", n, busy)
	}
	if n := p.count(panel + " circle.qwait"); n == 0 || n > len(acked) {
		t.Errorf("%d waits drawn for %d acknowledged messages", n, len(acked))
	}
	if n := p.count(panel + " rect.q-settled"); n == 0 {
		t.Error("no rate of settled messages drawn")
	}
	caption := p.text(`p.queue-caption[data-group="` + rs + `"]`)
	for _, want := range []string{fmt.Sprintf("%d enqueues refused as busy", busy), fmt.Sprintf("%d acknowledged", len(acked)), "p50 ", "p99 ", "max "} {
		if !strings.Contains(caption, want) {
			t.Errorf("the caption reads %q, want %q", caption, want)
		}
	}
	// Fault bands, and time travel from a click on the panel.
	if p.count(panel+" rect.shade") == 0 {
		t.Error("the panel has no fault band")
	}
	p.clickAt(panel, fractionAt(2_500_000, o.Records[len(o.Records)-1].Time/1000), 0.3)
	if tq := p.text("#travel-queues"); !strings.Contains(tq, rs+" ") || !strings.Contains(tq, "waiting") {
		t.Errorf("time travel shows the queues as %q", tq)
	}
	if p.count(panel+" line.cursor:not([visibility])") != 1 {
		t.Error("the panel draws no cursor at the moment travelled to")
	}
	p.screenshot("travel")
	noErrors(t, p)
}

// TestBrowserOutboundRun opens the report of a run whose pipeline sends
// customers to crm-sync while its receiver is down, then refuses half of
// what it is sent, and checks the Outbound panel: the outbound check's
// verdict, the queue's depth, the endpoint's receipts and refusals, a
// caption with their counts, and time travel from a click on it.
func TestBrowserOutboundRun(t *testing.T) {
	ctx := browser(t)
	s := parseScenario(t, `name: browser-outbound
description: Customers sent to crm-sync while its receiver is down for 3s, then refuses half of what it is sent for 2s.
cluster: {instances: 3, model: example, pipeline: example-outbound}
workload: {kind: ingest, clients: 2, rate: 20, bad: 0}
duration: 10s
nemesis:
  - {at: 2s, for: 3s, fault: endpoint, endpoint: crm-sync, mode: down}
  - {at: 6s, for: 2s, fault: endpoint, endpoint: crm-sync, mode: fail, fail_rate: 0.5}
final: {heal: true, recover: 2s}
expect: valid
`)
	dir, o := simRun(t, s, 1)
	if o.Results.Verdict != checker.Valid {
		t.Fatalf("the run is %s, want valid: %+v", o.Results.Verdict, o.Results.Checkers)
	}
	taken, refused := 0, 0
	for i := range o.Records {
		switch o.Records[i].Kind {
		case "endpoint.receive":
			taken++
		case "endpoint.refuse":
			refused++
		}
	}
	if taken == 0 || refused == 0 {
		t.Fatalf("crm-sync took %d items and refused %d; want some of each", taken, refused)
	}
	p := load(t, ctx, filepath.Join(dir, "report.html"))
	p.screenshot("loaded")

	panel := `svg.outbound-destination[data-destination="crm-sync"]`
	if p.count("#outbound") != 1 || p.count(panel) != 1 || p.count(`nav a[href="#outbound"]`) != 1 {
		t.Fatalf("the report has %d Outbound sections and %d panels for crm-sync, want one of each", p.count("#outbound"), p.count(panel))
	}
	if v := p.text("#outbound-verdict"); !strings.Contains(v, "valid") || !strings.Contains(v, "reached its destination") {
		t.Errorf("the outbound verdict reads %q", v)
	}
	if n := p.count(panel + " polyline.o-depth"); n != 1 {
		t.Errorf("%d depth lines drawn, want 1", n)
	}
	if p.count(panel+" rect.o-taken") == 0 || p.count(panel+" rect.o-refused") == 0 {
		t.Errorf("%d bars of items taken and %d of items refused drawn, want some of each", p.count(panel+" rect.o-taken"), p.count(panel+" rect.o-refused"))
	}
	caption := p.text(`p.outbound-caption[data-destination="crm-sync"]`)
	if want := fmt.Sprintf("%d refused", refused); !strings.Contains(caption, want) {
		t.Errorf("the caption reads %q, want %q", caption, want)
	}
	if p.count(panel+" rect.shade") == 0 {
		t.Error("the panel has no fault band")
	}
	p.clickAt(panel, fractionAt(4_000_000, o.Records[len(o.Records)-1].Time/1000), 0.3)
	if to := p.text("#travel-outbound"); !strings.Contains(to, "crm-sync ") || !strings.Contains(to, "waiting") {
		t.Errorf("time travel shows the outbound queues as %q", to)
	}
	if p.count(panel+" line.cursor:not([visibility])") != 1 {
		t.Error("the panel draws no cursor at the moment travelled to")
	}
	p.screenshot("travel")
	noErrors(t, p)
}

// TestBrowserReportSizes opens reports of runs of about 1k and 10k
// operations (and, with -large, 100k): each opens without a console error
// and stays under 10 MB. The log gives each report's generation time and
// size.
func TestBrowserReportSizes(t *testing.T) {
	ctx := browser(t)
	sizes := []struct {
		name         string
		clients      int
		rate         float64
		duration     string
		keys         int
		wantAtLeast  int
		needsLargeOK bool
	}{
		{"1k", 4, 100, "10s", 8, 900, false},
		{"10k", 16, 500, "20s", 64, 9_000, false},
		{"100k", 64, 2000, "50s", 512, 90_000, true},
	}
	for _, sz := range sizes {
		t.Run(sz.name, func(t *testing.T) {
			if sz.needsLargeOK && !*large {
				t.Skip("a 100k-operation run takes minutes: run with -large (make test-long does)")
			}
			s := parseScenario(t, fmt.Sprintf(`name: size-%s
cluster: {instances: 5, replication_factor: 5}
workload: {kind: kv, clients: %d, keys: %d, rate: %g, timeout: 1s}
duration: %s
nemesis:
  - {at: 3s, for: 3s, fault: partition, shape: isolate-leader, group: data}
final: {heal: true, recover: 3s}
checks: [raft-safety, partitions]
`, sz.name, sz.clients, sz.keys, sz.rate, sz.duration))
			dir, o := simRun(t, s, 1)
			ops := invokes(o.Records)
			if ops < sz.wantAtLeast {
				t.Fatalf("the run made %d operations, want at least %d", ops, sz.wantAtLeast)
			}
			// Generation time, measured apart from the run.
			started := time.Now()
			var out bytes.Buffer
			err := reports.Write(&out, reports.Run{Scenario: s.Name, Verdict: o.Results.Verdict, Results: o.Results.Checkers, Trace: o.Records})
			took := time.Since(started)
			if err != nil {
				t.Fatal(err)
			}
			info, err := os.Stat(filepath.Join(dir, "report.html"))
			if err != nil {
				t.Fatal(err)
			}
			if info.Size() > 10_000_000 {
				t.Errorf("the report of %d operations is %d bytes, over 10 MB", ops, info.Size())
			}
			t.Logf("%d operations, %d trace records: report %.2f MB, generated in %s", ops, len(o.Records), float64(info.Size())/1e6, took.Round(time.Millisecond))
			p := load(t, ctx, filepath.Join(dir, "report.html"))
			p.screenshot(sz.name)
			drawn, _ := strconv.Atoi(p.attr("#timeline", "data-drawn"))
			total, _ := strconv.Atoi(p.attr("#timeline", "data-total"))
			if total != ops || drawn != p.count("#timeline rect.op") || drawn == 0 {
				t.Errorf("the timeline says %d of %d operations drawn and draws %d; the run made %d", drawn, total, p.count("#timeline rect.op"), ops)
			}
			noErrors(t, p)
		})
	}
}

// TestBrowserKafkaRun opens the report of a run whose three instances
// read crm's records from its simulated broker while the broker forces a
// rebalance every 3s and is down for 1.5s, and checks the Kafka panel:
// the lag, summed and per partition, the records produced and committed,
// a marker per rebalance and per change of the broker's mode, the table
// of totals as the trace has them, and time travel from a click on it.
func TestBrowserKafkaRun(t *testing.T) {
	ctx := browser(t)
	s := parseScenario(t, `name: browser-kafka
description: crm's records read by three instances while the broker rebalances the group every 3s and is down from 6s to 7.5s.
cluster: {instances: 3, model: example, pipeline: example-kafka}
workload: {kind: kafka, rate: 20}
duration: 12s
nemesis:
  - {every: 3s, start: 2s, fault: broker, broker: crm, mode: rebalance}
  - {at: 6s, for: 1.5s, fault: broker, broker: crm, mode: down}
final: {heal: true, recover: 3s}
expect: valid
`)
	dir, o := simRun(t, s, 1)
	if o.Results.Verdict != checker.Valid {
		t.Fatalf("the run is %s, want valid: %+v", o.Results.Verdict, o.Results.Checkers)
	}
	// What the table should say, from the trace: the lag is the records
	// produced less the offsets committed, after each moment.
	var produced int64
	partitions := map[int64]int64{} // partition → records produced
	committed := map[int64]int64{}
	why := map[string]int{} // rebalances by why
	var maxLag, maxAt, commitsRefused, fetchesRefused, modeChanges int64
	mode := "up"
	for i := range o.Records {
		r := &o.Records[i]
		p, _ := r.Int("partition")
		switch r.Kind {
		case "kafka.produce":
			produced++
			partitions[p]++
		case "kafka.commit":
			committed[p], _ = r.Int("next")
		case "kafka.rebalance":
			w, _ := r.Str("why")
			why[w]++
		case "kafka.refuse":
			switch w, _ := r.Str("what"); w {
			case "commit":
				commitsRefused++
			case "fetch":
				fetchesRefused++
			}
		case "kafka.mode":
			if m, _ := r.Str("mode"); m != mode {
				modeChanges++
				mode = m
			}
		default:
			continue
		}
		if i+1 < len(o.Records) && o.Records[i+1].Time == r.Time {
			continue
		}
		var lag int64
		for p, n := range partitions {
			lag += n - committed[p]
		}
		if lag > maxLag {
			maxLag, maxAt = lag, r.Time/1000
		}
	}
	var done int64
	for _, n := range committed {
		done += n
	}
	rebalances := why["forced"] + why["join"] + why["leave"]
	if produced == 0 || why["forced"] != 4 || modeChanges != 2 || maxLag == 0 {
		t.Fatalf("the run produced %d records, had rebalances %v and %d changes of mode, a lag of at most %d; want some records, 4 forced rebalances, down and up again",
			produced, why, modeChanges, maxLag)
	}
	p := load(t, ctx, filepath.Join(dir, "report.html"))
	p.screenshot("loaded")

	panel := `svg.kafka-connector[data-connector="crm"]`
	if p.count("#kafka") != 1 || p.count(panel) != 1 || p.count(`nav a[href="#kafka"]`) != 1 {
		t.Fatalf("the report has %d Kafka sections and %d panels for crm, want one of each", p.count("#kafka"), p.count(panel))
	}
	if n, parts := p.count(panel+" polyline.k-lag"), p.count(panel+" polyline.k-part"); n != 1 || parts != len(partitions) {
		t.Errorf("%d lag lines and %d partition lines drawn, want 1 and %d", n, parts, len(partitions))
	}
	if p.count(panel+" rect.k-produced") == 0 || p.count(panel+" rect.k-committed") == 0 {
		t.Errorf("%d bars of records produced and %d of records committed drawn, want some of each", p.count(panel+" rect.k-produced"), p.count(panel+" rect.k-committed"))
	}
	// A marker per rebalance, those at the same moment (the members
	// joining at the start) sharing one; each names its generation.
	if n := p.count(panel + " path.k-rebalance"); n == 0 || n > rebalances {
		t.Errorf("%d rebalance markers drawn for %d rebalances", n, rebalances)
	}
	sel := panel + " path.k-rebalance title"
	marked := eval[string](p, "titles", sel, fmt.Sprintf(`Array.from(document.querySelectorAll(%s), e => e.textContent).join("\n")`, jsString(sel)))
	for g := 1; g <= rebalances; g++ {
		if !strings.Contains(marked, fmt.Sprintf("generation %d (", g)) {
			t.Errorf("no rebalance marker names generation %d: %q", g, marked)
		}
	}
	if n := p.count(panel + " path.k-mode"); n != int(modeChanges) {
		t.Errorf("%d mode markers drawn, want %d", n, modeChanges)
	}
	if p.count(panel+" rect.shade") == 0 {
		t.Error("the panel has no fault band")
	}
	table := `table.kafka-table[data-connector="crm"] `
	for _, c := range []struct{ key, want string }{
		{"partitions", strconv.Itoa(len(partitions))},
		{"produced", strconv.FormatInt(produced, 10)},
		{"committed", strconv.FormatInt(done, 10)},
		{"max-lag", fmt.Sprintf("%d at ", maxLag)},
		{"rebalances", fmt.Sprintf("%d: %d forced, %d join, %d leave", rebalances, why["forced"], why["join"], why["leave"])},
		{"commits-refused", strconv.FormatInt(commitsRefused, 10)},
		{"fetches-refused", strconv.FormatInt(fetchesRefused, 10)},
	} {
		if got := p.text(table + `td[data-k="` + c.key + `"]`); !strings.HasPrefix(got, c.want) {
			t.Errorf("the table's %s reads %q, want %q", c.key, got, c.want)
		}
	}
	// Hovering the lag gives it per partition.
	p.hoverAt(panel, fractionAt(6_500_000, o.Records[len(o.Records)-1].Time/1000), 0.3)
	if tip := p.text("#tooltip"); !strings.Contains(tip, "crm lag ") || !strings.Contains(tip, "p0 ") || !strings.Contains(tip, "broker down") {
		t.Errorf("hovering the lag shows %q", tip)
	}
	t.Logf("crm: %d records produced, %d committed, lag at most %d at %dµs, rebalances %v, %d commits refused", produced, done, maxLag, maxAt, why, commitsRefused)
	p.clickAt(panel, fractionAt(6_500_000, o.Records[len(o.Records)-1].Time/1000), 0.5)
	if tk := p.text("#travel-kafka"); !strings.Contains(tk, "crm lag ") || !strings.Contains(tk, "broker down") {
		t.Errorf("time travel into the broker's downtime shows Kafka as %q", tk)
	}
	if p.count(panel+" line.cursor:not([visibility])") != 1 {
		t.Error("the panel draws no cursor at the moment travelled to")
	}
	p.screenshot("travel")
	noErrors(t, p)
}
