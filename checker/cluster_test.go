package checker

import (
	"strings"
	"testing"

	"github.com/shoaldb/shoal/core/env"
)

func traceOf(t *testing.T, lines string) []env.Record {
	t.Helper()
	trace, err := env.ReadTrace(strings.NewReader(lines))
	if err != nil {
		t.Fatal(err)
	}
	return trace
}

// firstAt renders where a result's First points, "node@time", or "" when
// it points nowhere; a result that is not invalid must point nowhere.
func firstAt(t *testing.T, r Result) string {
	t.Helper()
	if r.First == nil {
		return ""
	}
	if r.Verdict != Invalid || r.First.What == "" {
		t.Errorf("%s says %s and points at %+v", r.Checker, r.Verdict, r.First)
	}
	return r.First.Node + "@" + at(r.First.Time)
}

func TestConvergence(t *testing.T) {
	for _, tc := range []struct {
		name, trace string
		want        Verdict
		explain     string
		first       string // where First points, "node@time"; "" for nowhere
	}{
		{"nothing", `{"time":0,"node":"n1","kind":"node.start","inc":1}`, NA, "no replica recorded", ""},
		{"agree", `{"time":5,"node":"n1","kind":"raft.compact","group":"rs1","index":100,"term":2,"digest":"aa"}
{"time":6,"node":"n2","kind":"raft.snapshot.install","group":"rs1","index":100,"term":2,"digest":"aa"}
{"time":9,"node":"n1","kind":"sm.digest","group":"rs1","applied":140,"digest":"bb"}
{"time":9,"node":"n2","kind":"sm.digest","group":"rs1","applied":140,"digest":"bb"}`, Valid, "at the end rs1: 2 replicas at index 140", ""},
		{"disagree", `{"time":9,"node":"n1","kind":"sm.digest","group":"rs1","applied":140,"digest":"bb"}
{"time":9,"node":"n2","kind":"sm.digest","group":"rs1","applied":140,"digest":"cc"}`, Invalid,
			"n1 and n2 disagree on the state of rs1 at index 140: n1 had digest bb at 9ns, n2 has cc at 9ns", "n2@9ns"},
		{"a snapshot disagrees with a later digest", `{"time":5,"node":"n1","kind":"raft.compact","group":"rs1","index":100,"term":2,"digest":"aa"}
{"time":9,"node":"n3","kind":"sm.digest","group":"rs1","applied":100,"digest":"ab"}`, Invalid, "disagree on the state of rs1 at index 100", "n3@9ns"},
		{"behind at the end", `{"time":9,"node":"n1","kind":"sm.digest","group":"rs1","applied":140,"digest":"bb"}
{"time":9,"node":"n2","kind":"sm.digest","group":"rs1","applied":120,"digest":"cc"}`, Invalid, "rs1 did not converge: at the end n1 had applied up to 140, n2 up to 120", ""},
		{"only the last round counts", `{"time":3,"node":"n2","kind":"sm.digest","group":"rs1","applied":10,"digest":"x"}
{"time":9,"node":"n1","kind":"sm.digest","group":"rs1","applied":140,"digest":"bb"}`, Valid, "rs1: 1 replicas at index 140", ""},
		{"a live round spans moments", `{"time":3,"node":"n2","kind":"sm.digest","group":"rs1","applied":10,"digest":"x"}
{"time":8,"node":"world","kind":"digest.round"}
{"time":9,"node":"n1","kind":"sm.digest","group":"rs1","applied":140,"digest":"bb"}
{"time":12,"node":"n2","kind":"sm.digest","group":"rs1","applied":140,"digest":"bb"}
{"time":15,"node":"n3","kind":"sm.digest","group":"rs1","applied":140,"digest":"bb"}`, Valid, "rs1: 3 replicas at index 140", ""},
		{"a replica found its state differs from the leader's", `{"time":5,"node":"n1","kind":"raft.compact","group":"rs1","index":100,"term":2,"digest":"aa"}
{"time":7,"node":"n2","kind":"node.crash","error":"state invariant: kv: group 1: the state differs from the leader's: position 4 holds message \"a\", the leader settled \"b\""}
{"time":9,"node":"n1","kind":"sm.digest","group":"rs1","applied":140,"digest":"bb"}`, Invalid,
			"n2 crashed at 7ns: state invariant: kv: group 1: the state differs from the leader's", "n2@7ns"},
		{"a live round with a replica behind", `{"time":8,"node":"world","kind":"digest.round"}
{"time":9,"node":"n1","kind":"sm.digest","group":"rs1","applied":140,"digest":"bb"}
{"time":12,"node":"n2","kind":"sm.digest","group":"rs1","applied":139,"digest":"ba"}`, Invalid, "rs1 did not converge: at the end n1 had applied up to 140, n2 up to 139", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Convergence(traceOf(t, tc.trace))
			if got.Verdict != tc.want || !strings.Contains(got.Explanation, tc.explain) {
				t.Fatalf("got %s: %s\nwant %s: …%s…", got.Verdict, got.Explanation, tc.want, tc.explain)
			}
			if first := firstAt(t, got); first != tc.first {
				t.Fatalf("First at %q, want %q", first, tc.first)
			}
		})
	}
}

func TestQuorum(t *testing.T) {
	// Three voters, a one-second election timeout.
	const start = `{"time":0,"node":"n1","kind":"node.start","inc":1}
{"time":0,"node":"n1","kind":"node.bootstrap","instances":3,"replicasets":1,"replicaset":"rs1","voters":"n1,n2,n3","election_timeout":1000000000}
{"time":0,"node":"n1","kind":"raft.conf","group":"config","index":1,"voters":"n1,n2,n3","learners":""}
{"time":0,"node":"n2","kind":"node.start","inc":1}
{"time":0,"node":"n2","kind":"node.bootstrap","instances":3,"replicasets":1,"replicaset":"rs1","voters":"n1,n2,n3","election_timeout":1000000000}
{"time":0,"node":"n3","kind":"node.start","inc":1}
{"time":0,"node":"n3","kind":"node.bootstrap","instances":3,"replicasets":1,"replicaset":"rs1","voters":"n1,n2,n3","election_timeout":1000000000}
{"time":0,"node":"c1","kind":"node.start","inc":1}
`
	for _, tc := range []struct {
		name, trace string
		want        Verdict
		explain     string
		first       string // where First points, "node@time"; "" for nowhere
	}{
		{"no action", "", NA, "no operator action", ""},
		{"isolated, refused", `{"time":100,"node":"world","kind":"net.partition","components":"n1|n2,n3"}
{"time":200,"node":"n1","kind":"raft.propose","group":"config","id":"a","size":10,"timeout":1000000000}
{"time":1000000200,"node":"n1","kind":"prop.result","group":"config","id":"a","outcome":"timeout"}`, Valid, "1 operator action was submitted where no majority", ""},
		{"a client links no instances", `{"time":100,"node":"world","kind":"net.cut","from":"n1","to":"n2"}
{"time":100,"node":"world","kind":"net.cut","from":"n2","to":"n1"}
{"time":100,"node":"world","kind":"net.cut","from":"n1","to":"n3"}
{"time":100,"node":"world","kind":"net.cut","from":"n3","to":"n1"}
{"time":200,"node":"n1","kind":"raft.propose","group":"config","id":"a","size":10,"timeout":1000000000}
{"time":200,"node":"n1","kind":"prop.result","group":"config","id":"a","outcome":"ok"}`, Invalid,
			"n1 could not reach a majority (2) of group 0's voters [n1,n2,n3] at any moment in between (at 100ns it reached 1: [n1])", "n1@200ns"},
		{"isolated, acknowledged", `{"time":100,"node":"world","kind":"net.partition","components":"n1|n2,n3"}
{"time":200,"node":"n1","kind":"raft.propose","group":"config","id":"a","size":10,"timeout":1000000000}
{"time":200,"node":"n1","kind":"prop.result","group":"config","id":"a","outcome":"ok"}`, Invalid,
			"operator action a submitted to n1 at 200ns succeeded at 200ns, but n1 could not reach a majority (2) of group 0's voters [n1,n2,n3] at any moment in between (at 100ns it reached 1: [n1])", "n1@200ns"},
		{"a killed peer leaves a majority", `{"time":100,"node":"n3","kind":"node.kill","inc":1}
{"time":200,"node":"n1","kind":"raft.propose","group":"config","id":"a","size":10,"timeout":6000000000}
{"time":300000000,"node":"n1","kind":"prop.result","group":"config","id":"a","outcome":"ok","index":7}
{"time":6000000000,"node":"world","kind":"net.heal"}`, Valid, "1 inside a majority", ""},
		{"the trace ends before the window", `{"time":200,"node":"n1","kind":"raft.propose","group":"config","id":"a","size":10,"timeout":6000000000}`, Valid, "1 others not judged", ""},
		{"connected but never committed", `{"time":200,"node":"n1","kind":"raft.propose","group":"config","id":"a","size":10,"timeout":6000000000}
{"time":6000000200,"node":"n1","kind":"prop.result","group":"config","id":"a","outcome":"timeout"}`, Invalid,
			"operator action a submitted to n1 at 200ns did not commit within five election timeouts (5s): timeout at 6.0000002s, though n1 stayed connected to voters [n1,n2,n3] throughout", "n1@200ns"},
		{"connected with a short timeout is not judged", `{"time":200,"node":"n1","kind":"raft.propose","group":"config","id":"a","size":10,"timeout":1000000000}
{"time":1000000200,"node":"n1","kind":"prop.result","group":"config","id":"a","outcome":"timeout"}`, Valid, "1 others not judged", ""},
		{"paused peers", `{"time":100,"node":"n2","kind":"node.pause"}
{"time":100,"node":"n3","kind":"node.pause"}
{"time":200,"node":"n1","kind":"raft.propose","group":"config","id":"a","size":10,"timeout":1000000000}
{"time":300,"node":"n1","kind":"prop.result","group":"config","id":"a","outcome":"ok"}`, Invalid, "could not reach a majority", "n1@200ns"},
		{"the action without a majority is the culprit", `{"time":200,"node":"n1","kind":"raft.propose","group":"config","id":"a","size":10,"timeout":1000000000}
{"time":300,"node":"n1","kind":"prop.result","group":"config","id":"a","outcome":"ok"}
{"time":400,"node":"world","kind":"net.partition","components":"n2|n1,n3"}
{"time":500,"node":"n2","kind":"raft.propose","group":"config","id":"b","size":10,"timeout":1000000000}
{"time":600,"node":"n2","kind":"prop.result","group":"config","id":"b","outcome":"ok"}`, Invalid,
			"operator action b submitted to n2 at 500ns succeeded at 600ns", "n2@500ns"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Quorum(traceOf(t, start+tc.trace))
			if got.Verdict != tc.want || !strings.Contains(got.Explanation, tc.explain) {
				t.Fatalf("got %s: %s\nwant %s: …%s…", got.Verdict, got.Explanation, tc.want, tc.explain)
			}
			if first := firstAt(t, got); first != tc.first {
				t.Fatalf("First at %q, want %q", first, tc.first)
			}
		})
	}
}

func TestFromTrace(t *testing.T) {
	h := FromTrace(traceOf(t, `{"time":1,"node":"c1","kind":"client.invoke","process":0,"seq":1,"f":"write","key":"k1","value":"c1-1","absent":false}
{"time":2,"node":"c2","kind":"client.invoke","process":1,"seq":1,"f":"cas","key":"k1","value":"c2-1","absent":false,"expected":"","expected_absent":true}
{"time":3,"node":"c1","kind":"client.ok","process":0,"seq":1,"f":"write","key":"k1","value":"c1-1","absent":false,"index":5,"note":"n2"}
{"time":4,"node":"c2","kind":"client.fail","process":1,"seq":1,"f":"cas","key":"k1","value":"c2-1","absent":false,"expected":"","expected_absent":true,"index":6,"note":"cas found \"c1-1\""}
{"time":5,"node":"c2","kind":"client.invoke","process":1,"seq":2,"f":"read","key":"k1","value":"","absent":true}
{"time":6,"node":"c2","kind":"client.ok","process":1,"seq":2,"f":"read","key":"k1","value":"c1-1","absent":false,"index":6,"note":"n1"}`))
	var out strings.Builder
	h.Write(&out)
	want := `{"process": 0, "type": "invoke", "f": "write", "key": "k1", "value": "c1-1", "time": 1}
{"process": 1, "type": "invoke", "f": "cas", "key": "k1", "value": [null, "c2-1"], "time": 2}
{"process": 0, "type": "ok", "f": "write", "key": "k1", "value": "c1-1", "time": 3, "node": "n2"}
{"process": 1, "type": "fail", "f": "cas", "key": "k1", "value": [null, "c2-1"], "time": 4}
{"process": 1, "type": "invoke", "f": "read", "key": "k1", "value": null, "time": 5}
{"process": 1, "type": "ok", "f": "read", "key": "k1", "value": "c1-1", "time": 6, "node": "n1"}
`
	if out.String() != want {
		t.Fatalf("got\n%swant\n%s", out.String(), want)
	}
	if r := Linearizable(h, 0).Result; r.Verdict != Valid {
		t.Fatalf("%s: %s", r.Verdict, r.Explanation)
	}
}

// TestFromTraceLines: an operation of a history taken from a trace knows
// the line of its invoke in the history.jsonl that Write makes of it (not
// its place in the trace), so the operation a checker points at can be
// found there.
func TestFromTraceLines(t *testing.T) {
	h := FromTrace(traceOf(t, `{"time":0,"node":"world","kind":"world.start","format":1,"seed":1}
{"time":1,"node":"c1","kind":"client.invoke","process":0,"seq":1,"f":"write","key":"k1","value":"a","absent":false}
{"time":2,"node":"n1","kind":"node.start","inc":1}
{"time":3,"node":"c1","kind":"client.ok","process":0,"seq":1,"f":"write","key":"k1","value":"a","absent":false,"index":5,"note":"n1"}
{"time":4,"node":"c1","kind":"client.invoke","process":0,"seq":2,"f":"write","key":"k1","value":"b","absent":false}
{"time":5,"node":"c3","kind":"client.invoke","process":2,"seq":1,"f":"write","key":"k2","value":"c","absent":false}
{"time":5,"node":"c1","kind":"client.ok","process":0,"seq":2,"f":"write","key":"k1","value":"b","absent":false,"index":6,"note":"n1"}
{"time":6,"node":"world","kind":"net.partition","components":"n1|n2,n3"}
{"time":7,"node":"c2","kind":"client.invoke","process":1,"seq":1,"f":"read","key":"k1","value":"","absent":true}
{"time":8,"node":"c3","kind":"client.info","process":2,"seq":1,"f":"write","key":"k2","value":"c","absent":false}
{"time":9,"node":"c2","kind":"client.ok","process":1,"seq":1,"f":"read","key":"k1","value":"a","absent":false,"index":5,"note":"n2"}`))
	var out strings.Builder
	if err := h.Write(&out); err != nil {
		t.Fatal(err)
	}
	written, err := ParseHistory(strings.NewReader(out.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(written.Events) != len(h.Events) {
		t.Fatalf("%d events written, %d read back", len(h.Events), len(written.Events))
	}
	for i := range h.Events {
		if h.Events[i] != written.Events[i] {
			t.Fatalf("event %d: %+v from the trace, %+v in history.jsonl", i, h.Events[i], written.Events[i])
		}
	}
	lines := strings.Split(out.String(), "\n")
	for _, r := range []Result{Linearizable(h, 0).Result, Durability(h)} {
		if r.Verdict != Invalid || r.First == nil || r.First.Op == nil {
			t.Fatalf("%s says %s (%s) and points at %+v", r.Checker, r.Verdict, r.Explanation, r.First)
		}
		op := r.First.Op
		if want := (OpRef{Process: 1, F: "read", Key: "k1", Outcome: OK, Call: 7, Return: 9, Line: 6}); *op != want || r.First.Node != "n2" {
			t.Fatalf("%s points at %+v on %s, want %+v on n2", r.Checker, *op, r.First.Node, want)
		}
		if want := `{"process": 1, "type": "invoke", "f": "read", "key": "k1", "value": null, "time": 7}`; lines[op.Line-1] != want {
			t.Fatalf("%s points at line %d of history.jsonl: %s, want %s", r.Checker, op.Line, lines[op.Line-1], want)
		}
	}
}
