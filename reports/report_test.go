package reports

import (
	"bytes"
	"cmp"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/shoaldb/shoal/checker"
	"github.com/shoaldb/shoal/core/env"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func readTrace(t *testing.T, path string) []env.Record {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	trace, err := env.ReadTrace(f)
	if err != nil {
		t.Fatal(err)
	}
	return trace
}

// smallRun is a hand-written trace with one of everything the report
// draws, judged invalid at its fourth operation.
func smallRun(t *testing.T) Run {
	return Run{
		Scenario: "small", Description: "a <b>hand-written</b> trace", Seed: 7,
		Version: "test", Commit: "abc", Command: "shoal sim run small --seed 7", TraceSHA256: "00",
		Verdict: checker.Invalid,
		Results: []checker.Result{
			{Checker: "linearizable", Verdict: checker.Invalid, Explanation: "the read cannot be linearized",
				First: &checker.Culprit{Time: 8_000_000, Node: "n1", What: "read of k1 by process 1024 on n1",
					Op: &checker.OpRef{Process: 1024, F: "read", Key: "k1", Outcome: checker.OK, Call: 8_000_000, Return: 9_500_000, Line: 7}}},
			{Checker: "partitions", Verdict: checker.Valid, Explanation: "none crossed"},
		},
		Trace: readTrace(t, "testdata/small.trace.jsonl"),
	}
}

// TestDataGolden pins the data a small run's report draws. Run with
// -update after a deliberate change, and read the diff.
func TestDataGolden(t *testing.T) {
	d, _, err := BuildData(smallRun(t))
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	golden := "testdata/small.data.json"
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("the report data differs from %s (go test ./reports -run TestDataGolden -update rewrites it):\n%s", golden, got)
	}
}

// TestDataSmall spells out what the golden file holds, so that a wrong
// golden file cannot pass unnoticed.
func TestDataSmall(t *testing.T) {
	d, _, err := BuildData(smallRun(t))
	if err != nil {
		t.Fatal(err)
	}
	names := func(is []int) string {
		var out []string
		for _, i := range is {
			out = append(out, d.Strings[i])
		}
		return strings.Join(out, ",")
	}
	if got := names(d.Nodes); got != "n1,n2" {
		t.Errorf("instances %s, want n1,n2", got)
	}
	if got := names(d.Clients); got != "c1" {
		t.Errorf("clients %s, want c1", got)
	}
	// A write, a cas of unknown outcome, a failed read, a read, and a
	// read never answered.
	if d.Ops.Total != 5 || len(d.Ops.Lane) != 5 || d.Ops.Outcome != "oifoi" {
		t.Errorf("ops: total %d, kept %d, outcomes %q; want 5, 5, oifoi", d.Ops.Total, len(d.Ops.Lane), d.Ops.Outcome)
	}
	// The last operation's call, from the deltas: 9.5ms.
	var call int64
	for _, c := range d.Ops.Call {
		call += c
	}
	if call != 9_500 {
		t.Errorf("the last call is at %dµs, want 9500", call)
	}
	if fmt.Sprint(d.Ops.Dur) != "[2000 2000 1000 1500 -1]" {
		t.Errorf("durations %v, want [2000 2000 1000 1500 -1]: the last never answered", d.Ops.Dur)
	}
	if d.Strings[d.Ops.Value[1]] != "a → b" || d.Strings[d.Ops.Value[3]] != "b" {
		t.Errorf("values %q, %q; want the cas as \"a → b\" and the read's result b", d.Strings[d.Ops.Value[1]], d.Strings[d.Ops.Value[2]])
	}
	if d.First == nil || d.First.Op != 3 || d.First.Checker != "linearizable" || d.First.Time != 8_000 {
		t.Errorf("first bad %+v, want operation 3 from linearizable at 8000µs", d.First)
	}
	if len(d.Faults) != 1 || d.Faults[0].Start != 5_000 || d.Faults[0].Stop != 9_000 || !strings.Contains(d.Faults[0].Stats, "1 dropped") {
		t.Errorf("faults %+v", d.Faults)
	}
	if len(d.Leaders) != 1 || d.Strings[d.Leaders[0].Node] != "n1" || d.Leaders[0].Term != 1 {
		t.Errorf("leaders %+v, want n1 in term 1", d.Leaders)
	}
	var life []string
	for _, l := range d.Life {
		life = append(life, fmt.Sprintf("%d %s %s", l.Time, d.Strings[l.Node], l.State))
	}
	if got := strings.Join(life, "; "); got != "0 n1 up; 0 n2 up; 7500 n2 down; 8500 n2 up; 10000 n1 paused; 11000 n1 up" {
		t.Errorf("lifecycles: %s", got)
	}
	if len(d.Links) != 6 || d.Links[4].Kind != "partition" || d.Links[4].Parts != "n1|n2,c1" {
		t.Errorf("link changes %+v", d.Links)
	}
	if len(d.Clock) != 1 || !strings.Contains(d.Clock[0].What, "-2ms") {
		t.Errorf("clock changes %+v", d.Clock)
	}
	// Messages: the vote, its answer, the request, MsgApp twice (once a
	// duplicate), the response, and the heartbeat dropped at the cut.
	if d.Messages.Total != 7 || d.Messages.Fate != "ddddudc" {
		t.Errorf("messages: total %d, fates %q", d.Messages.Total, d.Messages.Fate)
	}
	var vote, dup Count
	for _, c := range d.Traffic.ByKind {
		switch c.Msg {
		case "raft.MsgVote":
			vote = c
		case "raft.MsgApp":
			dup = c
		}
	}
	if vote.Delivered != 1 || dup.Delivered != 2 || dup.Duplicated != 1 {
		t.Errorf("traffic by kind %+v", d.Traffic.ByKind)
	}
	// The event log holds role changes, not every raft.state.
	kinds := map[string]int{}
	for _, k := range d.Events.Kind {
		kinds[d.Strings[k]]++
	}
	if kinds["raft.role"] != 5 || kinds["raft.state"] != 0 || kinds["net.recv"] != 0 || kinds["nemesis.start"] != 1 || kinds["sm.digest"] != 1 {
		t.Errorf("event log kinds %v", kinds)
	}
	if len(d.Notes) != 0 {
		t.Errorf("a small run left something out: %v", d.Notes)
	}
}

// TestWriteIsSelfContained checks the page loads nothing from elsewhere,
// escapes what the run names, and carries the verdict and first bad
// operation as plain HTML.
func TestWriteIsSelfContained(t *testing.T) {
	var out bytes.Buffer
	if err := Write(&out, smallRun(t)); err != nil {
		t.Fatal(err)
	}
	html := out.String()
	for _, want := range []string{
		`id="verdict">invalid</span>`,
		`id="first-bad"`, "read of k1 by process 1024 on n1",
		"a &lt;b&gt;hand-written&lt;/b&gt; trace",
		"shoal sim run small --seed 7",
		`<script type="application/json" id="data">{`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("the report lacks %s", want)
		}
	}
	if strings.Contains(html, "<b>hand-written</b>") {
		t.Error("the description was not escaped")
	}
	for _, re := range []string{`(?i)(src|href)\s*=\s*"(https?:)?//`, `(?i)<link\b`, `(?i)@import`, `(?i)url\(\s*['"]?https?:`} {
		if m := regexp.MustCompile(re).FindString(html); m != "" {
			t.Errorf("the report loads something from elsewhere: %s", m)
		}
	}
	// The embedded JSON is the data, byte for byte, and cannot end the
	// script element early.
	_, data, err := BuildData(smallRun(t))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(html, string(data)) {
		t.Error("the page does not embed the data as BuildData marshals it")
	}
	if bytes.Contains(data, []byte("</")) {
		t.Error("the data holds </, which would end its script element")
	}
	if n := strings.Count(html, "</script>"); n != 2 {
		t.Errorf("the page closes %d script elements, want 2: the data and the script", n)
	}
	// A foreign target's run says in the header that replay is not
	// exact, from its trace; another run says nothing of it.
	foreign := smallRun(t)
	foreign.Trace = append(slices.Clone(foreign.Trace),
		env.Record{Time: 10_000_000, Node: env.WorldNode, Kind: "foreign.target", Fields: []env.Field{env.Str("target", "a <i>raft</i> KV"), env.Str("why", "Goroutines race.")}},
		env.Record{Time: 10_000_000, Node: env.WorldNode, Kind: "foreign.unapplied", Fields: []env.Field{env.Str("what", "no pauses")}})
	out.Reset()
	if err := Write(&out, foreign); err != nil {
		t.Fatal(err)
	}
	if want := `<div class="notes" id="foreign"><b>Replay is not exact.</b> This run is of a &lt;i&gt;raft&lt;/i&gt; KV`; !strings.Contains(out.String(), want) ||
		!strings.Contains(out.String(), "Goroutines race.") || !strings.Contains(out.String(), "<li>no pauses</li>") || strings.Contains(html, `id="foreign"`) {
		t.Errorf("only the foreign run's report should say replay is not exact, with its target, why and what it did not do:\n%s", out.String())
	}
}

// bigTrace is a synthetic run of n operations by 16 clients on 5
// instances, every operation's value unique, every fifth one failed, with
// one message per operation.
func bigTrace(n int) []env.Record {
	var trace []env.Record
	add := func(t int64, node env.NodeID, kind string, fields ...env.Field) {
		trace = append(trace, env.Record{Time: t, Node: node, Kind: kind, Fields: fields})
	}
	for i := 1; i <= 5; i++ {
		id := env.NodeID(fmt.Sprintf("n%d", i))
		add(0, id, "node.start", env.Int("inc", 1))
		add(0, id, "node.bootstrap", env.Int("instances", 5))
		add(0, id, "raft.state", env.Str("group", "rs1"), env.Int("term", 1), env.Str("role", "follower"),
			env.Str("leader", "n1"), env.Int("commit", 0), env.Int("applied", 0))
	}
	add(1_000_000, "nemesis", "nemesis.start", env.Int("step", 1), env.Int("n", 1), env.Str("fault", "kill"), env.Str("what", "kill n2"), env.Bool("effect", true))
	for i := range n {
		c := env.NodeID(fmt.Sprintf("c%d", i%16+1))
		t := int64(i) * 1_000_000
		v := fmt.Sprintf("w%d-%d", i%16, i)
		p := int64(i % 16)
		add(t, c, "client.invoke", env.Int("process", p), env.Str("f", "write"), env.Str("key", fmt.Sprintf("k%d", i%100)), env.Str("value", v), env.Bool("absent", false))
		add(t+1, "n1", "net.recv", env.Str("from", string(c)), env.Str("msg", "kv.request"), env.Int("id", int64(i)), env.Int("sent", t))
		add(t+2, "n1", "raft.state", env.Str("group", "rs1"), env.Int("term", 1), env.Str("role", "leader"),
			env.Str("leader", "n1"), env.Int("commit", int64(i)), env.Int("applied", int64(i)))
		kind, note := "client.ok", "n1"
		if i%5 == 4 {
			kind, note = "client.fail", "refused"
		}
		add(t+900_000, c, kind, env.Int("process", p), env.Str("f", "write"), env.Str("key", fmt.Sprintf("k%d", i%100)), env.Str("value", v), env.Bool("absent", false), env.Str("note", note))
	}
	return trace
}

func TestOpsBeyondTheCapKeepEveryFailure(t *testing.T) {
	trace := bigTrace(2000)
	// Operation 992, by process 0 (992 % 16).
	bad := &checker.Culprit{Time: 992_000_000, What: "write", Op: &checker.OpRef{Process: 0, Call: 992_000_000}}
	r := Run{Trace: trace, Results: []checker.Result{{Checker: "linearizable", Verdict: checker.Invalid, First: bad}}}
	d := buildData(r, caps{ops: 600, messages: 100, events: 10, raftPoints: 50})
	if d.Ops.Total != 2000 || len(d.Ops.Lane) > 600 {
		t.Fatalf("kept %d of %d operations, want at most 600 of 2000", len(d.Ops.Lane), d.Ops.Total)
	}
	if got := strings.Count(d.Ops.Outcome, "f"); got != 400 {
		t.Errorf("kept %d failed operations, want all 400", got)
	}
	if d.First == nil || d.First.Op < 0 {
		t.Fatal("the first bad operation was not kept")
	}
	var call int64
	for _, c := range d.Ops.Call[:d.First.Op+1] {
		call += c
	}
	if call != 992_000 || d.Ops.Process[d.First.Op] != 0 {
		t.Errorf("the first bad operation points at the call at %dµs by process %d, want 992000µs by 0", call, d.Ops.Process[d.First.Op])
	}
	if len(d.Notes) == 0 || !strings.Contains(strings.Join(d.Notes, " "), "2000 operations") {
		t.Errorf("no note says operations were left out: %v", d.Notes)
	}
	// Messages: windows around the first bad operation and the fault, and
	// every message sent inside a window is kept.
	if d.Messages.Total != 2000 || len(d.Messages.Sent) > 100 || len(d.Messages.Windows) == 0 {
		t.Fatalf("messages: kept %d of %d in %d windows", len(d.Messages.Sent), d.Messages.Total, len(d.Messages.Windows))
	}
	kept := map[int64]bool{}
	var sent int64
	for _, s := range d.Messages.Sent {
		sent += s
		kept[sent] = true
	}
	for i := range 2000 {
		s := int64(i) * 1_000
		for _, w := range d.Messages.Windows {
			if s >= w[0] && s < w[1] && !kept[s] {
				t.Fatalf("the message sent at %dµs lies in the window %v but was left out", s, w)
			}
		}
	}
	inWindow := func(t int64) bool {
		for _, w := range d.Messages.Windows {
			if t >= w[0] && t < w[1] {
				return true
			}
		}
		return false
	}
	if !inWindow(992_000) || !inWindow(1_000) {
		t.Errorf("windows %v miss the first bad operation (992000µs) or the fault (1000µs)", d.Messages.Windows)
	}
	// Raft: role changes kept, the rest sampled, the last point is the last state.
	for _, s := range d.Raft {
		if d.Strings[s.Node] != "n1" {
			continue
		}
		if len(s.Time) > 120 {
			t.Errorf("n1's Raft series holds %d points, want about 50", len(s.Time))
		}
		if last := s.Commit[len(s.Commit)-1]; last != 1999 {
			t.Errorf("n1's sampled series ends at commit %d, want 1999", last)
		}
	}
}

// TestSizeBound: a run far past the bound still yields a report under
// 10 MB, with notes saying what was left out.
func TestSizeBound(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 300k-operation report")
	}
	var out bytes.Buffer
	if err := Write(&out, Run{Scenario: "big", Trace: bigTrace(300_000)}); err != nil {
		t.Fatal(err)
	}
	if out.Len() > 10_000_000 {
		t.Fatalf("the report is %d bytes, over 10 MB", out.Len())
	}
	if !strings.Contains(out.String(), "300000 operations") {
		t.Error("the report does not say operations were left out")
	}
	t.Logf("300k operations: report of %.1f MB", float64(out.Len())/1e6)
}

func TestAnnotations(t *testing.T) {
	got := Annotations(smallRun(t).Trace)
	var lines []string
	for _, a := range got {
		lines = append(lines, fmt.Sprintf("%s %d-%d %s", a.Tag, a.Start, a.End, a.Description))
	}
	want := "faults 5000000-9000000 partition: isolate-leader: n1|n2; leader rs1 2000000-2000000 n1"
	if s := strings.Join(lines, "; "); s != want {
		t.Errorf("annotations\n%s\nwant\n%s", s, want)
	}
}

// FuzzBuildData: any trace the trace parser accepts, however odd (a
// completion without its invoke, a stop without its start, times out of
// order, fields of the wrong type), yields report data and a page, never
// a panic.
func FuzzBuildData(f *testing.F) {
	seed, err := os.ReadFile("testdata/small.trace.jsonl")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(`{"time":5,"node":"c1","kind":"client.ok","process":3,"f":"read","key":"k","value":"v","absent":false}` + "\n" +
		`{"time":1,"node":"nemesis","kind":"nemesis.stop","step":9,"n":1}` + "\n" +
		`{"time":0,"node":"n1","kind":"raft.state","group":"g","term":"x","role":7}` + "\n"))
	f.Add([]byte(`{"time":9,"node":"n1","kind":"queue.settle","group":"rs1","id":"q/rs1/-5/9223372036854775807","settled":1}` + "\n" +
		`{"time":3,"node":"n1","kind":"queue.state","group":"rs1","depth":"deep","settled":-4}` + "\n" +
		`{"time":-7,"node":"c1","kind":"client.ok","f":"enqueue","key":"m","replicaset":"rs1","position":-3}` + "\n" +
		`{"time":1,"node":"c1","kind":"client.fail","f":"enqueue","note":"busy"}` + "\n" +
		`{"time":2,"node":"n1","kind":"queue.settle","group":"rs1","id":"q/rs1/-3/-3","settled":1}` + "\n" +
		`{"time":-9000000000,"node":"n1","kind":"queue.resend","group":"rs1","from":1,"to":2}` + "\n"))
	f.Add([]byte(`{"time":5,"node":"ext/in/crm","kind":"kafka.commit","connector":"crm","partition":3,"from":9,"next":2}` + "\n" +
		`{"time":1,"node":"ext/in/crm","kind":"kafka.produce","partition":-1,"offset":0}` + "\n" +
		`{"time":2,"node":"ext/in/x","kind":"kafka.produce","connector":"x","partition":99999999999}` + "\n" +
		`{"time":-3,"node":"ext/in/crm","kind":"kafka.rebalance","connector":"crm","generation":"g","assignment":"0:n1,7,:,-2:n2,300:n3"}` + "\n" +
		`{"time":4,"node":"ext/in/crm","kind":"kafka.fetch","connector":"crm","ranges":"1:5-9,x,255:0-0"}` + "\n" +
		`{"time":4,"node":"ext/in/crm","kind":"kafka.mode","connector":"crm","mode":7}` + "\n" +
		`{"time":6,"node":"ext/in/crm","kind":"kafka.refuse","connector":"crm","what":"commit"}` + "\n" +
		`{"time":-5000000000,"node":"ext/crm","kind":"endpoint.refuse","destination":"crm"}` + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		trace, err := env.ReadTrace(bytes.NewReader(data))
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := Write(&out, Run{Scenario: "fuzz", Trace: trace}); err != nil {
			t.Fatal(err)
		}
		_, raw, err := BuildData(Run{Trace: trace})
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(raw) {
			t.Fatal("the data is not valid JSON")
		}
	})
}

// TestRolesAreTheEngines: every role the engine records (core/node's
// roleNames) is one the report knows, not drawn as "other".
func TestRolesAreTheEngines(t *testing.T) {
	for _, role := range []string{"follower", "precandidate", "candidate", "leader"} {
		trace := []env.Record{{Node: "n1", Kind: "raft.state", Fields: []env.Field{env.Str("group", "g"), env.Int("term", 1), env.Str("role", role)}}}
		d := buildData(Run{Trace: trace}, defaultCaps)
		if len(d.Raft) != 1 || d.Raft[0].Role[0] >= len(Roles) || Roles[d.Raft[0].Role[0]] != role {
			t.Errorf("role %q is drawn as %v", role, d.Raft)
		}
	}
}

// queueTrace is a hand-written ingest run on one replicaset: three
// messages acknowledged (one twice), two refused as busy and one as
// invalid, a settling that settled less than its range, a resend, and
// the queue's state at three ticks.
func queueTrace() []env.Record {
	var trace []env.Record
	add := func(ms float64, node env.NodeID, kind string, fields ...env.Field) {
		trace = append(trace, env.Record{Time: int64(ms * 1e6), Node: node, Kind: kind, Fields: fields})
	}
	enq := func(ms float64, kind, key string, extra ...env.Field) {
		add(ms, "c1", kind, append([]env.Field{env.Int("process", 0), env.Str("f", "enqueue"), env.Str("key", key)}, extra...)...)
	}
	state := func(ms float64, depth, repairs, settled int64) {
		add(ms, "n1", "queue.state", env.Str("group", "rs1"), env.Int("depth", depth), env.Int("bytes", depth*100),
			env.Int("repairs", repairs), env.Int("outbound", 0), env.Int("settled", settled))
	}
	settle := func(ms float64, id string, settled int64) {
		add(ms, "n1", "queue.settle", env.Str("group", "rs1"), env.Str("id", id), env.Int("index", 9), env.Int("settled", settled))
	}
	ok := func(rs string, pos int64) []env.Field {
		return []env.Field{env.Str("note", "n1"), env.Str("replicaset", rs), env.Int("position", pos)}
	}
	add(0, "n1", "node.start", env.Int("inc", 1))
	add(0, "n1", "node.bootstrap", env.Int("instances", 1))
	enq(40, "client.invoke", "m1")
	enq(50, "client.ok", "m1", ok("rs1", 1)...)
	enq(69, "client.invoke", "m9")
	enq(70, "client.fail", "m9", env.Str("note", "busy: the inbound queue is full (20 messages waiting)"), env.Str("replicaset", "rs1"))
	enq(70.5, "client.invoke", "m9")
	enq(71, "client.fail", "m9", env.Str("note", "busy: the inbound queue is full (20 messages waiting)"), env.Str("replicaset", "rs1"))
	enq(71.5, "client.invoke", "m8")
	enq(72, "client.fail", "m8", env.Str("note", "invalid: no payload"))
	add(80, "n1", "queue.dispatch", env.Str("group", "rs1"), env.Int("from", 1), env.Int("to", 1), env.Int("messages", 1), env.Int("failed", 0))
	state(100, 2, 0, 0)
	settle(150, "q/rs1/1/1", 1)
	state(200, 1, 0, 1)
	enq(1040, "client.invoke", "m2")
	enq(1050, "client.ok", "m2", ok("rs1", 2)...)
	settle(1100, "q/rs1/2/3", 1) // settled less than its range: not m2's settling
	add(2100, "n1", "queue.resend", env.Str("group", "rs1"), env.Int("from", 2), env.Int("to", 3))
	settle(2200, "q/rs1/2/3", 2)
	state(2300, 0, 1, 3)
	enq(2290, "client.invoke", "m2")
	enq(2300, "client.ok", "m2", ok("rs1", 2)...) // sent again: its first ok counts
	enq(2390, "client.invoke", "m3")
	enq(2400, "client.ok", "m3", ok("rs1", 4)...) // never settled
	add(3000, "n1", "node.stop")
	return trace
}

// TestDataQueue checks the inbound queue's series: the state as the
// leader recorded it, the busy refusals, and each acknowledged
// message's wait until the settling that covered it.
func TestDataQueue(t *testing.T) {
	d, _, err := BuildData(Run{Trace: queueTrace()})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Queues) != 1 {
		t.Fatalf("%d queues, want 1: %+v", len(d.Queues), d.Queues)
	}
	q := d.Queues[0]
	got := func(what string, v any, want string) {
		t.Helper()
		if s := fmt.Sprint(v); s != want {
			t.Errorf("%s: %s, want %s", what, s, want)
		}
	}
	got("group", d.Strings[q.Group], "rs1")
	got("states", []any{q.States, q.Time, q.Depth, q.Bytes, q.Repairs, q.Settled, q.Deepest},
		"[3 [100000 200000 2300000] [2 1 0] [200 100 0] [0 0 1] [0 1 3] 2]")
	got("settles and resends", []any{q.Settles, q.Resends}, "[3 [2100000]]")
	// Two busy refusals, both in the stretch of 2ms (3s/1500) from 70ms;
	// the invalid one is no backpressure.
	got("busy", []any{q.Busy.Total, q.Busy.Bin, q.Busy.At, q.Busy.N}, "[2 2000 [35] [2]]")
	// m1 waited 150-50ms; m2 2200-1050ms (its first ok, and the first
	// complete settling of its position); m3 was never settled.
	l := q.Latency
	got("latency", []any{l.Acked, l.Settled, l.P50, l.P99, l.Max}, "[3 2 1150000 1150000 1150000]")
	got("windows", []any{l.Window, l.WP50, l.WP99}, "[1000000 [100000 1150000 -1 -1] [100000 1150000 -1 -1]]")
	got("points", []any{l.Ack, l.Wait}, "[[50000 1000000] [100000 1150000]]")
	// The event log leaves the queue's state and settling to the panel,
	// and keeps the resend.
	kinds := map[string]int{}
	for _, k := range d.Events.Kind {
		kinds[d.Strings[k]]++
	}
	if kinds["queue.state"]+kinds["queue.settle"]+kinds["queue.dispatch"] != 0 || kinds["queue.resend"] != 1 {
		t.Errorf("event log kinds %v", kinds)
	}
	if len(d.Notes) != 0 {
		t.Errorf("a small run left something out: %v", d.Notes)
	}

	var out bytes.Buffer
	if err := Write(&out, Run{Scenario: "queue", Trace: queueTrace()}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `<section id="queue">`) {
		t.Error("the report of a run with queue events has no Inbound queue section")
	}
	out.Reset()
	if err := Write(&out, smallRun(t)); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), `<section id="queue">`) {
		t.Error("the report of a run without queue events has an Inbound queue section")
	}
}

// TestDataQueueBusyWithoutReplicaset: a refusal that names no replicaset
// is the only queue's, and with several queues it has a panel of its
// own (group "").
func TestDataQueueBusyWithoutReplicaset(t *testing.T) {
	busy := env.Record{Time: 5e6, Node: "c1", Kind: "client.fail", Fields: []env.Field{env.Str("f", "enqueue"), env.Str("note", "busy")}}
	state := func(g string) env.Record {
		return env.Record{Time: 1e6, Node: "n1", Kind: "queue.state", Fields: []env.Field{env.Str("group", g), env.Int("depth", 1)}}
	}
	for _, tc := range []struct {
		trace []env.Record
		want  string
	}{
		{[]env.Record{state("rs1"), busy}, "rs1:1"},
		{[]env.Record{state("rs1"), state("rs2"), busy}, "rs1:0 rs2:0 :1"},
		{[]env.Record{busy}, ""}, // no queue events: no queues
	} {
		d := buildData(Run{Trace: tc.trace}, defaultCaps)
		var got []string
		for _, q := range d.Queues {
			got = append(got, fmt.Sprintf("%s:%d", d.Strings[q.Group], q.Busy.Total))
		}
		if s := strings.Join(got, " "); s != tc.want {
			t.Errorf("queues %q, want %q", s, tc.want)
		}
	}
}

// TestDataQueueBeyondTheCap: past the caps, the state keeps one point
// per stretch with its deepest depth and latest settled count, the waits
// keep the slowest and a sample, and notes say so; the quantiles are
// still of every message.
func TestDataQueueBeyondTheCap(t *testing.T) {
	var trace []env.Record
	add := func(t int64, node env.NodeID, kind string, fields ...env.Field) {
		trace = append(trace, env.Record{Time: t, Node: node, Kind: kind, Fields: fields})
	}
	const n = 2000
	for i := range int64(n) {
		at := i * 10_000_000 // every 10ms
		depth := i % 7
		if i == 1234 {
			depth = 99
		}
		add(at, "n1", "queue.state", env.Str("group", "rs1"), env.Int("depth", depth), env.Int("settled", i))
		add(at+1, "c1", "client.ok", env.Str("f", "enqueue"), env.Str("key", fmt.Sprint("m", i)), env.Str("replicaset", "rs1"), env.Int("position", i+1))
		wait := int64(1_000_000) // 1ms, and 900ms for one in a hundred
		if i%100 == 0 {
			wait = 900_000_000
		}
		add(at+1+wait, "n1", "queue.settle", env.Str("group", "rs1"), env.Str("id", fmt.Sprintf("q/rs1/%d/%d", i+1, i+1)), env.Int("settled", 1))
	}
	slices.SortStableFunc(trace, func(a, b env.Record) int { return cmp.Compare(a.Time, b.Time) })
	d := buildData(Run{Trace: trace}, caps{ops: 10, messages: 10, events: 10, raftPoints: 10, queuePoints: 100, waitPoints: 200})
	q := d.Queues[0]
	if q.States != n || len(q.Time) > 101 || len(q.Time) < 90 {
		t.Errorf("kept %d of %d states, want about 100", len(q.Time), q.States)
	}
	if q.Deepest != 99 || slices.Max(q.Depth) != 99 {
		t.Errorf("deepest %d, deepest kept %d; want 99 for both", q.Deepest, slices.Max(q.Depth))
	}
	if last := q.Settled[len(q.Settled)-1]; last != n-1 {
		t.Errorf("the kept states end at %d settled, want %d", last, n-1)
	}
	l := q.Latency
	if l.Acked != n || l.Settled != n || l.P50 != 1000 || l.P99 != 900_000 || l.Max != 900_000 {
		t.Errorf("latency over all: acked %d, settled %d, p50 %d, p99 %d, max %d", l.Acked, l.Settled, l.P50, l.P99, l.Max)
	}
	if len(l.Wait) > 200 || len(l.Wait) < 150 {
		t.Errorf("kept %d waits, want about 200", len(l.Wait))
	}
	if slow := strings.Count(fmt.Sprint(l.Wait), "900000"); slow != n/100 {
		t.Errorf("kept %d of the %d slow waits, want all", slow, n/100)
	}
	notes := strings.Join(d.Notes, " ")
	if !strings.Contains(notes, "inbound queue's state is kept once every") || !strings.Contains(notes, fmt.Sprintf("of %d acknowledged messages", n)) {
		t.Errorf("notes do not say what the queue panel left out: %v", d.Notes)
	}
}

func TestSettledAt(t *testing.T) {
	ss := []settling{{at: 1, from: 5, to: 9}, {at: 2, from: 1, to: 6}, {at: 3, from: 0, to: 1 << 62}}
	pos := []int64{7, 3, 5, 20, 3, -1}
	// 7 and 5 by the first; the two at 3 by the second; 20 by the third
	// whatever its length; -1 by none.
	if got := fmt.Sprint(settledAt(ss, pos)); got != "[1 2 1 3 2 -1]" {
		t.Errorf("settled at %s, want [1 2 1 3 2 -1]", got)
	}
}

// outboundTrace is a run of 3s with two replicasets delivering to
// crm-sync: their leaders' outbound.state records, pushes, and what the
// endpoint took, took again and refused.
func outboundTrace() []env.Record {
	var trace []env.Record
	add := func(ms int64, node env.NodeID, kind string, fields ...env.Field) {
		trace = append(trace, env.Record{Time: ms * 1_000_000, Node: node, Kind: kind, Fields: fields})
	}
	state := func(ms int64, node env.NodeID, group string, depth, oldestMS, retrying int64) {
		add(ms, node, "outbound.state", env.Str("group", group), env.Str("destination", "crm-sync"), env.Int("depth", depth),
			env.Int("oldest_ms", oldestMS), env.Int("retrying", retrying), env.Int("pushes", 1))
	}
	recv := func(ms int64, dup int64) {
		add(ms, "ext/crm-sync", "endpoint.receive", env.Str("destination", "crm-sync"), env.Str("key", "rs1-1"), env.Int("dup", dup))
	}
	add(0, "n1", "node.start", env.Int("inc", 1))
	add(0, "n1", "node.bootstrap", env.Int("instances", 2))
	add(0, "ext/crm-sync", "node.start", env.Int("inc", 1))
	add(0, "ext/crm-sync", "endpoint.mode", env.Str("destination", "crm-sync"), env.Str("mode", "up"))
	state(100, "n1", "rs1", 3, 50, 0)
	state(200, "n2", "rs2", 2, 120, 1)
	add(210, "n1", "outbound.push", env.Str("group", "rs1"), env.Str("destination", "crm-sync"))
	add(220, "ext/crm-sync", "endpoint.refuse", env.Str("destination", "crm-sync"), env.Str("key", "rs1-1"), env.Str("reason", "503"))
	add(1300, "n1", "outbound.push", env.Str("group", "rs1"), env.Str("destination", "crm-sync"))
	recv(1310, 0)
	recv(1320, 1)
	state(1400, "n1", "rs1", 0, 0, 0)
	recv(2500, 0)
	state(2600, "n2", "rs2", 0, 0, 0)
	add(3000, "n1", "node.stop")
	return trace
}

// TestDataOutbound checks a destination's series: its queue summed over
// the replicasets' leaders (the oldest age the oldest of theirs), and its
// endpoint's records per second; the report has an Outbound section with
// the outbound check's verdict, and a run without outbound events none.
func TestDataOutbound(t *testing.T) {
	d, _, err := BuildData(Run{Trace: outboundTrace()})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Outbound) != 1 {
		t.Fatalf("%d destinations, want 1: %+v", len(d.Outbound), d.Outbound)
	}
	o := d.Outbound[0]
	got := func(what string, v any, want string) {
		t.Helper()
		if s := fmt.Sprint(v); s != want {
			t.Errorf("%s: %s, want %s", what, s, want)
		}
	}
	got("destination", d.Strings[o.Destination], "crm-sync")
	got("states", []any{o.States, o.Time, o.Depth, o.Oldest, o.Retrying, o.Deepest, o.Eldest},
		"[4 [100000 200000 1400000 2600000] [3 5 2 0] [50000 120000 120000 0] [0 1 1 0] 5 120000]")
	got("endpoint", []any{o.Pushes, o.Taken, o.Duplicates, o.Refusals, o.Bin, o.PerTaken, o.PerDup, o.PerRefused},
		"[2 2 1 1 1000000 [0 1 1 0] [0 1 0 0] [1 0 0 0]]")
	kinds := map[string]int{}
	for _, k := range d.Events.Kind {
		kinds[d.Strings[k]]++
	}
	if kinds["outbound.state"]+kinds["outbound.push"]+kinds["endpoint.receive"]+kinds["endpoint.refuse"] != 0 || kinds["endpoint.mode"] != 1 {
		t.Errorf("event log kinds %v", kinds)
	}

	var out bytes.Buffer
	res := checker.Result{Checker: "outbound", Verdict: checker.Valid, Explanation: "3 outbound messages each reached"}
	if err := Write(&out, Run{Scenario: "outbound", Trace: outboundTrace(), Results: []checker.Result{res}}); err != nil {
		t.Fatal(err)
	}
	html := out.String()
	for _, want := range []string{`<section id="outbound">`, `<a href="#outbound">`,
		`id="outbound-verdict"><p>The outbound check: <span class="verdict valid">valid</span> 3 outbound messages each reached`} {
		if !strings.Contains(html, want) {
			t.Errorf("the report of a run with outbound events lacks %s", want)
		}
	}
	out.Reset()
	if err := Write(&out, Run{Scenario: "outbound", Trace: outboundTrace()}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `id="outbound-verdict"><p>The outbound check did not run.`) {
		t.Error("the report does not say the outbound check did not run")
	}
	out.Reset()
	if err := Write(&out, smallRun(t)); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), `<section id="outbound">`) {
		t.Error("the report of a run without outbound events has an Outbound section")
	}
}

// TestDataOutboundBeyondTheCap: past the cap, one state per stretch with
// its deepest depth and oldest age, and a note says so.
func TestDataOutboundBeyondTheCap(t *testing.T) {
	var trace []env.Record
	for i := range int64(400) {
		trace = append(trace, env.Record{Time: i * 10_000_000, Node: "n1", Kind: "outbound.state", Fields: []env.Field{
			env.Str("group", "rs1"), env.Str("destination", "d"), env.Int("depth", i%7), env.Int("oldest_ms", i), env.Int("retrying", 0)}})
	}
	d := buildData(Run{Trace: trace}, caps{ops: 10, messages: 10, events: 10, raftPoints: 10, queuePoints: 40, waitPoints: 10})
	o := d.Outbound[0]
	if o.States != 400 || len(o.Time) > 41 || o.Deepest != 6 || o.Eldest != 399_000 {
		t.Fatalf("%d states kept of %d, deepest %d, eldest %d", len(o.Time), o.States, o.Deepest, o.Eldest)
	}
	if slices.Max(o.Depth) != 6 || o.Oldest[len(o.Oldest)-1] != 399_000 {
		t.Fatalf("the kept points lost the deepest depth or the oldest age: %v %v", o.Depth, o.Oldest)
	}
	if !slices.ContainsFunc(d.Notes, func(n string) bool { return strings.Contains(n, "outbound queues' state") }) {
		t.Fatalf("no note says the outbound state was sampled: %v", d.Notes)
	}
}

// kafkaTrace is a run of 3s of the broker of connector crm, two
// partitions, its group starting at their ends (start: latest) after two
// records: one member joins, a second joins, a forced rebalance makes a
// commit of the generation before stale, the broker is down for a
// while, and a commit moves an offset back.
func kafkaTrace() []env.Record {
	var trace []env.Record
	add := func(ms int64, kind string, fields ...env.Field) {
		trace = append(trace, env.Record{Time: ms * 1_000_000, Node: "ext/in/crm", Kind: kind,
			Fields: append([]env.Field{env.Str("connector", "crm")}, fields...)})
	}
	produce := func(ms int64, p, offset int64) {
		add(ms, "kafka.produce", env.Int("partition", p), env.Int("offset", offset), env.Str("key", "k"), env.Str("value", "00"),
			env.Str("id", fmt.Sprintf("crm/crm/%d/%d", p, offset)), env.Str("expect", "Customer/k"))
	}
	commit := func(ms int64, member string, gen, p, from, next int64) {
		add(ms, "kafka.commit", env.Str("member", member), env.Int("generation", gen), env.Int("id", 1), env.Int("partition", p),
			env.Int("from", from), env.Int("next", next))
	}
	rebalance := func(ms, gen int64, members, assignment, why string) {
		add(ms, "kafka.rebalance", env.Int("generation", gen), env.Str("members", members), env.Str("assignment", assignment), env.Str("why", why))
	}
	trace = append(trace, env.Record{Node: "n1", Kind: "node.start", Fields: []env.Field{env.Int("inc", 1)}})
	add(0, "kafka.mode", env.Str("mode", "up"), env.Int("delay", 0))
	produce(10, 0, 0)
	produce(20, 1, 0)
	rebalance(100, 1, "n1", "0:n1,1:n1", "join") // the group starts at the ends: 1 and 1
	add(100, "kafka.fetch", env.Str("member", "n1"), env.Int("generation", 1), env.Int("id", 1), env.Int("records", 0), env.Str("ranges", ""))
	produce(200, 0, 1)
	produce(300, 1, 1)
	produce(300, 0, 2)
	rebalance(400, 2, "n1,n2", "0:n1,1:n2", "join")
	commit(500, "n1", 2, 0, 1, 3)
	rebalance(1200, 3, "n1,n2", "0:n1,1:n2", "forced")
	add(1300, "kafka.refuse", env.Str("member", "n2"), env.Int("generation", 3), env.Int("id", 2), env.Str("what", "commit"),
		env.Str("error", "generation 2 is stale: the group is at 3 (a rebalance)"))
	add(1400, "kafka.mode", env.Str("mode", "down"), env.Int("delay", 0))
	produce(1500, 1, 2)
	add(1600, "kafka.refuse", env.Str("member", "n3"), env.Int("generation", 3), env.Int("id", 1), env.Str("what", "fetch"), env.Str("error", "unknown topic"))
	add(2000, "kafka.mode", env.Str("mode", "slow"), env.Int("delay", 200_000_000))
	commit(2100, "n2", 3, 1, 1, 3)
	commit(2200, "n1", 3, 0, 3, 2) // back one
	rebalance(2500, 4, "n1", "0:n1,1:n1", "leave")
	add(3000, "kafka.mode", env.Str("mode", "up"), env.Int("delay", 0))
	return trace
}

// TestDataKafka checks a connector's series: the lag, summed and per
// partition, from the offsets where the group started; the records
// produced and committed and the commits refused per second; the
// rebalances, the modes and the totals the table shows. The report has
// a Kafka section, and a run without kafka events none.
func TestDataKafka(t *testing.T) {
	d, _, err := BuildData(Run{Trace: kafkaTrace()})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Kafka) != 1 {
		t.Fatalf("%d connectors, want 1: %+v", len(d.Kafka), d.Kafka)
	}
	k := d.Kafka[0]
	got := func(what string, v any, want string) {
		t.Helper()
		if s := fmt.Sprint(v); s != want {
			t.Errorf("%s: %s, want %s", what, s, want)
		}
	}
	got("connector", d.Strings[k.Connector], "crm")
	// Two produced by 20ms, taken as committed when the group starts at
	// 100ms; three more by 300ms, two of them committed at 500ms; one
	// more at 1.5s, two committed at 2.1s; partition 0 moved back one at
	// 2.2s.
	got("lag", []any{k.Changes, k.Time, k.Lag, k.PartLag},
		"[9 [10000 20000 100000 200000 300000 500000 1500000 2100000 2200000] [1 2 0 1 3 1 2 0 1] [[1 1 0 1 2 0 0 0 1] [0 1 0 0 1 1 2 0 0]]]")
	got("max lag", []any{k.MaxLag, k.MaxAt}, "[3 300000]")
	got("totals", []any{k.Partitions, k.Produced, k.Committed, k.PartProduced, k.PartCommitted},
		"[2 6 5 [3 3] [2 3]]")
	got("commits", []any{k.Commits, k.Rewinds, k.CommitsRefused, k.FetchesRefused}, "[3 1 1 1]")
	got("per second", []any{k.Bin, k.PerProduced, k.PerCommitted, k.PerRefused}, "[1000000 [5 1 0 0] [2 0 2 0] [0 1 0 0]]")
	var rebalances []string
	for _, r := range k.Rebalances {
		rebalances = append(rebalances, fmt.Sprintf("%d g%d %s %s %s", r.Time, r.Generation, d.Strings[r.Why], d.Strings[r.Members], d.Strings[r.Assignment]))
	}
	got("rebalances", []any{k.Generations, k.Joins, k.Forced, k.Leaves, strings.Join(rebalances, "; ")},
		"[4 2 1 1 100000 g1 join n1 0:n1,1:n1; 400000 g2 join n1,n2 0:n1,1:n2; 1200000 g3 forced n1,n2 0:n1,1:n2; 2500000 g4 leave n1 0:n1,1:n1]")
	var modes []string
	for _, m := range k.Modes {
		modes = append(modes, fmt.Sprintf("%d %s %d", m.Time, d.Strings[m.Mode], m.Delay))
	}
	got("modes", strings.Join(modes, "; "), "0 up 0; 1400000 down 0; 2000000 slow 200000; 3000000 up 0")
	kinds := map[string]int{}
	for _, k := range d.Events.Kind {
		kinds[d.Strings[k]]++
	}
	got("event log kinds", []int{kinds["kafka.produce"], kinds["kafka.commit"], kinds["kafka.fetch"], kinds["kafka.rebalance"], kinds["kafka.mode"], kinds["kafka.refuse"]},
		"[0 0 0 4 4 2]")

	var out bytes.Buffer
	if err := Write(&out, Run{Scenario: "kafka", Trace: kafkaTrace()}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`<section id="kafka">`, `<a href="#kafka">`, `<div id="kafka-panels">`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report of a run with kafka events lacks %s", want)
		}
	}
	out.Reset()
	if err := Write(&out, smallRun(t)); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), `<section id="kafka">`) {
		t.Error("the report of a run without kafka events has a Kafka section")
	}
}

// TestDataKafkaBeyondTheCap: past the cap, one lag point per stretch
// with its highest, the line ending where the lag ended, the highest
// and its moment exact, and a note says so.
func TestDataKafkaBeyondTheCap(t *testing.T) {
	var trace []env.Record
	add := func(ns int64, kind string, fields ...env.Field) {
		trace = append(trace, env.Record{Time: ns, Node: "ext/in/crm", Kind: kind, Fields: append([]env.Field{env.Str("connector", "crm")}, fields...)})
	}
	// 400 records on partitions 0 and 1, each committed 5ms after it
	// was produced, but the 300th, committed with the next one of its
	// partition; one more at the end; partition 3 known only from a
	// fetch.
	for i := range int64(400) {
		t := i * 10_000_000
		add(t, "kafka.produce", env.Int("partition", i%2), env.Int("offset", i/2))
		if i != 299 {
			add(t+5_000_000, "kafka.commit", env.Int("partition", i%2), env.Int("from", i/2), env.Int("next", i/2+1))
		}
	}
	add(4_000_000_000, "kafka.produce", env.Int("partition", 0), env.Int("offset", 200))
	add(4_000_000_000, "kafka.fetch", env.Str("ranges", "3:0-0"))
	d := buildData(Run{Trace: trace}, caps{ops: 10, messages: 10, events: 10, raftPoints: 10, queuePoints: 40, waitPoints: 10})
	k := d.Kafka[0]
	if k.Changes != 800 || len(k.Time) > 42 || k.Partitions != 4 || len(k.PartLag) != 4 {
		t.Fatalf("%d lag points kept of %d, %d partitions (%d columns)", len(k.Time), k.Changes, k.Partitions, len(k.PartLag))
	}
	if k.MaxLag != 2 || k.MaxAt != 3_000_000 || slices.Max(k.Lag) != 2 || slices.Max(k.PartLag[1]) != 2 {
		t.Errorf("max lag %d at %dµs, kept highest %d (partition 1: %d); want 2 at 3000000µs, 2 of partition 1", k.MaxLag, k.MaxAt, slices.Max(k.Lag), slices.Max(k.PartLag[1]))
	}
	if n := len(k.Time); k.Time[n-1] != 4_000_000 || k.Lag[n-1] != 1 || k.PartLag[0][n-1] != 1 {
		t.Errorf("the line ends at %dµs with lag %d, want 4000000µs and 1", k.Time[n-1], k.Lag[n-1])
	}
	if !slices.ContainsFunc(d.Notes, func(n string) bool { return strings.Contains(n, "Kafka consumer lag") }) {
		t.Fatalf("no note says the lag was sampled: %v", d.Notes)
	}
}

// TestInstantFaultsStopAsTheyStart: a restart and a broker's forced
// rebalance have no nemesis.stop; their bands end where they begin, not
// at the heal, while a kill left running lasts until the heal.
func TestInstantFaultsStopAsTheyStart(t *testing.T) {
	var trace []env.Record
	add := func(ms int64, kind string, fields ...env.Field) {
		trace = append(trace, env.Record{Time: ms * 1_000_000, Node: "nemesis", Kind: kind, Fields: fields})
	}
	add(1000, "nemesis.start", env.Int("step", 1), env.Int("n", 1), env.Str("fault", "kill"), env.Str("what", "kill n2"), env.Bool("effect", true))
	add(2000, "nemesis.start", env.Int("step", 2), env.Int("n", 1), env.Str("fault", "restart"), env.Str("what", "restart n2"), env.Bool("effect", true))
	add(3000, "nemesis.start", env.Int("step", 3), env.Int("n", 1), env.Str("fault", "broker"), env.Str("mode", "rebalance"),
		env.Str("what", "broker crm rebalance"), env.Bool("effect", true))
	add(4000, "nemesis.start", env.Int("step", 4), env.Int("n", 1), env.Str("fault", "broker"), env.Str("mode", "down"),
		env.Str("what", "broker crm down"), env.Bool("effect", true))
	add(9000, "nemesis.heal")
	d := buildData(Run{Trace: trace}, defaultCaps)
	want := map[string][2]int64{"kill": {1_000_000, 9_000_000}, "restart": {2_000_000, 2_000_000},
		"broker crm rebalance": {3_000_000, 3_000_000}, "broker crm down": {4_000_000, 9_000_000}}
	if len(d.Faults) != len(want) {
		t.Fatalf("%d faults, want %d: %+v", len(d.Faults), len(want), d.Faults)
	}
	for _, f := range d.Faults {
		key := f.Fault
		if f.Fault == "broker" {
			key = f.What
		}
		if w := want[key]; f.Start != w[0] || f.Stop != w[1] {
			t.Errorf("%s: %dµs..%dµs, want %dµs..%dµs", f.What, f.Start, f.Stop, w[0], w[1])
		}
	}
}

// In a run of several clusters the Raft groups are named by cluster
// (every cluster has a group 0 and an rs1); a run of one keeps its names,
// and the caller's trace is not changed.
func TestQualifyGroups(t *testing.T) {
	raft := func(node, group string) env.Record {
		return env.Record{Node: env.NodeID(node), Kind: "raft.state", Fields: []env.Field{env.Str("group", group), env.Int("term", 1)}}
	}
	objects := func(node, cluster string) env.Record {
		return env.Record{Node: env.NodeID(node), Kind: "repl.objects", Fields: []env.Field{env.Str("group", "rs1"), env.Str("cluster", cluster)}}
	}
	two := []env.Record{raft("dc1-n1", "config"), raft("dc2-n1", "config"), raft("c1", "rs1"), objects("dc1-n1", "dc1"), objects("dc2-n1", "dc2")}
	got := qualifyGroups(two)
	var groups []string
	for i := range got {
		g, _ := got[i].Str("group")
		groups = append(groups, g)
	}
	if want := []string{"dc1/config", "dc2/config", "rs1", "dc1/rs1", "dc2/rs1"}; !slices.Equal(groups, want) {
		t.Errorf("groups %v, want %v", groups, want)
	}
	if g, _ := two[0].Str("group"); g != "config" {
		t.Errorf("the caller's trace changed: %q", g)
	}
	one := []env.Record{raft("n1", "config"), raft("n2", "rs1")}
	if got := qualifyGroups(one); &got[0] != &one[0] {
		t.Error("a trace of one cluster was copied")
	}
}
