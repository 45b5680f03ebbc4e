package checker

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("output differs from %s (rerun with -update if intended):\n%s", path, got)
	}
}

func parseFile(t *testing.T, path string) *History {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, err := ParseHistory(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return h
}

// TestHandWrittenHistories pins the verdicts and explanations of small
// histories: linearizable ones, with info operations and concurrency, and
// broken ones.
func TestHandWrittenHistories(t *testing.T) {
	files, _ := filepath.Glob("testdata/histories/*.jsonl")
	var out bytes.Buffer
	for _, f := range files {
		h := parseFile(t, f)
		for _, r := range []Result{Linearizable(h, 10*time.Second).Result, Durability(h)} {
			fmt.Fprintf(&out, "%s %s %s: %s\n", filepath.Base(f), r.Checker, r.Verdict, r.Explanation)
		}
	}
	golden(t, "testdata/histories/golden.txt", out.Bytes())
	for _, want := range []string{
		"stale-read.jsonl linearizable invalid: read of k7 by process 1 on n3 (invoked at 12.3s, ok at 12.301s) cannot be linearized: it read 4",
		"lost-write.jsonl durability invalid",
		"linearizable.jsonl linearizable valid",
		"info-ops.jsonl linearizable valid",
		"concurrent.jsonl linearizable valid",
		"cas-observed.jsonl linearizable invalid",
		"appends.jsonl linearizable valid",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no line starts %q", want)
		}
	}
}

// TestSharedHistories gives a verdict on every history in
// ../shared/histories (real Jepsen histories of etcd, and porcupine's
// key-value histories) and pins them. The etcd verdicts are the ones
// porcupine's own tests expect.
func TestSharedHistories(t *testing.T) {
	files, _ := filepath.Glob("../../shared/histories/*/*.jsonl")
	if len(files) == 0 {
		t.Skip("no shared histories beside the checkout (../shared/histories)")
	}
	var out bytes.Buffer
	for _, f := range files {
		h := parseFile(t, f)
		r := Linearizable(h, 12*time.Second).Result
		if r.Verdict != Valid && r.Verdict != Invalid {
			t.Errorf("%s: %s: %s", f, r.Verdict, r.Explanation)
		}
		fmt.Fprintf(&out, "%s/%s %s\n", filepath.Base(filepath.Dir(f)), filepath.Base(f), r.Verdict)
	}
	golden(t, "testdata/shared-verdicts.txt", out.Bytes())
}

func TestParseHistoryRejects(t *testing.T) {
	const ok = `{"process": 0, "type": "invoke", "f": "read", "key": "x", "value": null, "time": 1}` + "\n"
	for _, tc := range []struct{ history, want string }{
		{"not json\n", "history line 1"},
		{`{"process": 0, "type": "ok", "f": "read", "value": 1, "time": 1}`, "line 1: process 0 completes a read it never invoked"},
		{ok + ok, "line 2: process 0 invokes while its read from line 1 is outstanding"},
		{ok + `{"process": 0, "type": "info", "f": "read", "key": "x", "value": null, "time": 2}` + "\n" + strings.Replace(ok, `"time": 1`, `"time": 3`, 1), "line 3: process 0 invokes again after its info on line 2"},
		{ok + `{"process": 0, "type": "ok", "f": "write", "key": "x", "value": 1, "time": 2}`, "line 2: process 0 completes write \"x\" but invoked read \"x\" on line 1"},
		{`{"process": 0, "type": "invoke", "f": "read", "value": null, "time": 5}` + "\n" + `{"process": 1, "type": "invoke", "f": "read", "value": null, "time": 4}`, "line 2: time 4 is before the previous line's 5"},
		{`{"process": 0, "type": "begin", "f": "read", "value": null}`, `line 1: type "begin" is not invoke, ok, fail or info`},
		{`{"process": 0, "type": "invoke", "f": "read", "vaule": null}`, `line 1: json: unknown field "vaule"`},
		{`{"process": 0, "type": "invoke", "f": "write", "value": 1.5}`, "line 1: value 1.5 is not an integer, a string or null"},
		{`{"process": 0, "type": "invoke", "f": "cas", "value": [1]}`, "line 1: a cas's value must be [expected, new]"},
		{`{"process": 0.5, "type": "invoke", "f": "read"}`, "line 1: process 0.5 is not an integer"},
		{`{"process": 0, "type": "invoke", "f": "read"} {}`, "line 1: trailing data"},
		{ok + `{"initial": 3}`, `line 2: json: unknown field "initial"`},
	} {
		_, err := ParseHistory(strings.NewReader(tc.history))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseHistory(%q):\n got  %v\n want …%s…", tc.history, err, tc.want)
		}
	}
}

func TestParseHistorySkipsAndPairs(t *testing.T) {
	h := parseFile(t, "testdata/histories/concurrent.jsonl")
	if h.Skipped != 1 || h.Initial != Int(0) || len(h.Events) != 10 {
		t.Fatalf("skipped %d, initial %v, %d events", h.Skipped, h.Initial, len(h.Events))
	}
	ops := h.Ops()
	if len(ops) != 5 || ops[2].F != "read" || ops[2].Value != Int(2) || ops[2].Return != 5 {
		t.Fatalf("ops = %+v", ops)
	}
	var out bytes.Buffer
	if err := h.Write(&out); err != nil {
		t.Fatal(err)
	}
	again, err := ParseHistory(&out)
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Events) != len(h.Events) || again.Initial != h.Initial {
		t.Fatalf("round trip lost events: %d vs %d", len(again.Events), len(h.Events))
	}
	for i := range h.Events {
		a, b := h.Events[i], again.Events[i]
		a.Line, b.Line = 0, 0
		if a != b {
			t.Fatalf("event %d: %+v became %+v", i, a, b)
		}
	}
}

// FuzzParseHistory: any input parses or fails with an error, never a
// panic; what parses writes back to a history that parses to the same
// events, and the checkers run on it.
func FuzzParseHistory(f *testing.F) {
	files, _ := filepath.Glob("testdata/histories/*.jsonl")
	for _, file := range files {
		b, _ := os.ReadFile(file)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHistory(bytes.NewReader(b))
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := h.Write(&out); err != nil {
			t.Fatal(err)
		}
		again, err := ParseHistory(&out)
		if err != nil {
			t.Fatalf("a parsed history written back does not parse: %v\n%s", err, out.Bytes())
		}
		if len(again.Events) != len(h.Events) {
			t.Fatalf("%d events became %d", len(h.Events), len(again.Events))
		}
		Linearizable(h, time.Second)
		Durability(h)
	})
}

// TestFirstBadOp pins the operation Linearizable and Durability point at
// when they say invalid (its invoke's line counts an initial line, blank
// lines and skipped lines), and that they point nowhere otherwise.
func TestFirstBadOp(t *testing.T) {
	for _, tc := range []struct {
		name, history string // a file of testdata/histories, or the history itself
		node          string // the instance that served the operation
		lin, dur      *OpRef
	}{
		{"stale-read.jsonl", "", "n3",
			&OpRef{Process: 1, F: "read", Key: "k7", Outcome: OK, Call: 12300000000, Return: 12301000000, Line: 5},
			&OpRef{Process: 1, F: "read", Key: "k7", Outcome: OK, Call: 12300000000, Return: 12301000000, Line: 5}},
		{"lost-write.jsonl", "", "",
			&OpRef{Process: 1048576, F: "read", Key: "k1", Outcome: OK, Call: 9000000000, Return: 9001000000, Line: 5},
			&OpRef{Process: 1048576, F: "read", Key: "k1", Outcome: OK, Call: 9000000000, Return: 9001000000, Line: 5}},
		{"cas-observed.jsonl", "", "",
			&OpRef{Process: 1, F: "cas", Key: "x", Outcome: Fail, Call: 2, Return: 3, Line: 3}, nil},
		{"linearizable.jsonl", "", "", nil, nil},
		{"concurrent.jsonl", "", "", nil, nil},
		{"a value nobody wrote", `{"initial": 0}
{"process": 0, "type": "invoke", "f": "write", "key": "x", "value": 1, "time": 1}
{"process": "nemesis", "type": "info", "f": "start", "value": "partition", "time": 2}
{"process": 0, "type": "ok", "f": "write", "key": "x", "value": 1, "time": 3}

{"process": 1, "type": "invoke", "f": "read", "key": "x", "value": null, "time": 4}
{"process": 1, "type": "ok", "f": "read", "key": "x", "value": 7, "time": 5, "node": "n2"}
`, "n2",
			&OpRef{Process: 1, F: "read", Key: "x", Outcome: OK, Call: 4, Return: 5, Line: 6},
			&OpRef{Process: 1, F: "read", Key: "x", Outcome: OK, Call: 4, Return: 5, Line: 6}},
		{"the initial value came back", `{"initial": 0}
{"process": 0, "type": "invoke", "f": "write", "key": "x", "value": 1, "time": 1}
{"process": 0, "type": "ok", "f": "write", "key": "x", "value": 1, "time": 2}
{"process": 1, "type": "invoke", "f": "scan", "key": "x", "value": null, "time": 3}
{"process": 2, "type": "invoke", "f": "read", "key": "x", "value": null, "time": 3}
{"process": 2, "type": "ok", "f": "read", "key": "x", "value": 0, "time": 4}
`, "",
			&OpRef{Process: 2, F: "read", Key: "x", Outcome: OK, Call: 3, Return: 4, Line: 5},
			&OpRef{Process: 2, F: "read", Key: "x", Outcome: OK, Call: 3, Return: 4, Line: 5}},
		{"nothing to check", `{"process": 0, "type": "invoke", "f": "write", "key": "x", "value": 1, "time": 1}
{"process": 0, "type": "fail", "f": "write", "key": "x", "value": 1, "time": 2}
`, "", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h *History
			if tc.history == "" {
				h = parseFile(t, filepath.Join("testdata/histories", tc.name))
			} else {
				var err error
				if h, err = ParseHistory(strings.NewReader(tc.history)); err != nil {
					t.Fatal(err)
				}
			}
			for _, c := range []struct {
				r    Result
				want *OpRef
			}{{Linearizable(h, 10*time.Second).Result, tc.lin}, {Durability(h), tc.dur}} {
				got := c.r.First
				switch {
				case c.want == nil && got != nil:
					t.Errorf("%s says %s and points at %+v", c.r.Checker, c.r.Verdict, got)
				case c.want == nil:
				case c.r.Verdict != Invalid || got == nil || got.Op == nil:
					t.Errorf("%s says %s and points at %+v, want %+v", c.r.Checker, c.r.Verdict, got, c.want)
				case *got.Op != *c.want || got.Time != c.want.Call || got.Node != tc.node || !strings.Contains(c.r.Explanation, got.What):
					t.Errorf("%s points at %+v (op %+v), want %+v on %q, named in %q", c.r.Checker, got, got.Op, c.want, tc.node, c.r.Explanation)
				}
			}
		})
	}
}
